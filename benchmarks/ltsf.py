"""The long-horizon leaderboard: each (data set, config, horizon, seed) through the CLI, beside published figures.

Each run follows the protocol of benchmarks/README.md: the config's model and lookback on the data
set's split preset (``forecast.datasets.info(name).split``; a file of one's own as ``--datasets FILE``: 70/10/20,
``data_set``), a ``fit`` whose early stopping and
checkpoint choice see validation only, then one ``test`` of the best-validation checkpoint. The
figures are what a user gets from the same commands. Arguments this script does not know are passed
to both ``fit`` and ``test`` unchanged (but for those it sets for each run, ``OWN_ARGUMENTS``: give
``--datasets``, ``--horizons``, ``--seeds``, ``--root`` instead; ``--config FILE`` composes a preset after
each run's config, and may set none of those keys, nor the split: ``check_presets``), e.g. a tiny run or a
univariate target:

    python benchmarks/ltsf.py --datasets etth1 --configs configs/etth1/segrnn_gru.yaml \\
        --horizons 96 192 336 720 --seeds 3
    python benchmarks/ltsf.py --configs configs/ltsf/segrnn_l336.yaml --lookbacks 96 336 720  # L on validation
    python benchmarks/ltsf.py --datasets etth1 --configs configs/etth1/linear.yaml --horizons 24 --seeds 2 \\
        --trainer.max_epochs 1 --trainer.limit_train_batches 2 --trainer.limit_val_batches 2 \\
        --trainer.limit_test_batches 2                                   # a tiny run: not the protocol
    python benchmarks/ltsf.py --datasets etth1 --configs configs/etth1/segrnn_sru.yaml --horizons 24 \\
        --data.columns.targets '[OT]' --model.head.init_args.seg_len 24  # univariate OT

With ``--lookbacks 96 336 720`` each run fits the config at every one of those lookbacks and tests
only the one that scored best on validation (its fit seconds are those of all its fits); a setting that has no
training or validation window on a data set (a lookback longer than its training rows allow) is left out of that
data set's choice, and standard error says so (``trainable``). ``--choose KEY
VALUE ...`` does the same for any setting the CLI takes, per horizon and seed, among fits of one loss (the
validation score is the loss) scored on the same validation windows and scale (``SCORED_DATA``); several
``--choose`` (and ``--lookbacks``) are crossed:

    python benchmarks/ltsf.py --configs configs/ltsf/segrnn_l336.yaml --horizons 720 \
        --choose model.channel_embedding_size 0 256                    # the embedding on validation

With ``--ensemble`` the mean forecast of every two or more of those fits (``forecast.ensemble.combine``:
the lookbacks, encoders or sizes of the settings may differ) is one more setting, scored by ``validate``
on the same windows: all of them as ``ensemble``, fewer as ``ensemble_L336+L720`` and the like. It costs
no fit, and validation chooses one only where it beats every other setting. ``--members CONFIG ...`` fits
other configs too (on the same data, horizon and seed, at each lookback of the run's fits), each fit one more
setting and a member of the ensembles, kept and named by its file's stem (with the lookback, ``linear_L336``,
where the run has several; two of one file name are refused),
e.g. a linear model beside the recurrent ones; with ``--ensemble``, settings whose data settings no
ensemble could combine are refused before any fit:

    python benchmarks/ltsf.py --configs configs/ltsf/segrnn_l336.yaml --lookbacks 336 720 --ensemble
    python benchmarks/ltsf.py --configs configs/ltsf/segrnn_l336.yaml --lookbacks 336 720 --ensemble \
        --members configs/ltsf/linear.yaml

One validation part can rank two settings the opposite way to the test part that follows it (ETTh1's
four months did, benchmarks/README.md). With ``--origins 3`` every fit is repeated with the split moved
back by half a validation part, twice: the training rows end where each earlier validation part
starts, and the test part is never read by a fit. A run's validation score, on which its lookback is
chosen, is the mean over the origins of the best-validation scores; its test is of the fit at the
preset's own split. Origins that would leave a fit no training window at its lookback and horizon are
refused before any fit, naming the most that work. ``--validation-only`` fits without testing: the table
to choose settings on. A ``--data.split`` of one's own (data without the preset's borders) replaces the
preset in every fit, validation and test, and takes ``--origins 1``.

With ``--jobs N`` the fits of every run (each setting at each origin; not the members', whose lookback
follows the fits) go first, N at a time, each in a process of its own, its output in ``fit.log`` beside
its ``fit.json``: many small fits side by side on one GPU or many cores. The runs then read them back and
validate their ensembles and test in this process, as without it. The processes share the machine's
threads: give each fewer (``OMP_NUM_THREADS``).

It writes ``<out>.md`` and ``<out>.csv``: per (data set, config, horizon) the mean and standard deviation
over seeds of the validation score (the monitored ``val/loss``; for a fit that fell back to a naive
forecast, that forecast's), of test MSE and MAE (standardized scale) and of the fit seconds, each seed's
lookback, and the published MSE / MAE of the same cell beside them where every seed followed their
protocol (``protocol``: not a univariate run, nor a split or scaler of one's own, nor a test of some windows
only). A run that finished before, with the same arguments and config contents (sha256), is read back from
its directory's ``result.json``, which also records the tested checkpoint and its arguments
(``benchmarks/ensemble.py`` reads them): rerun the same command to resume; an edited config is fitted again.

A refusal, this script's or the CLI's (a config key out of range, a missing column), is printed alone on stderr,
``error: MESSAGE``, with exit status 1 as ``python -m forecast`` gives, as in ``least_squares.py`` and
``ensemble.py`` (``command``); any other error shows its traceback.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from lightning.pytorch import LightningModule  # noqa: E402

from forecast import datasets  # noqa: E402
from forecast.__main__ import _USER_ERRORS, _is_our_message  # noqa: E402
from forecast.cli import main as cli  # noqa: E402
from forecast.data import TimeSeriesDataModule  # noqa: E402
from forecast.data.splits import default_split  # noqa: E402
from forecast.datasets.published import PUBLISHED, standard_protocol, tested_every_window  # noqa: E402
from forecast.ensemble import MEMBERS_MAY_DIFFER, combine, fell_back  # noqa: E402
from forecast.errors import ForecastDataError  # noqa: E402
from forecast.fit_config import dotted_keys  # noqa: E402
from forecast.specs import to_spec  # noqa: E402


def config_hashes(args: list[str]) -> dict[str, str]:
    """The sha256 of the contents of each config file that ``args`` name (``--config PATH``), by path: a fit
    or run done before is read back only with the same arguments and these, so an edited config runs again."""
    paths = [value for flag, value in itertools.pairwise(args) if flag == "--config"]
    paths += [arg.removeprefix("--config=") for arg in args if arg.startswith("--config=")]
    return {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in paths}


def fit(args: list[str], directory: Path) -> dict:
    """One ``fit`` with ``args`` into ``directory``; its summary is also written to ``fit.json`` there, and a
    later call with the same arguments and config contents (``config_hashes``) reads it back instead of
    fitting again.

    Returns:
        The best-validation checkpoint, its monitored validation score (of the naive forecast it forecasts
        when it fell back to one: ``validate`` of the checkpoint), what that score is of (``scored_on``: the
        validation windows, lookback, data settings and loss), the fit seconds, the epochs trained and what won
        on validation (``naive_comparison.json``; the naive forecast the checkpoint falls back to, also where the
        network led it by less than ``naive_comparison.margin``).

    Raises:
        ValueError: the checkpoint keeps another best than the least ``val/loss`` (``check_monitor``), or the fit
            kept no validation score (it validated no epoch).
    """
    earlier = fitted(args, directory)
    if earlier is not None:
        return earlier
    check_monitor(args)
    start = time.perf_counter()
    trained = cli(["fit", *args])
    seconds = time.perf_counter() - start
    best = trained.trainer.checkpoint_callback.best_model_path  # the CLI's own, first of the ModelCheckpoints
    if trained.trainer.checkpoint_callback.best_model_score is None:
        raise ValueError(
            f"the fit into {directory} kept no validation score to choose on (trainer.limit_val_batches 0, or "
            "trainer.check_val_every_n_epoch above the epochs trained): validate every epoch"
        )
    score = float(trained.trainer.checkpoint_callback.best_model_score)  # the network's, not a naive forecast's
    comparison = json.loads((Path(trained.trainer.log_dir) / "naive_comparison.json").read_text())
    winner = comparison["winner"]  # on validation: the network ("model") or a naive forecast
    if fell_back(best):  # it forecasts a naive forecast: score what it forecasts, as ensemble_at_origins does
        score = float(cli(["validate", *args, "--ckpt_path", best]).trainer.callback_metrics["val/loss"])
        winner = comparison.get("fallback") or winner  # also where the network led it by less than the margin
    summary = {
        "best": best,
        "val_loss": score,
        **scored_on(trained.model, trained.datamodule),
        "fit_s": seconds,
        "epochs": trained.trainer.current_epoch,
        "val_winner": winner,
    }
    directory.mkdir(parents=True, exist_ok=True)
    saved = {"args": args, "configs": config_hashes(args), "fit": summary}
    (directory / "fit.json").write_text(json.dumps(saved, indent=1))
    return summary


def scored_on(model: LightningModule, data: TimeSeriesDataModule) -> dict:
    """What a fit's validation score is of, as ``check_one_loss`` and ``check_one_validation`` compare it: the
    validation windows (per series the first target row and their count), the lookback, the data settings (the
    data module's hyperparameters) and the loss (``model.loss``; ``None``: the default, ``MSELoss``). ``data``
    is set up for ``fit``."""
    windows = data.windows_of("val")
    return {
        "val_windows": [windows.first.tolist(), windows.counts.tolist()],
        "lookback": data.lookback,
        "data": dict(data.hparams),
        "loss": model.hparams["loss"],
    }


def saved_json(path: Path) -> dict:
    """What ``path`` holds, or an empty dict where there is no such file, or only part of one (a run killed while
    writing it): that fit or run is done again, and the file named."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        print(f"{path} is not whole (a run killed while writing it?): running it again", flush=True)
        return {}


def fitted(args: list[str], directory: Path) -> dict | None:
    """The summary of a ``fit`` with ``args`` that finished in ``directory`` before (its ``fit.json``, with the
    same arguments and config contents, and its best checkpoint still on disk), or ``None``."""
    earlier = saved_json(directory / "fit.json")
    if earlier.get("args") != args or earlier.get("configs") != config_hashes(args):
        return None
    if not Path(earlier["fit"]["best"]).is_file():
        print(f"{directory / 'fit.json'}: its checkpoint {earlier['fit']['best']} is gone: fitting again", flush=True)
        return None
    return earlier["fit"]


def fit_in_process(args: list[str], directory: Path) -> str | None:
    """``fit`` in a process of its own (this script with ``--fit-one``), its output in ``fit.log`` of
    ``directory``: what ``--jobs`` runs side by side. Returns ``None``, or where a failed fit's log is."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "fit.log"
    with log.open("w") as out:
        one = json.dumps({"args": args, "directory": str(directory)})
        done = subprocess.run([sys.executable, __file__, "--fit-one", one], stdout=out, stderr=subprocess.STDOUT)
    return None if done.returncode == 0 else str(log)


def fit_side_by_side(fits: list[tuple[list[str], Path]], jobs: int) -> None:
    """Each of ``fits`` (arguments and directory) not finished before, ``jobs`` at a time, each in its own
    process (``fit_in_process``): the runs then read them back. A fit that fails is named and left to the
    run, which fits it again in its own process and so shows its error."""
    todo = [(args, directory) for args, directory in fits if fitted(args, directory) is None]
    print(f"{len(todo)} of {len(fits)} fits to run, {jobs} at a time", flush=True)
    with ThreadPoolExecutor(jobs) as pool:  # threads that wait on processes
        for failed in pool.map(lambda fit: fit_in_process(*fit), todo):
            if failed:
                print(f"a fit failed, see {failed}", flush=True)


def data_set(value: str) -> str:
    """A ``--datasets`` value: a built-in data set's name, or a CSV or Parquet file of one's own, whose runs are kept
    and tabled under the file's name without its suffix (``label``), split as ``forecast.data.default_split`` splits a
    file (70/10/20) unless ``--data.split`` is given, and shown beside no published figure.

    Raises:
        argparse.ArgumentTypeError: neither a built-in name nor a file.
    """
    if value in datasets.names() or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is no built-in data set ({', '.join(datasets.names())}) and no file")


def label(dataset: str) -> str:
    """The name a data set's runs are kept and tabled under: a built-in one's own, a file's name without its suffix
    (nor a compression's: ``walk.csv.gz`` is ``walk``)."""
    if dataset in datasets.names():
        return dataset
    name = Path(dataset).name
    for compression in (".gz", ".bz2", ".xz", ".zip", ".zst", ".tar"):
        name = name.removesuffix(compression)
    return Path(name).stem


def preset_split(dataset: str) -> dict:
    """The split a fit of ``dataset`` takes when none is given, as a spec: a built-in data set's preset as its
    registry records it, else ``forecast.data.default_split``'s for a file (70/10/20)."""
    return datasets.info(dataset).split if dataset in datasets.names() else to_spec(default_split(dataset))


def given_split(extra: list[str]) -> str | None:
    """The split given among the arguments passed on to the CLI (``--data.split VALUE``, the last one), which
    takes the preset's place in every fit, validation and test; ``None`` when none is given.

    Raises:
        ValueError: a split given key by key (``--data.split.KEY``): the origins and the ensemble set the
            split whole, which would drop those keys.
    """
    split = None
    for index, arg in enumerate(extra):
        if arg == "--data.split" and index + 1 < len(extra):
            split = extra[index + 1]
        elif arg.startswith("--data.split="):
            split = arg.split("=", 1)[1]
        elif arg.startswith("--data.split"):
            raise ValueError(f"{arg}: give the split whole, e.g. --data.split '{{\"class_path\": ...}}'")
    return split


def origin_rows(dataset: str, origins: int, borders: np.ndarray | None = None) -> list[dict[str, int]]:
    """The rows of the data set's split preset (``val_start``, ``test_start``, ``test_end``), then of ``origins - 1``
    splits each moved back by half a validation part more: the arithmetic of ``--origins``, here and in
    ``benchmarks/least_squares.py``. It reads the data set (a data module's borders; ``borders``: those of a run's
    own data module, of its columns and series), and fits nothing.

    Raises:
        ValueError: ``origins`` below 1, the preset splits the data set's series at different rows, its validation
            part is too short to move (under 2 rows) with ``origins`` > 1, or an origin would leave no training
            rows (naming the most origins that leave some).
    """
    if origins < 1:
        raise ValueError(f"--origins {origins}: give 1 or more (1 scores the preset's validation part alone)")
    if borders is None:
        borders = TimeSeriesDataModule(dataset, lookback=1, horizon=1, nan_policy="ffill").borders
    if (borders != borders[0]).any():
        raise ValueError(f"--origins needs every series of {dataset} split at the same rows; use --origins 1")
    step = int(borders[0, 1] - borders[0, 0]) // 2
    if origins > 1 and step < 1:
        raise ValueError(
            f"--origins {origins}: the validation part of {dataset} has {borders[0, 1] - borders[0, 0]} rows, too "
            "few to move back by half of it; use --origins 1"
        )
    if origins > 1 and borders[0, 0] - (origins - 1) * step < 1:
        most = (int(borders[0, 0]) - 1) // step + 1  # the most that leave a training row before each validation part
        raise ValueError(
            f"--origins {origins}: the validation part of {dataset} starts at row {borders[0, 0]}, too early to "
            f"move it back {origins - 1} times by {step} rows; use --origins {most} or fewer"
        )
    keys = ["val_start", "test_start", "test_end"]
    return [dict(zip(keys, map(int, borders[0] - origin * step), strict=True)) for origin in range(origins)]


def origin_splits(dataset: str, origins: int, split: str | None = None, args: list[str] = ()) -> list[str]:
    """The data set's split preset (or ``split``, given instead), then ``origins - 1`` splits each half a
    validation part earlier (``origin_rows``; for a file, of the borders of the data module that a run's ``args``
    build: its columns, series and frequency), as JSON.

    Raises:
        ValueError: ``origin_rows``'s refusals, or a split of one's own with ``origins`` > 1 (they move the
            preset's).
    """
    preset = split or json.dumps(preset_split(dataset))
    if origins == 1:
        return [preset]
    if split is not None:
        raise ValueError(
            f"--origins {origins} moves the preset split of {dataset} back; with --data.split use --origins 1"
        )
    # A file's borders as its runs read it (its columns, series, frequency); a built-in data set is one wide series.
    own_file = args and dataset not in datasets.names()
    borders = cli([*args, "--data.split", preset], run=False).datamodule.borders if own_file else None
    moved = origin_rows(dataset, origins, borders)[1:]
    return [preset, *(json.dumps({"class_path": "forecast.data.RowSplit", "init_args": rows}) for rows in moved)]


def windowless(args: list[str], split: str) -> str | None:
    """Why a fit with ``args`` at ``split`` would have no training or validation window, or ``None`` where it has
    them: its data module is built and set up for ``fit`` (it reads the data, fits nothing)."""
    try:
        cli([*args, "--data.split", split], run=False).datamodule.setup("fit")
    except ForecastDataError as error:
        return str(error)
    return None


def trainable(
    dataset: str, config: Path, horizon: int, extra: list[str], choices: dict[str, list[str]]
) -> dict[str, list[str]]:
    """``choices`` without the settings whose fit would have no training or validation window on ``dataset`` at
    ``horizon`` (a lookback longer than its training rows allow: 720 steps of weekly data over 18 years), each named
    on standard error with the data module's reason (``windowless``): validation cannot choose a setting that cannot
    train, and the others can still be chosen among. Where none can train, ``choices`` as given, whose fits name it.
    """
    _, splits, args = layout(dataset, config, horizon, 0, Path("."), extra)
    kept = {}
    for name, (setting, _) in setting_fits(args, choices, Path(".")).items() if choices else ():
        reason = windowless(setting, splits[0])
        if reason is None:
            kept[name] = choices[name]
        else:
            print(f"ltsf.py: {config} on {dataset} at horizon {horizon}: {name} left out: {reason}", file=sys.stderr)
    return kept or choices


def check_origins(
    dataset: str, config: Path, horizon: int, extra: list[str], choices: dict[str, list[str]], origins: int
) -> None:
    """Refuse, before any fit, ``origins`` whose earliest split leaves a setting's fit no training or validation
    window at its lookback and ``horizon``: ``origin_splits`` knows only the rows, and that fit would fail after
    every later origin's. Each setting's data module is built at that split (``windowless``).

    Raises:
        ValueError: naming the setting, the origin, the data module's reason and the most origins that work.
    """
    if origins == 1:
        return
    _, splits, args = layout(dataset, config, horizon, 0, Path("."), extra, origins)
    for name, (setting, _) in setting_fits(args, choices, Path(".")).items():
        reason = windowless(setting, splits[-1])
        if reason is None:
            continue
        most = origins - 1  # an earlier split has fewer training rows: those that work come before the first that fails
        while most > 1 and windowless(setting, splits[most - 1]) is not None:
            most -= 1
        which = f"{config}{f' ({name})' if name else ''} on {dataset} at horizon {horizon}"
        raise ValueError(
            f"--origins {origins}: the fit of {which} at the earliest origin (its split moved back {origins - 1} "
            f"times) would have no window: {reason}; use --origins {most} or fewer"
        )


def check_choosable(
    dataset: str, config: Path, horizon: int, extra: list[str], choices: dict[str, list[str]], members: list[Path]
) -> None:
    """Refuse, before any fit, what ``run`` would refuse after every fit of a run: settings or members (at each of
    the settings' lookbacks) of other losses (``check_one_loss``) or scored on other validation windows
    or scales (``check_one_validation``). Each one's model and data module are built and the data set up for
    ``fit`` (it reads the data, fits nothing); a setting whose data has no window is left to its fit to name why.

    Raises:
        ValueError: ``check_one_loss``'s or ``check_one_validation``'s refusal.
    """
    _, _, args = layout(dataset, config, horizon, 0, Path("."), extra)
    own = config.stem if members and not choices else None  # named as ``run`` names them
    settings = {name: setting for name, (setting, _) in setting_fits(args, choices, Path("."), own).items()}
    if len(settings) + len(members) < 2:  # one fit: nothing to choose among
        return

    def summary(setting: list[str]) -> dict | None:
        built = cli(setting, run=False)
        try:
            built.datamodule.setup("fit")
        except ForecastDataError:
            return None
        return scored_on(built.model, built.datamodule)

    summaries = {name: summary(setting) for name, setting in settings.items()}
    summaries = {name: one for name, one in summaries.items() if one is not None}
    if not summaries:
        return
    lookbacks = list(dict.fromkeys(one["lookback"] for one in summaries.values()))
    for name, (setting, _) in member_fits(members, lookbacks, args, Path(".")).items():
        one = summary(setting)
        if one is not None:
            summaries[name] = one
    check_one_loss(summaries, config)
    check_one_validation(summaries, config)


def origin_fits(args: list[str], directory: Path, splits: list[str]) -> list[tuple[list[str], Path]]:
    """The fits of ``fit_at_origins``, arguments and directory each: ``args`` into ``directory``, then with each
    further split into ``origin1``, ... of ``directory``."""
    moved = [(split, directory / f"origin{origin}") for origin, split in enumerate(splits[1:], 1)]
    return [(args, directory)] + [
        ([*args, "--data.split", split, "--trainer.default_root_dir", str(where)], where) for split, where in moved
    ]


def fit_at_origins(args: list[str], directory: Path, splits: list[str]) -> dict:
    """``fit`` with ``args`` (which write into ``directory``), then at each further split into ``origin1``, ...
    of ``directory``: the first fit's summary, with ``val_loss`` the mean of every fit's best validation
    score, ``fit_s`` their sum and ``bests`` every fit's best checkpoint, split by split."""
    fits = [fit(*each) for each in origin_fits(args, directory, splits)]
    scores = [summary["val_loss"] for summary in fits]
    return {
        **fits[0],
        "val_loss": sum(scores) / len(scores),
        "fit_s": sum(summary["fit_s"] for summary in fits),
        "bests": [summary["best"] for summary in fits],
    }


def ensemble_at_origins(fits: dict[str, dict], settings: dict[str, list[str]], names: list[str], where: Path,
                        splits: list[str]) -> dict:  # fmt: skip
    """The mean forecast of the fits of ``names`` (``forecast.ensemble.combine``) as one more candidate: at
    each split, their best checkpoints combined into ``where`` (``origin1``, ... below it) and scored by
    ``validate`` with the arguments (``settings``) of its leader; the summary is also written to
    ``ensemble.json`` there.

    Returns:
        A fit's summary for the ensemble: its checkpoint at the preset's split (``best``), the mean of its
        validation scores, its members (candidate names, the leading one first: the first of the longest
        lookback, whose arguments ``validate`` and ``test`` take), their lookback, epochs and no fit seconds.
    """
    leader = max(names, key=lambda name: fits[name]["lookback"])  # the first of the longest: combine's own
    scores, bests = [], []
    for origin, split in enumerate(splits):
        place = where / (f"origin{origin}" if origin else "")
        best = combine([fits[name]["bests"][origin] for name in names], place / "ensemble.ckpt")
        validate = [*settings[leader], "--data.split", split, "--trainer.default_root_dir", str(place)]
        metrics = cli(["validate", *validate, "--ckpt_path", str(best)]).trainer.callback_metrics
        scores.append(float(metrics["val/loss"]))
        bests.append(str(best))
    members = [leader, *(name for name in names if name != leader)]
    summary = {
        "best": bests[0],
        "val_loss": sum(scores) / len(scores),
        "lookback": fits[leader]["lookback"],
        "fit_s": 0.0,
        "epochs": [fits[name]["epochs"] for name in members],
        "val_winner": "model",
        "members": members,
        "bests": bests,
    }
    (where / "ensemble.json").write_text(json.dumps(summary, indent=1))
    return summary


def ensembles(fits: dict[str, dict], settings: dict[str, list[str]], directory: Path, splits: list[str]) -> dict:
    """The mean forecast of every two or more of the candidates' fits, each one more candidate
    (``ensemble_at_origins``): all of them as ``ensemble`` (in ``directory/ensemble``), fewer as
    ``ensemble_A+B`` (in ``directory/ensemble/A+B``). A fit whose checkpoint fell back to a naive forecast
    (``naive_comparison.fallback``) is in none. Empty when fewer than two fits forecast with their network.
    """
    names = [name for name in fits if not any(map(fell_back, fits[name]["bests"]))]
    subsets = [list(subset) for size in range(2, len(names) + 1) for subset in itertools.combinations(names, size)]
    found = {}
    for subset in subsets:
        whole = len(subset) == len(names)
        joined = "+".join(map(str, subset))
        name = "ensemble" if whole else f"ensemble_{joined}"
        where = directory / "ensemble" / ("" if whole else joined)
        found[name] = ensemble_at_origins(fits, settings, subset, where, splits)
    return found


def check_alike(settings: dict[str | None, list[str]]) -> None:
    """Refuse, before any fit, settings whose fits no ensemble could combine: ``combine`` takes fits whose
    data settings differ only in the lookback and the batching. Each setting's data module is built from
    its arguments (``cli(..., run=False)``: it reads the data, fits nothing).

    Raises:
        ValueError: naming two settings, their configs, and the data settings in which they differ.
    """
    data = {name: cli(args, run=False).datamodule.hparams for name, args in settings.items()}
    first, *others = data
    for name in others:
        keys = sorted(data[first].keys() | data[name].keys())
        differing = [key for key in keys if key not in MEMBERS_MAY_DIFFER["datamodule_hyper_parameters"]]
        differing = [key for key in differing if data[first].get(key) != data[name].get(key)]
        if differing:
            values = ", ".join(f"data.{key} {data[first].get(key)!r} vs {data[name].get(key)!r}" for key in differing)
            fits = " and ".join(settings[one][1] + f" ({one})" * bool(one) for one in (first, name))
            raise ValueError(
                f"--ensemble: the fits of {fits} "
                f"would differ in {values}; an ensemble's members forecast the same data (only their lookbacks and "
                "batches may differ): set those alike in the configs, or pass them, e.g. --data.KEY VALUE"
            )


def check_one_loss(fits: dict[str | None, dict], config: Path) -> None:
    """Refuse to choose among fits of different losses: a fit's validation score is its own loss
    (``val/loss``), so an MSE and a pinball loss, say, would be compared as if they were one measure. Fits
    from before ``fit`` recorded the loss are not compared.

    Raises:
        ValueError: naming two settings (the config's own by its file name) and their losses.
    """
    losses = []
    for name, summary in fits.items():
        if "loss" in summary:
            loss = summary["loss"] or {"class_path": "forecast.losses.MSELoss"}  # None: the Forecaster's default
            losses.append((name, loss["class_path"], loss.get("init_args") or {}))
    first, *first_loss = losses[0] if losses else (None,)
    for name, *loss in losses[1:]:
        if loss != first_loss:
            raise ValueError(
                f"the fits {first or config.stem} and {name or config.stem} train with other losses (model.loss "
                f"{first_loss[0]} {first_loss[1]} vs {loss[0]} {loss[1]}): their validation scores are not one "
                "measure to choose on; choose among settings of one loss, or set model.loss alike in the configs"
            )


# The data settings that choose which validation windows score a fit, and on what scale: fits chosen among
# must share them, or one fit's validation rows may be another's test rows. The lookback may differ (the
# targets of every part lie at the same rows whatever it is, but for a series of long data that starts shortly
# before its validation part: ``fit`` records the windows, ``check_one_validation`` compares them), and so may
# the inputs beside the targets and data.nan_policy (no metric scores a repaired value).
SCORED_DATA = {
    "source": None, "horizon": None, "split": None, "eval_stride": None, "drop_short": None, "series": None,
    "freq": None, "columns": ("targets", "id_column", "time_column"), "scaling": ("scaler", "per_series"),
}  # fmt: skip


def scored_data(data: dict) -> dict:
    """The settings of ``SCORED_DATA`` among a fit's data settings (``fit``'s ``data``)."""
    scored = {}
    for key, parts in SCORED_DATA.items():
        value = data.get(key)
        scored[key] = {part: value.get(part) for part in parts} if parts and isinstance(value, dict) else value
    return scored


def check_one_validation(fits: dict[str | None, dict], config: Path) -> None:
    """Refuse to choose among fits scored on other validation windows or another scale (``SCORED_DATA``): e.g.
    ``--choose data.split ...``, whose validation part may be the preset's test part, or a member of other
    target columns; their scores are not one measure to choose on. Nor among fits of other windows (``fit``'s
    ``val_windows``): a longer lookback leaves a series of long data that starts shortly before its validation part
    fewer. Fits from before ``fit`` recorded their data settings or windows are not compared.

    Raises:
        ValueError: naming two settings (the config's own by its file name) and the settings they differ in.
    """
    recorded = {name: scored_data(summary["data"]) for name, summary in fits.items() if "data" in summary}
    first, *others = recorded or [None]
    for name in others:
        differing = [key for key in SCORED_DATA if recorded[name][key] != recorded[first][key]]
        if differing:
            values = ", ".join(f"data.{key} {recorded[first][key]!r} vs {recorded[name][key]!r}" for key in differing)
            raise ValueError(
                f"the fits {first or config.stem} and {name or config.stem} are scored on other validation windows "
                f"or scales ({values}): their validation scores are not one measure to choose on; choose among "
                "settings of one data, or set those alike in the configs"
            )
    windows = {name: summary["val_windows"] for name, summary in fits.items() if "val_windows" in summary}
    first, *others = windows or [None]
    for name in others:
        if windows[name] != windows[first]:
            (_, a), (_, b) = windows[first], windows[name]
            raise ValueError(
                f"the fits {first or config.stem} and {name or config.stem} are scored on other validation windows "
                f"({sum(a)} and {sum(b)}: a longer lookback leaves a series that starts shortly before its "
                "validation part fewer windows): their validation scores are not one measure to choose on; choose "
                "among lookbacks that every series has before its validation part, or leave such series out"
            )


def member_fits(
    members: list[Path], lookbacks: list[int], args: list[str], directory: Path
) -> dict[str, tuple[list[str], Path]]:
    """Each member's fit at each of ``lookbacks`` (those of the run's fits), its arguments (the run's ``args`` with
    the member's config for the run's) and directory, by name: the member's file stem where the run has one lookback
    (in ``directory/STEM``), else the stem and the lookback, ``STEM_L336`` (in ``directory/STEM/L336``). A member
    is another model beside the run's, so it is fitted, and may be chosen, at each lookback that they are."""
    several = len(lookbacks) > 1
    return {
        f"{member.stem}_L{lookback}" if several else member.stem: (
            ["--config", str(member), *args[2:], "--data.lookback", str(lookback)],
            directory / member.stem / (f"L{lookback}" if several else ""),
        )
        for member in members
        for lookback in lookbacks
    }


def check_member_names(members: list[Path], choices: dict[str, list[str]], own: str | None = None) -> None:
    """Refuse ``members`` whose fits would overwrite others': a member's fits are kept in the directory of its
    file's stem, and are settings of that name (``member_fits``).

    Raises:
        ValueError: two members of one file name, or a file name that is one of the run's own settings
            or directories (a name of ``choices``, the config's own fit's (``own``), ``ensemble``, ``ensemble_*``,
            ``origin1``, ..., ``lightning_logs``).
    """
    for stem in dict.fromkeys(member.stem for member in members):
        named = [str(member) for member in members if member.stem == stem]
        if len(named) > 1:
            raise ValueError(
                f"--members {' '.join(named)}: each is kept under its file name, {stem!r}; rename all but one"
            )
        if stem in choices or stem in (own, "lightning_logs") or re.fullmatch(r"ensemble(_.*)?|origin\d+", stem):
            raise ValueError(
                f"--members {named[0]}: its file name {stem!r} is one ltsf.py gives its own settings or directories "
                "(those of --lookbacks and --choose, the config's, ensemble, ensemble_*, origin1, ..., "
                "lightning_logs); rename it"
            )


UNSAFE = re.compile(r"[^\w.=+-]")  # characters a value may not bring into a directory name


def candidates(lookbacks: list[int] = (), choices: list[list[str]] = ()) -> dict[str, list[str]]:
    """The settings a run chooses among on validation: a directory name for each, and the arguments that set it.

    ``lookbacks`` 96 336 give ``L96`` and ``L336`` (``--data.lookback``); each of ``choices``, ``[KEY,
    VALUE, ...]``, gives ``KEY=VALUE`` (``--KEY VALUE``) for each value. Several are crossed, their names
    joined by commas. None: no choice to make (an empty dict).

    Raises:
        ValueError: a choice without a value, or two values that would share a directory name.
    """
    axes = [[(f"L{lookback}", ["--data.lookback", str(lookback)]) for lookback in lookbacks]] if lookbacks else []
    for key, *values in choices:
        if not values:
            raise ValueError(f"--choose {key}: give the values to choose among, e.g. --choose {key} 0 256")
        names = [f"{key}={UNSAFE.sub('_', value)}" for value in values]
        if len(set(names)) < len(names):
            raise ValueError(f"--choose {key}: values {values} would share a directory name; give distinct ones")
        axes.append([(name, [f"--{key}", value]) for name, value in zip(names, values, strict=True)])
    combos = itertools.product(*axes) if axes else []
    return {",".join(name for name, _ in combo): [arg for _, args in combo for arg in args] for combo in combos}


def layout(
    dataset: str, config: Path, horizon: int, seed: int, root: Path, extra: list[str], origins: int = 1
) -> tuple[Path, list[str], list[str]]:
    """Where a run of ``config`` on ``dataset`` at ``horizon`` with ``seed`` keeps its fits (below ``root``), its
    splits (``origin_splits``: the origins' and the ensemble's) and the arguments of its fit without a choice."""
    directory = root / label(dataset) / config.stem / f"H{horizon}" / f"seed{seed}"
    # The arguments passed on (a preset's --config too) come before the run's own, which they cannot change.
    args = ["--config", str(config), *extra, "--data.source", dataset]
    args += ["--data.horizon", str(horizon), "--seed_everything", str(seed)]
    args += ["--trainer.default_root_dir", str(directory), "--trainer.enable_progress_bar", "false"]
    splits = origin_splits(dataset, origins, given_split(extra), args)
    return directory, splits, [*args, "--data.split", splits[0]]


def setting_fits(args: list[str], choices: dict[str, list[str]], directory: Path, own: str | None = None) -> dict:
    """Each setting's fit at the preset's split, arguments and directory, by name: the run's ``args`` and
    ``directory`` without ``choices`` (named ``own``), else each choice's arguments added, into a directory of its
    name."""
    fits = {
        name: ([*args, *setting, "--trainer.default_root_dir", str(directory / name)], directory / name)
        for name, setting in choices.items()
    }
    return fits or {own: (args, directory)}


def planned_fits(
    dataset: str, config: Path, horizon: int, seed: int, root: Path, extra: list[str],
    choices: dict[str, list[str]], origins: int = 1,
) -> list[tuple[list[str], Path]]:  # fmt: skip
    """The fits ``run`` makes for its settings at every origin, arguments and directory each, before any of
    them: what ``--jobs`` fits side by side. Members are not among them (their lookback is the fits')."""
    directory, splits, args = layout(dataset, config, horizon, seed, root, extra, origins)
    firsts = setting_fits(args, choices, directory).values()
    return [each for first_args, where in firsts for each in origin_fits(first_args, where, splits)]


def run(
    dataset: str,
    config: Path,
    horizon: int,
    seed: int,
    root: Path,
    extra: list[str],
    choices: dict[str, list[str]] | None = None,
    origins: int = 1,
    test: bool = True,
    ensemble: bool = False,
    members: list[Path] = (),
) -> dict:
    """Fit one config on one data set and horizon, then test its best-validation checkpoint once.

    With ``choices`` (``candidates``: a name and arguments each), the config is fitted with each one's
    arguments (each in its own directory, the name) and only the one with the best validation score is
    tested: the setting chosen on validation (of equal scores, the first: the choices in the order given, the
    last option's values varying fastest, then the members, then the ensembles). With ``origins`` > 1 each
    fit is repeated at earlier splits (``origin_splits``) and the validation score is their mean. Without
    ``test`` nothing is tested (MSE and MAE are NaN). ``members`` (other configs) are fitted too, on the same
    data, horizon and seed at each lookback of the run's fits (``member_fits``), each fit one more candidate (named
    by its file: ``check_member_names``). With ``ensemble``, the mean forecast of every two or more of those fits is
    one more candidate (``ensembles``), at no further fit; their data settings are compared before any
    fit (``check_alike``). The result is also written to ``result.json`` in the run's directory; a later
    call with the same arguments and config contents (``config_hashes``) reads it back instead of running
    again, and each finished fit is read back from its ``fit.json``, so an interrupted leaderboard resumes (a
    file only partly written, or a fit whose checkpoint is gone, is done again: ``saved_json``, ``fitted``).

    Returns:
        The run's keys, its validation score, test MSE and MAE, its lookback, the name of the chosen
        setting (``None`` without ``choices``), its fit seconds (of every fit), the epochs the tested fit
        trained, what won on validation (the model or a naive forecast), whether it followed the published
        protocol (``standard_protocol``, and a test of every window: ``tested_every_window``), and the tested
        checkpoint (``best``) with the arguments it was tested with (``args``).

    Raises:
        ValueError: ``check_member_names``'s, ``check_one_loss``'s or ``check_one_validation``'s (after the
            fits; ``main`` checks them before any fit too: ``check_choosable``) or, with ``ensemble``,
            ``check_alike``'s refusal.
    """
    choices = choices or {}
    members = list(members)
    own = config.stem if members and not choices else None  # the config's fit beside members: named by its file
    check_member_names(members, choices, own)
    directory, splits, args = layout(dataset, config, horizon, seed, root, extra, origins)
    settings = {name: [*args, *setting] for name, setting in choices.items()} or {own: args}  # each fit's arguments
    # The members' arguments before their lookback, which follows the fits (``member_fits``).
    unfitted = settings | {member.stem: ["--config", str(member), *args[2:]] for member in members}
    saved = directory / "result.json"
    earlier = saved_json(saved)
    plan = {"args": args, "choices": choices, "origins": origins, "test": test, "ensemble": ensemble}
    plan["members"] = [str(member) for member in members]
    plan["configs"] = config_hashes([arg for setting in unfitted.values() for arg in setting])
    earlier.setdefault("ensemble", False)  # a result from before the key was always written: without --ensemble
    earlier.setdefault("members", [])
    if {key: earlier.get(key) for key in plan} == plan:
        return earlier["result"]
    if ensemble and len(unfitted) > 1:
        check_alike(unfitted)
    fits = {name: fit_at_origins(*first, splits) for name, first in setting_fits(args, choices, directory, own).items()}
    lookbacks = list(dict.fromkeys(summary["lookback"] for summary in fits.values()))
    for name, (setting, where) in member_fits(members, lookbacks, args, directory).items():
        settings[name] = setting
        fits[name] = fit_at_origins([*setting, "--trainer.default_root_dir", str(where)], where, splits)
    check_one_loss(fits, config)
    check_one_validation(fits, config)
    if ensemble:
        fits |= ensembles(fits, settings, directory, splits)
    chosen = min(fits, key=lambda name: fits[name]["val_loss"])
    leader = fits[chosen]["members"][0] if "members" in fits[chosen] else chosen  # an ensemble: its leader's
    test_args = settings[leader]
    tested = cli(["test", *test_args, "--ckpt_path", fits[chosen]["best"]]).trainer if test else None
    scores = tested.callback_metrics if tested else {}
    result = {
        "dataset": label(dataset),
        "config": config.stem,
        "horizon": horizon,
        "seed": seed,
        "val_loss": fits[chosen]["val_loss"],
        "mse": float(scores.get("test/mse", "nan")),
        "mae": float(scores.get("test/mae", "nan")),
        "lookback": fits[chosen]["lookback"],
        "chosen": chosen,
        "fit_s": sum(summary["fit_s"] for summary in fits.values()),
        "epochs": fits[chosen]["epochs"],
        "val_winner": fits[chosen]["val_winner"],
        "protocol": dataset in datasets.names()
        and standard_protocol(dataset, fits[leader]["data"])
        and (not test or tested_every_window(tested)),
        "best": fits[chosen]["best"],
        "args": test_args,
    }
    saved.write_text(json.dumps({**plan, "result": result}, indent=1))
    return result


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, config, horizon): seeds, mean and standard deviation (ddof 1) of the validation
    score, MSE, MAE and fit seconds, the seeds whose model lost to a naive forecast on validation (of
    those that recorded it), each seed's lookback and chosen setting, whether every seed followed the
    published protocol (``protocol``: ``standard_protocol``), and the published MSE and MAE of the same
    cell (empty where none is recorded, or where the protocol was not followed: not comparable)."""
    optional = ["val_winner", "lookback", "val_loss", "chosen", "protocol"]  # absent from results of older runs
    runs = runs.reindex(columns=[*runs.columns.drop(optional, errors="ignore"), *optional])
    table = runs.groupby(["dataset", "config", "horizon"], sort=False).agg(
        seeds=("seed", "size"),
        val_mean=("val_loss", "mean"),
        val_std=("val_loss", "std"),
        mse_mean=("mse", "mean"),
        mse_std=("mse", "std"),
        mae_mean=("mae", "mean"),
        mae_std=("mae", "std"),
        fit_s_mean=("fit_s", "mean"),
        fit_s_std=("fit_s", "std"),
        naive_wins=("val_winner", lambda winners: int((winners.notna() & (winners != "model")).sum())),
        lookbacks=("lookback", lambda values: " ".join(str(int(value)) for value in values if pd.notna(value)) or "-"),
        chosen=("chosen", lambda names: " ".join(str(name) for name in names if pd.notna(name)) or "-"),
        protocol=("protocol", lambda followed: bool(followed.eq(True).all())),
    )
    models = dict.fromkeys(model for cells in PUBLISHED.values() for cell in cells.values() for model in cell)
    comparable = table["protocol"].tolist()  # the published figures only beside rows of their protocol
    for model in models:
        figures = [PUBLISHED.get(dataset, {}).get(horizon, {}).get(model) for dataset, _, horizon in table.index]
        if any(figures):
            figures = [figure if ok else None for figure, ok in zip(figures, comparable, strict=True)]
            table[f"{model} mse"] = [figure[0] if figure else None for figure in figures]
            table[f"{model} mae"] = [figure[1] if figure else None for figure in figures]
    return table.reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table: ours as ``mean ± std``, each published model as ``MSE / MAE``."""

    def figure(value: float | None, digits: int, std: float | None = None) -> str:
        if value is None or pd.isna(value):
            return "-"
        return f"{value:.{digits}f}" if std is None or pd.isna(std) else f"{value:.{digits}f} ± {std:.{digits}f}"

    models = [column[: -len(" mse")] for column in table.columns if column.endswith(" mse")]
    header = ["dataset", "config", "H", "seeds", "L", "chosen", "val", "MSE", "MAE", "fit s", "naive wins val"]
    lines = ["| " + " | ".join([*header, *models]) + " |", "|" + "---|" * (len(header) + len(models))]
    for row in table.to_dict("records"):
        cells = [row["dataset"], row["config"], str(row["horizon"]), str(row["seeds"]), row["lookbacks"], row["chosen"]]
        cells += [figure(row["val_mean"], 4, row["val_std"])]
        cells += [figure(row["mse_mean"], 4, row["mse_std"]), figure(row["mae_mean"], 4, row["mae_std"])]
        cells += [figure(row["fit_s_mean"], 0, row["fit_s_std"]), str(row["naive_wins"])]
        cells += [f"{figure(row[f'{m} mse'], 3)} / {figure(row[f'{m} mae'], 3)}" for m in models]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# The CLI arguments that ``layout`` sets for each run, and the options of this script that set them: one
# passed on to the CLI would come after them and override them in every run, against the run's directory
# and its row of the table (a horizon of 48 in the row of 96, beside the published figures of 96).
OWN_ARGUMENTS = {
    "--data.source": "--datasets",
    "--data.horizon": "--horizons",
    "--seed_everything": "--seeds",
    "--trainer.default_root_dir": "--root",
}


def check_run_configs(configs: list[Path]) -> None:
    """Refuse a run's config (``--configs``, ``--members``) that sets ``data.split``: every fit takes the data set's
    preset or a ``--data.split`` given (which the origins and the ensembles read), after the config.

    Raises:
        ValueError: naming the file and the argument to give the split with instead.
    """
    for config in configs:
        if Path(config).is_file() and "data.split" in set(dotted_keys(yaml.safe_load(Path(config).read_text()))):
            raise ValueError(
                f"{config} sets data.split, which ltsf.py replaces with the data set's preset in every fit; give a "
                "split of one's own as --data.split (whole, as JSON) instead"
            )


def check_monitor(args: list[str]) -> None:
    """Refuse, before a fit, a checkpoint that keeps another best than the least ``val/loss``: fits are chosen on
    their checkpoint's best score, ensembles and naive fallbacks on ``val/loss``, and the least is taken, so
    another monitor (``--checkpoint.monitor val/mse_orig``) or ``mode: max`` would compare other measures. Its
    trainer is built from the fit's arguments (``cli(..., run=False)``: it reads the data, fits nothing).

    Raises:
        ValueError: naming the fit's config, the monitor and the mode.
    """
    checkpoint = cli(args, run=False).trainer.checkpoint_callback
    if checkpoint is not None and (checkpoint.monitor, checkpoint.mode) != ("val/loss", "min"):
        raise ValueError(
            f"{args[1]}: its checkpoint keeps the {checkpoint.mode} {checkpoint.monitor}, but ltsf.py chooses among "
            "fits and ensembles on the least val/loss; leave checkpoint.monitor val/loss and checkpoint.mode min"
        )


def check_presets(extra: list[str]) -> None:
    """Refuse a preset (``--config FILE`` among the arguments passed on) that sets a key ltsf.py sets for each run
    (``OWN_ARGUMENTS``) or the split (given as ``--data.split``, which the origins and the ensembles read): the
    run's own arguments come after it and would replace its value unseen.

    Raises:
        ValueError: naming the file, the key and the argument of ltsf.py to use instead.
    """
    own = {flag.removeprefix("--"): use for flag, use in OWN_ARGUMENTS.items()} | {"data.split": "--data.split"}
    for index, arg in enumerate(extra):
        path = extra[index + 1] if arg == "--config" and index + 1 < len(extra) else arg.partition("=")[2]
        if not (arg == "--config" or arg.startswith("--config=")) or not Path(path).is_file():
            continue
        keys = set(dotted_keys(yaml.safe_load(Path(path).read_text())))  # nested or dotted, as dotted names
        for key, use in own.items():
            if key in keys:
                raise ValueError(f"--config {path} sets {key}, which ltsf.py sets for each run; use {use} instead")


def count(value: str) -> int:
    """A whole number of 1 or more, for ``--seeds``, ``--origins`` and ``--jobs``: ``--seeds 0`` would run and
    table nothing, and ``--origins 0`` would be taken as 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


BENCHMARKS = Path(__file__).resolve().parent  # the scripts whose refusals ``command`` prints alone
PACKAGE = Path(datasets.__file__).resolve().parents[1]  # the forecast package, whose refusals the CLI's runs pass on


def command(main: Callable[[list[str]], object], argv: list[str] | None = None) -> None:
    """Run a benchmark script's ``main`` on ``argv`` (the command line's by default) as ``python -m forecast`` runs
    its subcommands: a refusal (an error that a ``raise`` of the forecast package or of a script here raised for
    the user) is printed alone on stderr, ``error: MESSAGE``, with exit status 1; any other error keeps its
    traceback, a bug to report. While ``main`` runs, ``sys.argv`` holds the program's name alone: the CLI runs
    inside read the arguments they are given, not the script's own flags (LightningCLI warns of both)."""
    program = sys.argv
    sys.argv = program[:1]
    try:
        main(program[1:] if argv is None else argv)
    except _USER_ERRORS as error:
        if not _is_our_message(error, (PACKAGE, BENCHMARKS)):
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        sys.argv = program


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the leaderboard; returns the summary table that it also writes and prints."""
    # No abbreviations: the CLI's --config (a preset composed after the config) would be read as --configs.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--datasets", nargs="+", default=["etth1"], type=data_set, help="built-in names or files")
    parser.add_argument("--configs", nargs="+", type=Path, default=[Path("configs/etth1/segrnn_gru.yaml")])
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--seeds", type=count, default=3, help="runs per cell, with seeds 0, 1, ...")
    parser.add_argument("--lookbacks", nargs="+", type=int, default=[], help="fit each, test the best on validation")
    parser.add_argument("--choose", nargs="+", action="append", default=[], metavar="KEY VALUE",
                        help="fit with --KEY at each VALUE, test the best on validation (repeat to cross)")  # fmt: skip
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the mean forecast of each two or more fits, as more settings")  # fmt: skip
    parser.add_argument("--members", nargs="+", type=Path, default=[], metavar="CONFIG",
                        help="also fit these configs at each of the run's lookbacks, as more settings")  # fmt: skip
    parser.add_argument("--origins", type=count, default=1, help="validation origins to average each fit's score over")
    parser.add_argument("--validation-only", action="store_true", help="fit and score on validation, test nothing")
    parser.add_argument("--jobs", type=count, default=1, help="fits side by side, each in its own process, first")
    parser.add_argument("--fit-one", metavar="JSON", help="one fit's arguments and directory: what --jobs runs")
    parser.add_argument("--root", type=Path, default=Path("runs/ltsf"), help="run directories")
    parser.add_argument("--out", type=Path, default=Path("runs/ltsf/leaderboard"), help="writes OUT.md and OUT.csv")
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parser.parse_known_args(argv)
    stems = [config.stem for config in args.configs]
    if len(set(stems)) < len(stems):  # runs are kept and tabled by the config's name
        parser.error(f"--configs {' '.join(map(str, args.configs))}: two share a file name; rename one")
    for given, own in OWN_ARGUMENTS.items():  # set per run after the config; one given would override them all
        if any(arg == given or arg.startswith(f"{given}=") for arg in extra):
            parser.error(f"{given}: ltsf.py sets it for each run; use {own}")
    try:
        check_presets(extra)
        check_run_configs([*args.configs, *args.members])
    except ValueError as error:
        parser.error(str(error))
    for flag, values in (("--datasets", args.datasets), ("--horizons", args.horizons)):
        if len(set(values)) < len(values):  # one run twice: counted as two seeds, fitted twice into one directory
            parser.error(f"{flag} {' '.join(map(str, values))}: one is given twice; give each once")
    labels = [label(dataset) for dataset in args.datasets]
    if len(set(labels)) < len(labels):  # runs are kept and tabled by the data set's name
        parser.error(f"--datasets {' '.join(args.datasets)}: two are named alike ({', '.join(labels)}); rename one")
    if args.fit_one:
        one = json.loads(args.fit_one)
        fit(one["args"], Path(one["directory"]))
        return pd.DataFrame()
    choices = candidates(args.lookbacks, args.choose)
    cells = [
        (dataset, config, horizon, seed)
        for dataset in args.datasets
        for config in args.configs
        for horizon in args.horizons
        for seed in range(args.seeds)
    ]
    kept = {key: trainable(*key, extra, choices) for key in dict.fromkeys(cell[:3] for cell in cells)}
    for (dataset, config, horizon), its in kept.items():
        check_origins(dataset, config, horizon, extra, its, args.origins)
        check_choosable(dataset, config, horizon, extra, its, args.members)
    if args.jobs > 1:
        planned = [planned_fits(*cell, args.root, extra, kept[cell[:3]], args.origins) for cell in cells]
        fit_side_by_side([each for fits in planned for each in fits], args.jobs)
    runs = [
        run(
            *cell, args.root, extra, kept[cell[:3]], args.origins, not args.validation_only, args.ensemble, args.members
        )
        for cell in cells
    ]
    table = summarize(pd.DataFrame(runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    markdown = to_markdown(table)
    args.out.with_suffix(".md").write_text(markdown)
    print(f"\npython benchmarks/ltsf.py {' '.join(argv)}\n\n{markdown}")
    return table


if __name__ == "__main__":
    command(main)
