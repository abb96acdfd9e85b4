"""The checkpoint files that ``--ckpt_path best`` and ``last`` name: the newest run's under a root."""

import os
from itertools import pairwise
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint

from .backtest import REFITS_DIRECTORY
from .checkpointing import read_checkpoint
from .model import Forecaster

__all__ = ["check_checkpoint_exists", "resolve_checkpoint"]


def resolve_checkpoint(
    ckpt_path: str | None, root: str | Path, checkpoint: ModelCheckpoint | None = None
) -> str | None:
    """Turn ``best`` or ``last`` into the file of the newest run under ``root``; other paths pass.

    A leading ``~`` of either is the home folder, as in a shell: a path from a config file or written
    ``--ckpt_path=~/...`` passes no shell that would expand it (Lightning expands it in ``default_root_dir``).

    Each CLI subcommand is a new process, where Lightning's own ``best``/``last`` know no earlier
    run; the newest ``last.ckpt`` (or ``last-vN.ckpt``) of a run under ``root`` marks the newest run, and its
    ModelCheckpoint state names the best file. A backtest's refits (``refits/origin_G/`` in its run
    directory) are not runs of their own: each was trained on other borders with other scalers; nor
    are a ``tune`` study's trials (``trials/N/`` in its run directory): each fits other settings,
    and the newest is not the study's best (``trials.csv`` names each trial's checkpoint).
    The chosen file is checked as ``read_checkpoint`` checks it.

    Args:
        ckpt_path: ``best``, ``last`` or a path.
        root: ``trainer.default_root_dir``.
        checkpoint: the CLI's checkpoint callback as the config sets it (``checkpoint.*``). A fit given
            ``checkpoint.dirpath`` writes there, outside the run folders under ``root``: its
            ``last.ckpt`` (and the ``last-vN.ckpt`` of a later fit into the same folder) count as runs.
            ``best`` is the best of this callback's monitor, where the run had other ModelCheckpoints
            too (a ``trainer.callbacks`` one on ``val/mae``); without it, of any ModelCheckpoint.

    Raises:
        FileNotFoundError: no run under ``root`` or in ``checkpoint.dirpath`` has a ``last.ckpt`` (or
            ``last-vN.ckpt``), or for ``best`` the run recorded no best file (``checkpoint.save_top_k 0``)
            or it is gone.
        ValueError: the chosen file is damaged or not a forecast checkpoint.
    """
    if ckpt_path not in ("best", "last"):
        return ckpt_path and os.path.expanduser(ckpt_path)
    found = _run_checkpoints(Path(root).expanduser())
    dirpath = checkpoint.dirpath if checkpoint is not None else None
    if dirpath:
        found += _last_checkpoints(Path(dirpath).expanduser())
    lasts = sorted(set(found), key=lambda path: path.stat().st_mtime)
    if not lasts:
        beside = f", nor is there a last.ckpt in checkpoint.dirpath {dirpath!r}" if dirpath else ""
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r}: no run under {str(root)!r} has a checkpoints/last.ckpt{beside} (backtest "
            "refits and tune trials do not count); run `fit` first with the same trainer.default_root_dir and "
            "checkpoint.dirpath (and checkpoint.save_last true, the default), or give a checkpoint path"
        )
    last = lasts[-1]
    states = read_checkpoint(last, Forecaster).get("callbacks", {})
    if ckpt_path == "last":
        return str(last)
    own = checkpoint.state_key if checkpoint is not None else None
    for key, state in sorted(states.items(), key=lambda item: item[0] != own):  # the CLI's own first
        if key.startswith("ModelCheckpoint") and state.get("best_model_path"):
            for best in _best_candidates(Path(state["best_model_path"]), last):
                if best.is_file():
                    read_checkpoint(best, Forecaster)
                    return str(best)
    raise FileNotFoundError(
        f"ckpt_path='best': the run of {str(last)!r} records no best checkpoint that still exists (it kept none "
        "under checkpoint.save_top_k 0, or the file was deleted since); pass --ckpt_path last, or a checkpoint path"
    )


def _best_candidates(recorded: Path, last: Path) -> list[Path]:
    """Where the best file that ``last``'s run recorded may be: beside ``last``, in the same place of a
    sibling run folder (a resumed fit's best from the run before), or as recorded.

    The places under ``last``'s root come first: a run folder copied to another root records the
    original's path, whose file may since have been replaced by another run's; the copy's is this run's."""
    places = [last.parent / recorded.name]
    if len(recorded.parents) > 2 and len(last.parents) > 2:
        places.append(last.parents[2] / recorded.parents[1].name / recorded.parent.name / recorded.name)
    return [*places, recorded]


def _last_checkpoints(folder: Path) -> list[Path]:
    """The ``last.ckpt`` in ``folder``, and the ``last-vN.ckpt`` that Lightning writes beside it for each
    later fit into the same folder (``checkpoint.dirpath``, or ``checkpoints/`` under a run without a
    logger, ``--trainer.logger false``, which every such fit shares)."""
    return [path for path in (folder / "last.ckpt", *folder.glob("last-v*.ckpt")) if path.is_file()]


def _run_checkpoints(root: Path) -> list[Path]:
    """The last checkpoints of every run under ``root``, wherever its logger put them, but no backtest
    refit's and no tune trial's (``forecast.study_trials.TrialFits`` runs trial N in ``trials/N``)."""
    found = []
    for folder in root.glob("**/checkpoints"):
        parts = folder.relative_to(root).parts[:-1]
        trial = any(part == "trials" and number.isdigit() for part, number in pairwise(parts))
        if REFITS_DIRECTORY not in parts and not trial:
            found += _last_checkpoints(folder)
    return found


def check_checkpoint_exists(ckpt_path: str | None, root: str | Path) -> None:
    """Refuse a local ``--ckpt_path`` that names no file, before the data and the model are built.

    Lightning would find that out only after setting up the data (with a message that names neither
    the flag nor ``best``/``last``). Remote paths (``s3://...``) and Lightning's other keywords
    (``hpc``, ``registry``) are left to Lightning.

    Raises:
        FileNotFoundError: naming the flag, the path and the fix.
    """
    path = str(ckpt_path or "")
    if not path or "://" in path or path == "hpc" or path.startswith("registry"):
        return
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r} names no checkpoint file (looked in {os.getcwd()!r}); give the path of a .ckpt "
            f"file, or `best` / `last` for the newest run under trainer.default_root_dir ({str(root)!r})"
        )
