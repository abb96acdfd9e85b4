"""Audit of the optimization, the learning-rate finder, the plots, the evaluation report, and the normalizations and
embeddings: each against an independent reference (a hand loop over torch's scheduler, Lightning's ``Tuner``, the
plotted data arrays, numpy on the written forecasts, the inverse maps by hand)."""

import functools
import json

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.nn import (
    GRUEncoder,
    IdentityEmbedding,
    InstanceNormalization,
    LastValueNormalization,
    NoNormalization,
    SegmentEmbedding,
)
from forecast.plotting import plot_error_by_horizon, plot_forecasts
from forecast.reports import EvaluationReport

SCHEDULERS = torch.optim.lr_scheduler
LOOKBACK, HORIZON, BATCH = 8, 2, 16
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


@pytest.fixture(scope="module")
def small_data() -> TimeSeriesDataModule:
    """120 hourly rows of one noisy sine: 71 training windows (5 batches), 10 validation windows."""
    steps = np.arange(120)
    values = np.sin(steps / 4) + 0.1 * np.random.default_rng(0).standard_normal(120)
    frame = pd.DataFrame({"a": values}, index=pd.date_range("2024-01-01", periods=120, freq="h", name="date"))
    return TimeSeriesDataModule(frame, LOOKBACK, HORIZON, split=RowSplit(80, 100), batch_size=BATCH)


class Recorder(L.Callback):
    """What the fit did: the rate each optimizer step used, each training batch's loss and size, and the
    ``val/loss`` of each validation with the epoch it ended."""

    def __init__(self):
        self.rates, self.losses, self.sizes, self.validations = [], [], [], []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.rates.append(optimizer.param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))
        self.sizes.append(len(batch))

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.validations.append((trainer.current_epoch, float(trainer.callback_metrics["val/loss"])))


def fit(data, scheduler, interval="epoch", monitor="val/loss", lr=0.1, **trainer):
    """A tiny GRU fitted with SGD at ``lr`` and ``scheduler``; returns the ``Recorder`` and the trainer."""
    torch.manual_seed(0)
    model = Forecaster(
        LOOKBACK, HORIZON, input_size=1, target_size=1, encoder=functools.partial(GRUEncoder, hidden_size=4),
        optimizer=functools.partial(torch.optim.SGD, lr=lr), lr_scheduler=scheduler, lr_scheduler_interval=interval,
        lr_scheduler_monitor=monitor,
    )  # fmt: skip
    recorder = Recorder()
    callbacks = [recorder, *trainer.pop("callbacks", [])]
    options = dict(max_epochs=4, limit_val_batches=1, num_sanity_val_steps=0) | trainer
    runner = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                       callbacks=callbacks, **options)  # fmt: skip
    runner.fit(model, data)
    return recorder, runner


def hand_rates(scheduler, lr, epochs, batches, step_metric=None, epoch_metric=None, interval="epoch"):
    """The rate of each optimizer step of a hand loop over torch's ``scheduler`` on a lone parameter: stepped after
    every step (with ``step_metric(step)``) or after every epoch (with ``epoch_metric(epoch)``; ``None``: no step)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    schedule, rates, step = scheduler(optimizer), [], 0
    for epoch in range(epochs):
        for _ in range(batches):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if interval == "step":
                schedule.step(*([] if step_metric is None else [step_metric(step)]))
            step += 1
        if interval == "epoch":
            metric = None if epoch_metric is None else epoch_metric(epoch)
            if epoch_metric is None or metric is not None:
                schedule.step(*([] if metric is None else [metric]))
    return rates


def segrnn_factor(epoch: int) -> float:
    """SegRNN's recipe (``lradj: type3``): the rate constant for 3 epochs, then 0.8 times the last each epoch."""
    return 1.0 if epoch < 3 else 0.8 ** (epoch - 2)


EPOCH_SCHEDULES = {
    "step": functools.partial(SCHEDULERS.StepLR, step_size=2, gamma=0.5),
    "exponential": functools.partial(SCHEDULERS.ExponentialLR, gamma=0.7),
    "cosine": functools.partial(SCHEDULERS.CosineAnnealingLR, T_max=3, eta_min=0.01),
    "segrnn": functools.partial(SCHEDULERS.LambdaLR, lr_lambda=segrnn_factor),
}


