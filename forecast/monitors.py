"""Which metrics a fit logs, and the refusal of a callback that monitors one it never logs, before the fit trains."""

import difflib

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint

__all__ = ["check_monitors", "fit_metrics", "may_log", "not_logged"]

# The packages whose callbacks log no metric of their own, so that a fit's metrics are the model's alone.
_LOGGING_FREE_PACKAGES = ("lightning.", "pytorch_lightning.", "forecast.")


def fit_metrics(model: L.LightningModule) -> set[str]:
    """The metrics a fit of ``model`` (a ``Forecaster``) logs: the training and validation losses, and each
    validation metric scaled and in original units (a probabilistic loss adds ``pinball``, ``crps``
    and ``coverage``)."""
    names = model.metrics["val"].overall()  # of no window yet: NaN values under the keys validation logs
    return {"train/loss", "val/loss"} | {f"val/{name}{units}" for name in names for units in ("", "_orig")}


def check_monitors(callbacks: list[Callback], model: L.LightningModule, own: ModelCheckpoint) -> None:
    """Refuse a ModelCheckpoint, or an EarlyStopping that stops on a missing metric (``strict``), whose ``monitor``
    the fit never logs (``val/mse_typo``, a ``test/`` metric), before it trains.

    Lightning finds that out after the first validation, an epoch or more into the fit. A callback's monitor may be
    one that a callback logs itself (``pl_module.log``): none of Lightning's or forecast's do, so the check is left
    to Lightning wherever ``callbacks`` hold one of another package, or a ``LambdaCallback`` (which runs yours).

    Raises:
        ValueError: naming the key (``checkpoint.monitor`` for ``own``, the CLI's), the monitor, the nearest metric
            the fit logs and all of them.
    """
    if any(may_log(callback) for callback in callbacks):
        return
    logged = fit_metrics(model)
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint):
            monitor, accepted = callback.monitor, logged | {"epoch", "step"}  # Lightning's ModelCheckpoint adds both
        elif isinstance(callback, EarlyStopping) and callback.strict:
            monitor, accepted = callback.monitor, logged
        else:
            continue
        if monitor is None or monitor in accepted:
            continue
        name = "checkpoint.monitor" if callback is own else f"trainer.callbacks' {type(callback).__name__} monitor"
        raise ValueError(f"{name} {monitor!r} {not_logged(monitor, logged)}: a fit logs {', '.join(sorted(logged))}")


def may_log(callback: Callback) -> bool:
    """Whether ``callback`` may log a metric of its own: one of another package than Lightning and forecast, or
    Lightning's ``LambdaCallback``, whose hooks are the user's functions."""
    return isinstance(callback, LambdaCallback) or not type(callback).__module__.startswith(_LOGGING_FREE_PACKAGES)


def not_logged(monitor: str, logged: set[str]) -> str:
    """Why a fit never logs ``monitor``, with the nearest metric it logs: the validation one of a test metric, else
    the closest name."""
    test_only = monitor.startswith("test/")
    guess = f"val/{monitor.removeprefix('test/')}" if test_only else monitor
    nearest = difflib.get_close_matches(guess, sorted(logged), n=1)
    why = "is logged by test only, never by a fit" if test_only else "is no metric that a fit logs"
    return f"{why} (did you mean {nearest[0]!r}?)" if nearest else why
