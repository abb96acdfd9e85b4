"""Does the model beat the naive forecasts? ``fit`` says, on validation: the last value and the seasonal naive.

On a random walk no model beats the last value, and a model tuned on one data set can lose to both
naive forecasts on another; this is what a user should know before trusting a forecast. The
comparison reads only the validation windows, never the test part. With ``fallback`` a checkpoint
whose network loses to a naive forecast on validation forecasts that naive forecast instead.
"""

import json
import math
import numbers
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .batch import Batch
from .callbacks import run_directory
from .data.calendar import seasonal_period
from .errors import warn_on_rank_zero, whole_number
from .nn.baselines import seasonal_naive
from .nn.checks import check_flag

__all__ = ["seasonal_period", "naive_forecasts", "NaiveComparison"]


def naive_periods(period: int | None, lookback: int) -> dict[str, int]:
    """The naive forecasts by name, each as the ``seasonal_naive`` period that makes it: the last value
    (period 1), and the seasonal naive when the lookback holds a season of ``period`` steps."""
    seasonal = {f"seasonal naive ({period} steps)": period} if period is not None and 1 < period <= lookback else {}
    return {"last value": 1} | seasonal


def naive_forecasts(batch: Batch, period: int | None) -> dict[str, torch.Tensor]:
    """The naive forecasts of ``naive_periods`` on the batch's scaled values.

    Shapes:
        batch.past: (B, L, C_in), batch.target: (B, H, C_out) -> {name: (B, H, C_out)}
    """
    horizon, targets = batch.target.shape[1:]
    history = batch.past[..., :targets]  # -> (B, L, C_out), the targets come first
    periods = naive_periods(period, history.shape[1])
    return {name: seasonal_naive(history, horizon, steps) for name, steps in periods.items()}


# The model's score is float32 (a torchmetrics metric), the naive ones float64: within this relative margin
# they are the same forecast's, a tie, and the model keeps a tie.
TIE = 1e-5


def falls_short(model: float, naive: float, margin: float = 0.0) -> bool:
    """Whether the model's validation MSE is not below a naive forecast's by ``margin`` (a share of the naive's);
    with no margin, whether the naive forecast beats it by more than float32 rounding (``TIE``). A NaN MSE (the
    network's forecasts overflowed) beats nothing."""
    return not model * (1 - TIE) <= naive * (1 - margin)


def _figure(mse: float) -> str:
    """An MSE as the log says it: four decimals, or three significant digits where four decimals would keep fewer
    than two (a seasonal naive forecast of a season that barely varies: 2.1e-06, not 0.0000, which reads as no
    error)."""
    return f"{mse:.4f}" if mse == 0 or abs(mse) >= 0.001 or not math.isfinite(mse) else f"{mse:.3g}"


def _gap(model: float, naive: float) -> str:
    """How far the model's validation MSE lies from a naive forecast's: a share of the naive's, or, where that
    has no error (a validation part flat, or repeating its last season), the model's own MSE above it. A
    share that one decimal would round to 0 keeps two digits, so that a model losing by 0.03% reads as
    above the naive forecast, not level with it; a NaN MSE (the network's forecasts overflowed) is said so."""
    if math.isnan(model):
        return "the model's is NaN"
    if naive == 0:
        return f"no error; the model's {model:.4g} above it" if model > 0 else "no error, as the model's"
    share = (model - naive) / naive
    return f"the model's {share:+.1%}" if abs(share) >= 0.0005 or share == 0 else f"the model's {share * 100:+.2g}%"