@pytest.mark.parametrize("schedule", EPOCH_SCHEDULES.values(), ids=EPOCH_SCHEDULES.keys())
def test_a_per_epoch_scheduler_steps_after_every_epoch_as_a_hand_loop(small_data, schedule):
    recorder, _ = fit(small_data, schedule, max_epochs=6, limit_train_batches=2, limit_val_batches=0)
    assert recorder.rates == pytest.approx(hand_rates(schedule, 0.1, epochs=6, batches=2), rel=1e-12)


def test_the_segrnn_recipe_keeps_the_rate_for_three_epochs_then_multiplies_it_by_0_8():
    rates = hand_rates(EPOCH_SCHEDULES["segrnn"], 0.1, epochs=6, batches=1)
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.08, 0.064, 0.0512], rel=1e-12)


def test_a_per_step_one_cycle_schedule_steps_after_every_optimizer_step(small_data):
    schedule = functools.partial(SCHEDULERS.OneCycleLR, max_lr=0.5, total_steps=12)
    recorder, _ = fit(small_data, schedule, interval="step", max_epochs=3, limit_train_batches=4, limit_val_batches=0)
    assert recorder.rates == pytest.approx(hand_rates(schedule, 0.1, 3, 4, interval="step"), rel=1e-12)


def test_a_per_step_one_cycle_schedule_under_accumulation_steps_once_per_optimizer_step(small_data):
    """Two batches per optimizer step: 3 epochs of 4 batches are 6 steps, which a schedule of 6 lasts exactly."""
    schedule = functools.partial(SCHEDULERS.OneCycleLR, max_lr=0.5, total_steps=6)
    recorder, _ = fit(small_data, schedule, "step", max_epochs=3, limit_train_batches=4, limit_val_batches=0,
                      accumulate_grad_batches=2)  # fmt: skip
    assert recorder.rates == pytest.approx(hand_rates(schedule, 0.1, 3, 2, interval="step"), rel=1e-12)


def test_a_per_epoch_plateau_scheduler_reads_each_validation_loss(small_data):
    schedule = functools.partial(SCHEDULERS.ReduceLROnPlateau, patience=0, factor=0.5, threshold=0.5)
    recorder, _ = fit(small_data, schedule, max_epochs=5, limit_train_batches=2)
    losses = dict(recorder.validations)
    assert sorted(losses) == [0, 1, 2, 3, 4]
    reference = hand_rates(schedule, 0.1, 5, 2, epoch_metric=losses.get)
    assert recorder.rates == pytest.approx(reference, rel=1e-12) and min(reference) < 0.1  # it did cut the rate


def test_a_per_epoch_plateau_scheduler_validated_every_second_epoch_reads_each_validation_once(small_data):
    schedule = functools.partial(SCHEDULERS.ReduceLROnPlateau, patience=0, factor=0.5, threshold=0.5)
    recorder, _ = fit(small_data, schedule, max_epochs=6, limit_train_batches=2, check_val_every_n_epoch=2)
    losses = dict(recorder.validations)
    assert sorted(losses) == [1, 3, 5]
    reference = hand_rates(schedule, 0.1, 6, 2, epoch_metric=losses.get)
    assert recorder.rates == pytest.approx(reference, rel=1e-12) and min(reference) < 0.1


def test_a_per_epoch_plateau_scheduler_on_the_training_loss_reads_the_epochs_mean(small_data):
    """Not the last batch's loss, which Lightning hands it: the epoch's 71 windows in batches of 16, 16, 16, 16, 7."""
    schedule = functools.partial(SCHEDULERS.ReduceLROnPlateau, patience=0, factor=0.5, threshold=0.2)
    recorder, _ = fit(small_data, schedule, monitor="train/loss", max_epochs=4, limit_val_batches=0)
    losses, sizes = np.reshape(recorder.losses, (4, 5)), np.reshape(recorder.sizes, (4, 5))
    assert sizes[0].tolist() == [16, 16, 16, 16, 7]
    means = (losses * sizes).sum(1) / sizes.sum(1)
    reference = hand_rates(schedule, 0.1, 4, 5, epoch_metric=lambda epoch: means[epoch])
    assert recorder.rates == pytest.approx(reference, rel=1e-12) and min(reference) < 0.1
    assert reference != pytest.approx(hand_rates(schedule, 0.1, 4, 5, epoch_metric=lambda epoch: losses[epoch, -1]))


