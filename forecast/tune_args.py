"""The command line of ``forecast tune``: its options (:class:`TuneArgs`), and how a command line splits into them
and the flags that go to every trial's ``fit``."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import optuna
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

__all__ = ["TuneArgs", "parse_args"]

# A value, not a flag, though it begins with "-": argparse's own rule (its _negative_number_matcher), which tune's
# parser and fit's both follow, so that `--seed -1` splits as they read it.
NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")


@dataclass
class TuneArgs:
    """The options of ``forecast tune``; any other flag goes to every trial's ``fit``.

    Args:
        space: CLI key -> range or choice (see ``forecast.search_space``); usually from ``--search``.
        metric: the logged validation metric (``val/...``) to optimize, of the best validation (epoch), or of the naive
            forecast that the trial's checkpoint forecasts when it fell back to one.
        direction: whether a lower or a higher ``metric`` is better.
        sampler: an ``optuna.samplers`` class; default TPESampler seeded with ``seed``. A class given on the
            command line (or in ``--search``) that takes a ``seed`` and names none is seeded with ``seed`` too, as
            ``--print_config`` shows it.
        pruner: an ``optuna.pruners`` class (MedianPruner, HyperbandPruner...) that stops trials on
            each validation's ``metric``; default Optuna's MedianPruner.
        n_trials: trials the study runs over all its processes, failed ones included; a rerun runs
            ``n_trials`` less the complete, pruned and running trials the study has. The processes
            ``n_jobs`` starts count the failed trials of their parent's run; a process started on its
            own counts those that failed since it began.
        timeout: seconds after which this process starts no new trial.
        storage: an Optuna RDB URL (``postgresql://user:pass@host/db``) shared by the processes of
            a study; default a SQLite file ``study.db`` in the run directory.
        study_name: the study's name in the storage; the same name resumes it, with the same ``metric``,
            ``direction`` and ``forecast.study_scoring.SCORED`` settings (``data.horizon``...). Default: the
            last ``--config`` file's stem.
        run_dir: where trials and results go; default ``<trainer.default_root_dir>/tune/<study_name>``.
        n_jobs: worker processes on this machine, all on the study's storage.
        seed: the study's seed, 0 or more: the sampler's (unless its ``init_args`` name one), and trial N fits with
            ``seed_everything`` seed + N.
        heartbeat_interval: seconds between a running trial's heartbeats; a trial silent for twice
            as long is marked failed, as when its process was killed.
        lr_find: run Lightning's learning-rate finder on the config instead of a study; writes
            ``lr_find.png`` and ``lr_find.yaml`` (the suggested LR) in ``run_dir``, by default
            ``<trainer.default_root_dir>/lr_find``.
        lr_find_steps: training steps the learning-rate finder tries.
    """

    space: dict[str, Any] = field(default_factory=dict)  # each spec checked by SearchSpace, which names its key
    metric: str = "val/loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    sampler: optuna.samplers.BaseSampler | None = None
    pruner: optuna.pruners.BasePruner | None = None
    n_trials: int = 20
    timeout: float | None = None
    storage: str | None = None
    study_name: str | None = None
    run_dir: str | None = None
    n_jobs: int = 1
    seed: int = 0
    heartbeat_interval: int = 60
    lr_find: bool = False
    lr_find_steps: int = 100


def _parser() -> ArgumentParser:
    """The parser of tune's own flags: those of :class:`TuneArgs`, and ``--search``, a YAML file of them."""
    description = "``python -m forecast tune``: an Optuna study whose every trial is a ``fit`` of the config."
    parser = ArgumentParser(prog="python -m forecast tune", description=description)
    parser.add_argument("--search", action=ActionConfigFile, help="A YAML file of these options (space, pruner...).")
    parser.add_class_arguments(TuneArgs)
    return parser


def parse_args(argv: Sequence[str]) -> tuple[TuneArgs, list[str], str]:
    """Splits a ``tune`` command line into tune's options and every trial's ``fit`` flags.

    A flag is tune's when its first dotted part names a :class:`TuneArgs` field (or ``--search``, ``--help``,
    ``--print_config``); any other flag, and the values after it, go to ``fit``.

    Returns:
        The options, the ``fit`` flags, and where the search space came from (the last ``--search`` file, or
        ``--space``), to be named in its errors.
    """
    own = {option.name for option in fields(TuneArgs)} | {"search", "help", "print_config"}
    tune_argv, fit_args = _split_flags(argv, own)
    tune_parser = _parser()
    unprinted = [arg for arg in tune_argv if _flag_name(arg) != "print_config"]
    # parsed again with the sampler's seed, so that --print_config (which exits there) shows the seed the run uses
    config = tune_parser.parse_args([*tune_argv, *_sampler_seed(tune_parser.parse_args(unprinted))])
    space_source = str(config.search[-1]) if config.get("search") else "--space"
    options = {key: value for key, value in vars(tune_parser.instantiate(config)).items() if key != "search"}
    return TuneArgs(**options), fit_args, space_source


def _sampler_seed(config: Namespace) -> list[str]:
    """The flags that give a ``--sampler`` class that takes a seed and names none the study's ``--seed``, as the
    default sampler has it, so that a rerun of a new study samples the same trials; none for another sampler."""
    init_args = config.sampler.get("init_args") if config.get("sampler") else None
    if init_args is not None and "seed" in init_args and init_args.seed is None:
        return ["--sampler.init_args.seed", str(config.seed)]
    return []


def _split_flags(argv: Sequence[str], own: set[str]) -> tuple[list[str], list[str]]:
    """``argv`` as (tune's flags, fit's flags): a flag is tune's when its first dotted part is one of ``own``;
    a value (``-1`` too) goes with the flag before it."""
    tune_argv: list[str] = []
    fit_argv: list[str] = []
    target = fit_argv
    for arg in argv:
        if arg.startswith("-") and not NEGATIVE_NUMBER.fullmatch(arg):
            target = tune_argv if _flag_name(arg).split(".")[0] in own or arg == "-h" else fit_argv
        target.append(arg)
    return tune_argv, fit_argv


def _flag_name(arg: str) -> str:
    """The dotted key of a flag (``--sampler.init_args.seed=1`` -> ``sampler.init_args.seed``)."""
    return arg.lstrip("-").split("=")[0]