class NaiveComparison(L.Callback):
    """At the end of ``fit``, the validation MSE of the model's best epoch beside that of the naive forecasts.

    The model's figure is the ``val/mse`` of the epoch the checkpoint chose (the last epoch without
    one, or with one that monitors nothing), on the scaled data; the naive forecasts are scored on the
    same validation windows (those the trainer validates, so ``limit_val_batches`` limits both), in the
    fit's first validation. The log says which wins and by how much, with a warning when a naive
    forecast does, and ``naive_comparison.json`` in the run directory keeps the figures. Validation windows
    without an observed target (every one missing, repaired by ``nan_policy``) give no forecast an MSE: then
    nothing is compared or decided, a warning says so, and the file keeps no figures and no winner.

    With ``fallback``, each checkpoint records whether its epoch's network fell short of the better
    naive forecast on validation: lost to it, or beat it by less than ``margin``; ``test``, ``predict``
    and ``Forecaster.predict`` of such a checkpoint then forecast that naive forecast
    (``Forecaster.naive_fallback``). So on data where nothing beats the last value (a random walk), the
    best checkpoint is no worse than the last value on validation. A network that leads a naive forecast
    by a little on one validation part may well trail it on the next: on a random walk its forecast
    differs from the last value by noise that happens to fit that part, so ``margin`` asks for a lead
    larger than such luck. Only the validation windows decide: a fit that scores no naive forecast (it validated
    no epoch, or read no data module) decides no fallback, and a warning says so.

    Args:
        seasonal_period: steps of the seasonal naive's season; ``None`` derives it from the data's
            frequency (``seasonal_period``): 24 for hourly data. A frequency without a common season
            (yearly data) or a season longer than the data's lookback leaves the seasonal naive out, and the log
            says so.
        fallback: let checkpoints fall back to the better naive forecast when the network falls short of
            it on validation (point losses only: a naive forecast has no quantiles).
        margin: the share of the better naive forecast's validation MSE by which the network must beat
            it to keep its own forecast under ``fallback``: 0.05 keeps it at 5% below.

    Raises:
        TypeError: ``seasonal_period`` is no whole number, ``fallback`` no bool (the text "false" is true to
            Python) or ``margin`` no number.
        ValueError: ``seasonal_period`` below 1, ``margin`` outside [0, 1); at the start of ``fit``,
            ``fallback`` with a probabilistic loss, or with a ``ModelCheckpoint`` that saves weights only.
    """

    def __init__(self, seasonal_period: int | None = None, fallback: bool = False, margin: float = 0.0):
        if seasonal_period is not None and not whole_number(seasonal_period):  # "24" failed as Python's "'<' not ..."
            raise TypeError(
                f"naive_comparison.seasonal_period={seasonal_period!r} is not a whole number; give an int such as 24, "
                "or null to take it from the data's frequency"
            )
        check_flag("naive_comparison.fallback", fallback)
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
            raise TypeError(f"naive_comparison.margin={margin!r} is not a number; give a share such as 0.05")
        if seasonal_period is not None and seasonal_period < 1:  # 0 would read as None, a negative as no season
            raise ValueError(
                f"naive_comparison.seasonal_period must be at least 1 step, or null to take it from the data's "
                f"frequency; got {seasonal_period}"
            )
        if not 0 <= margin < 1:
            raise ValueError(f"naive_comparison.margin must be in [0, 1), a share of the naive MSE; got {margin}")
        self.seasonal_period = seasonal_period
        self.fallback = fallback
        self.margin = margin
        self.epochs: list[tuple[float, float]] = []  # per validation epoch: (monitored value, val/mse)
        self.naive: dict[str, float] = {}  # each naive forecast's validation MSE, from the fit's first validation
        self.sums: torch.Tensor | None = None  # this validation's (values, squared error of each naive forecast)
        self.periods: dict[str, int] = {}  # each naive forecast's seasonal_naive period
        self.naive_fallback: int | None = None  # the period the latest epoch's checkpoint falls back to
        self.unobserved = False  # whether a validation scored no observed target, so that no forecast has an MSE

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """A fit starts from no scores, before a resumed one restores its earlier epochs' (``load_state_dict``)."""
        if stage != "fit":
            return
        loss = pl_module.loss
        if self.fallback and not loss.forecasts_points:
            raise ValueError(
                f"naive_comparison.fallback needs a point loss (MSELoss, MAELoss, HuberLoss): a naive forecast "
                f"has no quantiles, and model.loss is {type(loss).__name__}"
                + (f" of levels {list(loss.levels)}" if loss.levels else "")
                + "; set naive_comparison.fallback false to train it without one"
            )
        if self.fallback and any(checkpoint.save_weights_only for checkpoint in trainer.checkpoint_callbacks):
            raise ValueError(  # Lightning calls no callback's on_save_checkpoint for a weights-only checkpoint
                "naive_comparison.fallback records each checkpoint's fallback beside its weights, which a "
                "ModelCheckpoint with save_weights_only leaves out: its checkpoints would forecast the network "
                "where it lost to a naive forecast; set checkpoint.save_weights_only false, or "
                "naive_comparison.fallback false"
            )
        self.epochs, self.naive, self.periods, self.naive_fallback, self.unobserved = [], {}, {}, None, False

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.sums = None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: object,
        batch: Batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Adds the naive forecasts' squared errors on a window batch the trainer validates (its first
        validation in ``fit``), so that they are scored on the windows and observed targets of the model's
        ``val/mse``."""
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.naive or trainer.datamodule is None:
            return
        period = self.seasonal_period or seasonal_period(trainer.datamodule.freq)
        # The batch's window, not the model's lookback: a model without parameters runs on the data's windows
        # whatever lookback it was built with (forecast.model_checks.check_data).
        self.periods = naive_periods(period, batch.past.shape[1])
        forecasts = naive_forecasts(batch, period).values()
        observed = torch.ones_like(batch.target, dtype=torch.bool) if batch.observed is None else batch.observed
        errors = [(forecast - batch.target).double().square().where(observed, 0.0).sum() for forecast in forecasts]
        sums = torch.stack([observed.sum().double(), *errors])  # the model's val/mse counts the observed targets too
        self.sums = sums if self.sums is None else self.sums + sums

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics, checkpoint = trainer.callback_metrics, trainer.checkpoint_callback
        monitor = checkpoint.monitor if checkpoint is not None and checkpoint.monitor else "val/mse"
        if trainer.sanity_checking or trainer.state.fn != "fit" or "val/mse" not in metrics or monitor not in metrics:
            return
        self.epochs.append((float(metrics[monitor]), float(metrics["val/mse"])))
        if not self.naive and self.sums is not None:
            sums = trainer.strategy.reduce(self.sums, reduce_op="sum")  # summed over all processes' windows
            self.unobserved = bool(sums[0] == 0)  # every target repaired: 0 / 0, no MSE to compare or decide on
            if not self.unobserved:
                self.naive = {name: float(total / sums[0]) for name, total in zip(self.periods, sums[1:], strict=True)}
        if self.fallback and self.naive:  # runs before ModelCheckpoint's own on_validation_end saves this epoch
            best = min(self.naive, key=self.naive.get)
            short = falls_short(self.epochs[-1][1], self.naive[best], self.margin)
            self.naive_fallback = self.periods[best] if short else None

    def state_dict(self) -> dict[str, Any]:
        """The scores so far, so that a resumed fit reports on (and falls back by) every epoch, not only its own,
        and the latest epoch's fallback, which the checkpoints saved before the resumed fit validates record."""
        return {"epochs": self.epochs, "naive": self.naive, "periods": self.periods, "fallback": self.naive_fallback}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs, self.naive, self.periods = state_dict["epochs"], state_dict["naive"], state_dict["periods"]
        self.naive_fallback = state_dict.get("fallback")  # none in checkpoints from before it was kept

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self.fallback:
            checkpoint["naive_fallback"] = self.naive_fallback

    def _chosen_epoch_mse(self, checkpoint: ModelCheckpoint | None) -> float:
        """The validation MSE of the epoch whose network the checkpoint keeps: the first epoch whose monitored
        value is the checkpoint's best score, the best of the epochs it saved (with ``every_n_epochs`` it saves
        only some, and a better epoch it skipped is in no checkpoint). Before any save, the best epoch on its
        monitor, a NaN monitored value the worst, as ModelCheckpoint ranks it; the last epoch when there is no
        checkpoint or it monitors nothing (a ModelCheckpoint without ``monitor`` keeps the latest epoch)."""
        if checkpoint is None or not checkpoint.monitor:
            return self.epochs[-1][1]
        best = checkpoint.best_model_score
        saved = [mse for monitored, mse in self.epochs if best is not None and monitored == float(best)]
        if saved:
            return saved[0]
        chosen, worst = (min, math.inf) if checkpoint.mode == "min" else (max, -math.inf)
        return chosen(self.epochs, key=lambda epoch: worst if math.isnan(epoch[0]) else epoch[0])[1]  # as Lightning

    def _left_out_season(self, freq: str, lookback: int) -> str:
        """Where the seasonal naive forecast is left out, a note saying why: the data's frequency has no common
        season (yearly data), or the season is longer than the lookback (which then lacks the value a season
        before the first forecast step); else nothing."""
        period = self.seasonal_period or seasonal_period(freq)
        if period is None:
            return (
                f" (no seasonal naive: the frequency {freq!r} has no common season; set "
                "naive_comparison.seasonal_period to compare one)"
            )
        if period <= lookback:
            return ""
        return f" (no seasonal naive: its season, {period} steps, is longer than the lookback, {lookback})"

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.epochs and self.unobserved:
            self._report_no_comparison(trainer)
            return
        if not self.epochs or not self.naive:
            if self.fallback:
                self._warn_no_fallback(trainer)
            return
        model = self._chosen_epoch_mse(trainer.checkpoint_callback)
        scores = {"model": model} | self.naive
        best = min(self.naive, key=self.naive.get)
        winner = best if falls_short(model, self.naive[best]) else "model"
        gaps = ", ".join(f"{name} {_figure(value)} ({_gap(model, value)})" for name, value in self.naive.items())
        note = self._left_out_season(trainer.datamodule.freq, trainer.datamodule.lookback)  # the windows scored
        message = f"validation MSE (scaled): model {_figure(model)}; {gaps}{note}: the {winner} wins"
        fallback = best if self.fallback and falls_short(model, self.naive[best], self.margin) else None
        if fallback and winner == "model":
            warn_on_rank_zero(
                f"{message}, by less than naive_comparison.margin ({self.margin * 100:g}% of the {best}'s MSE); with "
                f"naive_comparison.fallback its checkpoint forecasts the {best}"
            )
        elif fallback:
            warn_on_rank_zero(f"{message}; with naive_comparison.fallback its checkpoint forecasts the {winner}")
        elif winner == "model":
            rank_zero_info(message)
        else:
            warn_on_rank_zero(f"{message}; the model loses to a naive forecast on validation")
        self._write(trainer, {"val_mse": scores, "winner": winner, "fallback": fallback, "margin": self.margin})

    def _warn_no_fallback(self, trainer: L.Trainer) -> None:
        """Under ``fallback``, where the fit scored no naive forecast, a warning that it decided no fallback: the fit
        validated no epoch (``trainer.limit_val_batches`` 0, or it stopped before its first validation), or it read
        no data module, whose frequency gives the season and whose windows the naive forecasts are scored on."""
        why = (
            "the fit read its windows from no data module (trainer.fit(model, datamodule=...) compares them)"
            if trainer.datamodule is None
            else "the fit validated no epoch (let it validate: trainer.limit_val_batches above 0)"
        )
        warn_on_rank_zero(f"naive_comparison.fallback decided nothing: {why}, so the checkpoints forecast the network")

    def _report_no_comparison(self, trainer: L.Trainer) -> None:
        """Where the validation windows hold no observed target (every one missing, repaired by ``nan_policy``),
        neither the model nor a naive forecast has a validation MSE: a warning says so, and ``naive_comparison.json``
        keeps no figures and no winner (no fallback was decided)."""
        fallback = (
            "; naive_comparison.fallback decided nothing: the checkpoints forecast the network" if self.fallback else ""
        )
        warn_on_rank_zero(
            "no naive comparison: the validation windows hold no observed target (every one is missing, repaired by "
            f"data.nan_policy), so neither the model nor a naive forecast has a validation MSE{fallback}; give the "
            "validation part rows with target values (data.split)"
        )
        self._write(trainer, {"val_mse": {}, "winner": None, "fallback": None, "margin": self.margin})

    def _write(self, trainer: L.Trainer, report: dict[str, Any]) -> None:
        """``report`` as ``naive_comparison.json`` in the run directory (by the first process), a NaN MSE (the
        network's forecasts overflowed) as ``null``: standard JSON, which ``jq`` and JavaScript read too."""
        scores = {name: mse if math.isfinite(mse) else None for name, mse in report["val_mse"].items()}
        directory = run_directory(trainer)  # on every process
        if trainer.is_global_zero:
            directory.mkdir(parents=True, exist_ok=True)
            text = json.dumps(report | {"val_mse": scores}, indent=2, allow_nan=False)
            (directory / "naive_comparison.json").write_text(text)