def test_a_per_step_plateau_scheduler_on_the_training_loss_reads_each_steps_loss(small_data):
    schedule = functools.partial(SCHEDULERS.ReduceLROnPlateau, patience=1, factor=0.5, threshold=0.05)
    recorder, _ = fit(small_data, schedule, "step", "train/loss", max_epochs=2, limit_val_batches=0)
    reference = hand_rates(schedule, 0.1, 2, 5, step_metric=recorder.losses.__getitem__, interval="step")
    assert recorder.rates == pytest.approx(reference, rel=1e-12) and min(reference) < 0.1


class Batches(L.Callback):
    """The training batches of a fit, and the model's weights before its first step."""

    def __init__(self):
        self.batches, self.start = [], None

    def on_train_start(self, trainer, pl_module):
        self.start = {name: value.clone() for name, value in pl_module.state_dict().items()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append(batch)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clipping_and_accumulation_under_the_trainer_update_the_weights_as_a_hand_loop(small_data, algorithm):
    """Two batches accumulated into one SGD step of rate 1, its mean gradient clipped to 1e-3 (norm, or each value)."""
    recorded = Batches()
    _, trainer = fit(small_data, None, lr=1.0, max_epochs=1, limit_train_batches=2, limit_val_batches=0,
                     accumulate_grad_batches=2, gradient_clip_val=1e-3, gradient_clip_algorithm=algorithm,
                     callbacks=[recorded])  # fmt: skip
    fitted = trainer.lightning_module
    torch.manual_seed(0)
    model = Forecaster(LOOKBACK, HORIZON, input_size=1, target_size=1,
                       encoder=functools.partial(GRUEncoder, hidden_size=4))  # fmt: skip
    model.load_state_dict(recorded.start)
    for batch in recorded.batches:
        prediction = model(batch.past, batch.future, batch.static, batch.target)
        (model.loss(prediction, batch.target, batch.observed) / 2).backward()
    parameters = [parameter for parameter in model.parameters() if parameter.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters]))
    assert norm > 1e-2  # clipping changes the step
    if algorithm == "norm":
        torch.nn.utils.clip_grad_norm_(parameters, 1e-3)
    else:
        torch.nn.utils.clip_grad_value_(parameters, 1e-3)
    with torch.no_grad():
        for parameter in parameters:
            parameter -= parameter.grad
    for (name, expected), actual in zip(model.named_parameters(), fitted.parameters(), strict=True):
        torch.testing.assert_close(actual, expected, msg=name)


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_a_plateau_scheduler_on_a_test_metric_is_refused_before_training(small_data, interval):
    """A fit logs no test metric: Lightning stopped it after the first epoch, saying to set the ``monitor`` key of
    the scheduler's dict, which no config has."""
    recorded = Batches()
    with pytest.raises(ValueError, match=r"model\.lr_scheduler_monitor=test/loss is logged by test only.*val/loss"):
        fit(small_data, SCHEDULERS.ReduceLROnPlateau, interval, "test/loss", callbacks=[recorded])
    assert recorded.batches == []


def test_a_per_epoch_plateau_scheduler_on_a_validation_metric_without_validation_is_refused(small_data):
    """``trainer.limit_val_batches: 0`` logs no ``val/loss``: Lightning stopped the fit after the first epoch."""
    recorded = Batches()
    with pytest.raises(ValueError, match=r"val/loss after each epoch, but trainer\.limit_val_batches=0.*train/loss"):
        fit(small_data, SCHEDULERS.ReduceLROnPlateau, limit_val_batches=0, callbacks=[recorded])
    assert recorded.batches == []


@pytest.fixture
def two_series_forecasts() -> pd.DataFrame:
    """Two series of three windows of three steps, each value telling its series, window and step apart."""
    rows = []
    for number, series in enumerate(["A", "B"]):
        for window in range(3):
            origin = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=5 * window)
            for step in (3, 1, 2):  # the rows out of time order
                value = 100 * number + 10 * window + step
                rows.append({"id": series, "origin": origin, "time": origin + pd.Timedelta(hours=step), "step": step,
                             "x": value, "x_actual": -value, "x_q0.1": value - 1, "x_q0.5": value,
                             "x_q0.9": value + 1})  # fmt: skip
    return pd.DataFrame(rows)


def lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A panel's lines by label: their x (as datetimes) and y data."""
    from matplotlib.dates import num2date

    def times(x):
        return pd.DatetimeIndex([num2date(value).replace(tzinfo=None) for value in x]) if len(x) else x

    return {line.get_label(): (times(line.get_xdata(orig=False)), np.asarray(line.get_ydata())) for line in ax.lines}


def test_forecast_plot_draws_each_picked_windows_series_in_time_order_with_its_history(two_series_forecasts):
    pytest.importorskip("matplotlib")
    times = pd.date_range("2023-12-31 20:00", "2024-01-01 20:00", freq="h")
    history = pd.concat([pd.DataFrame({"id": name, "time": times, "x": offset + np.arange(len(times))})
                         for name, offset in [("A", 0.0), ("B", 1000.0)]])  # fmt: skip
    figure = plot_forecasts(two_series_forecasts, "x", max_windows=3, history=history, history_steps=4)
    # Evenly spaced over the 6 (id, origin) pairs: the first, the third and the last.
    picked = [("A", 0), ("A", 2), ("B", 2)]
    for ax, (series, window) in zip(figure.axes, picked, strict=True):
        rows = two_series_forecasts.query("id == @series")
        rows = rows[rows["origin"] == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=5 * window)].sort_values("time")
        drawn = lines(ax)
        assert list(drawn["actual"][0]) == list(rows["time"]) and list(drawn["forecast"][0]) == list(rows["time"])
        np.testing.assert_array_equal(drawn["forecast"][1], rows["x"])
        np.testing.assert_array_equal(drawn["actual"][1], rows["x_actual"])
        before = history[(history["id"] == series) & (history["time"] < rows["time"].iloc[0])].tail(4)
        assert list(drawn["history"][0]) == list(before["time"])
        np.testing.assert_array_equal(drawn["history"][1], before["x"])
        (band,) = ax.collections  # between the outer levels 0.1 and 0.9
        outline = band.get_paths()[0].vertices[:, 1]
        assert set(np.round(outline, 9)) == set(rows["x_q0.1"]) | set(rows["x_q0.9"])
        assert ax.get_title() == f"x, {series}, origin {rows['origin'].iloc[0]}"


def test_error_by_horizon_plot_draws_each_targets_metric_of_the_units_by_step():
    pytest.importorskip("matplotlib")
    table = pd.concat(
        [pd.DataFrame({"units": units, "target": target, "step": [1, 2, 3], "mae": scale * np.array([1.0, 2.0, 4.0])})
         for units, shift in [("scaled", 0), ("original", 100)]
         for target, scale in [("all", 1 + shift), ("a", 2 + shift), ("b", 3 + shift)]]
    )  # fmt: skip
    drawn = {line.get_label(): line for line in plot_error_by_horizon(table, "mae", "original").axes[0].lines}
    assert sorted(drawn) == ["a", "all", "b"]
    for target, scale in [("all", 101), ("a", 102), ("b", 103)]:
        np.testing.assert_array_equal(drawn[target].get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(drawn[target].get_ydata(), scale * np.array([1.0, 2.0, 4.0]))
    assert drawn["all"].get_linewidth() > drawn["a"].get_linewidth()


def test_report_tables_per_step_target_and_overall_are_numpy_on_the_written_forecasts(long_frame, tmp_path):
    """An untrained GRU's forecasts of two targets of three series (a future covariate beside): the written actual
    values are the frame's, and each table's original-units MAE, MSE and RMSE is numpy's on forecasts.csv."""
    columns = Columns(["y", "load"], future_covariates=["price"])
    data = TimeSeriesDataModule(long_frame, 12, 3, columns=columns, batch_size=64)
    torch.manual_seed(0)
    model = Forecaster(12, 3, input_size=2, target_size=2, future_size=1,
                       encoder=functools.partial(GRUEncoder, hidden_size=4))  # fmt: skip
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[EvaluationReport(num_plots=0, write_forecasts=True)])  # fmt: skip
    trainer.test(model, data, verbose=False)
    forecasts = pd.read_csv(tmp_path / "forecasts.csv", parse_dates=["origin", "time"])
    windows = len(data.dataset("test"))
    assert forecasts["window"].nunique() == windows and len(forecasts) == 3 * windows
    assert sorted(forecasts["id"].unique()) == ["A", "B", "C"]
    assert (forecasts["time"] - forecasts["origin"] == pd.to_timedelta(forecasts["step"], unit="h")).all()
    given = forecasts.merge(long_frame, on=["id", "time"], suffixes=("", "_given"), validate="many_to_one")
    np.testing.assert_allclose(given["y_actual"], given["y_given"], rtol=1e-6)
    np.testing.assert_allclose(given["load_actual"], given["load_given"], rtol=1e-6)
    errors = np.stack([forecasts[t] - forecasts[f"{t}_actual"] for t in ("y", "load")], 1)  # -> (rows, C)
    steps = forecasts["step"].to_numpy()
    by_horizon = pd.read_csv(tmp_path / "metrics_by_horizon.csv").query("units == 'original'")
    for target, chosen in [("all", [0, 1]), ("y", [0]), ("load", [1])]:
        rows = by_horizon[by_horizon["target"] == target].sort_values("step")
        assert rows["step"].tolist() == [1, 2, 3]
        cells = [errors[steps == step][:, chosen] for step in (1, 2, 3)]
        np.testing.assert_allclose(rows["mae"], [np.abs(cell).mean() for cell in cells], rtol=1e-5)
        np.testing.assert_allclose(rows["mse"], [np.square(cell).mean() for cell in cells], rtol=1e-5)
        np.testing.assert_allclose(rows["rmse"], [np.sqrt(np.square(cell).mean()) for cell in cells], rtol=1e-5)
    by_target = pd.read_csv(tmp_path / "metrics_by_target.csv").query("units == 'original'")
    assert by_target["target"].tolist() == ["y", "load"]
    np.testing.assert_allclose(by_target["mae"], np.abs(errors).mean(0), rtol=1e-5)
    np.testing.assert_allclose(by_target["mse"], np.square(errors).mean(0), rtol=1e-5)
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["windows"] == windows
    assert report["metrics"]["mae_orig"] == pytest.approx(np.abs(errors).mean(), rel=1e-5)
    assert report["metrics"]["rmse_orig"] == pytest.approx(np.sqrt(np.square(errors).mean()), rel=1e-5)


def revin_by_hand(past: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """RevIN's forward (Kim et al., 2022): each channel standardized by the window's mean and deviation, then
    scaled and shifted by the channel's weight and bias."""
    mean, variance = past.mean(1, keepdim=True), past.var(1, keepdim=True, unbiased=False)
    return (past - mean) / (variance + eps).sqrt() * weight + bias


@pytest.mark.parametrize("targets", [1, 3], ids=["with-covariates", "targets-only"])
@pytest.mark.parametrize("flat", [False, True], ids=["varying", "flat"])
@pytest.mark.parametrize("kind", ["none", "last", "revin"])
def test_normalizations_map_a_window_and_back_as_their_definitions(kind, flat, targets):
    """In float64 against each definition by hand, a flat window (a sensor stuck at 7.25: zero deviation) too;
    the inverse of the normalized targets is the window, exactly up to rounding."""
    torch.manual_seed(0)
    past = torch.full((2, 10, 3), 7.25, dtype=torch.float64) if flat else torch.randn(2, 10, 3).double() * 4 + 3
    if kind == "revin":
        module = InstanceNormalization(3, eps=1e-5).double()
        module.weight.data = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
        module.bias.data = torch.tensor([1.0, -1.0, 0.25], dtype=torch.float64)
        expected = revin_by_hand(past, module.weight.detach(), module.bias.detach(), 1e-5)
    else:
        module = (NoNormalization if kind == "none" else LastValueNormalization)(3)
        expected = past if kind == "none" else past - past[:, -1:]
    normalized, (loc, scale) = module(past, target_size=targets)
    assert loc.shape == scale.shape == (2, 1, targets)
    torch.testing.assert_close(normalized, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(normalized[..., :targets] * scale + loc, past[..., :targets], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lookback", [24, 48, 96])
def test_segment_embedding_cuts_the_lookback_into_its_segments_and_identity_keeps_every_step(lookback):
    torch.manual_seed(0)
    past = torch.randn(2, lookback, 3)
    segments = SegmentEmbedding(3, lookback, seg_len=12, embedding_size=5)
    assert (segments.steps, segments.output_size) == (lookback // 12, 5)
    assert segments(past).shape == (2, lookback // 12, 5)
    by_hand = [segments.linear(past[:, k * 12 : (k + 1) * 12].reshape(2, 36)).relu() for k in range(lookback // 12)]
    torch.testing.assert_close(segments(past), torch.stack(by_hand, 1))
    identity = IdentityEmbedding(3, lookback)
    assert (identity.steps, identity.output_size) == (lookback, 3) and identity(past) is past


@pytest.mark.parametrize(("lookback", "seg_len"), [(12, 5), (12, 24), (100, 24)])
def test_a_forecaster_whose_segments_do_not_divide_the_lookback_is_refused_naming_both(lookback, seg_len):
    embedding = functools.partial(SegmentEmbedding, seg_len=seg_len)
    with pytest.raises(ValueError, match=rf"seg_len={seg_len} must divide the lookback {lookback}; .*data\.lookback"):
        Forecaster(lookback, 4, input_size=2, target_size=1, embedding=embedding)


@pytest.mark.slow
def test_lr_find_writes_the_rate_lightnings_tuner_suggests_for_the_config(wide_csv, tmp_path, tiny_cli):
    """``forecast tune --lr_find``'s rate is ``Tuner.lr_find``'s on the model and data the config builds (seeded
    alike); its files are the plot and the config that sets the rate, with no finder checkpoint left behind."""
    import yaml
    from lightning.pytorch.tuner import Tuner

    from forecast.cli import main as cli_main
    from forecast.lr_finder import find_lr

    args = ["--seed_everything", "0", *tiny_cli(wide_csv, batch_size=16), "--trainer.max_epochs", "10",
            "--model.encoder", "forecast.nn.GRUEncoder", "--model.encoder.init_args.hidden_size", "4"]  # fmt: skip
    lr = find_lr(args, tmp_path / "run", num_training=30)
    cli = cli_main([*args, "--trainer.default_root_dir", str(tmp_path / "reference")], run=False)
    finder = Tuner(cli.trainer).lr_find(cli.model, datamodule=cli.datamodule, num_training=30, update_attr=False)
    assert len(finder.results["lr"]) == 30 and lr == finder.suggestion()
    written = yaml.safe_load((tmp_path / "run" / "lr_find.yaml").read_text())
    assert written == {"model": {"optimizer": {"init_args": {"lr": lr}}}}
    assert (tmp_path / "run" / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob(".lr_find*.ckpt"))


@pytest.mark.slow
def test_lr_find_leaves_no_figure_open(wide_csv, tmp_path, tiny_cli):
    """pyplot kept the finder's figure open after writing it: a notebook running the finder showed it again."""
    import matplotlib.pyplot as plt

    from forecast.lr_finder import find_lr

    plt.close("all")
    args = [
        *tiny_cli(wide_csv, batch_size=16),
        "--trainer.max_epochs",
        "10",
        "--model.encoder.init_args.hidden_size",
        "4",
    ]
    find_lr(args, tmp_path / "run", num_training=30)
    assert plt.get_fignums() == []


def test_a_plateau_scheduler_on_a_misspelt_metric_is_refused_before_training(small_data):
    """``model.lr_scheduler_monitor: val/los`` stopped the fit after its first epoch with Lightning's error, which
    names the ``monitor`` key of a scheduler's dict that no config has."""
    model = Forecaster(
        LOOKBACK, HORIZON, input_size=1, target_size=1, encoder=functools.partial(GRUEncoder, hidden_size=4),
        lr_scheduler=SCHEDULERS.ReduceLROnPlateau, lr_scheduler_monitor="val/los",
    )  # fmt: skip
    trainer = L.Trainer(max_epochs=2, limit_val_batches=1, logger=False, enable_checkpointing=False, **QUIET)
    with pytest.raises(ValueError, match=r"lr_scheduler_monitor=val/los is no metric that a fit logs \(did you mean "):
        trainer.fit(model, small_data)
    assert trainer.global_step == 0


def test_a_plateau_scheduler_may_monitor_what_a_users_own_callback_logs(small_data):
    """A callback of the user's may log the metric a scheduler reads: the check steps aside."""

    class Logs(L.Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            pl_module.log("val/own", 1.0)

    model = Forecaster(
        LOOKBACK, HORIZON, input_size=1, target_size=1, encoder=functools.partial(GRUEncoder, hidden_size=4),
        lr_scheduler=SCHEDULERS.ReduceLROnPlateau, lr_scheduler_monitor="val/own",
    )  # fmt: skip
    trainer = L.Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False,
                        enable_checkpointing=False, callbacks=[Logs()], **QUIET)  # fmt: skip
    trainer.fit(model, small_data)
    assert trainer.global_step == 1
