"""The Forecaster's steps against hand computations on tiny float64 models: the training loss and its gradient over
the observed targets, the pooled validation metrics, each normalization's inverse, predict's units, the optimizer
from the config's form, and a checkpoint's hyperparameters rebuilding the same model."""

import functools
import math
import warnings

import lightning as L
import pytest
import torch
from lightning.pytorch.cli import instantiate_module
from scipy.stats import norm

from forecast import Forecaster
from forecast.batch import Batch
from forecast.losses import GaussianNLLLoss, MAELoss, MSELoss, QuantileLoss
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    InstanceNormalization,
    LastValueNormalization,
    NoNormalization,
    ResidualCycle,
    SegmentEmbedding,
    SegmentHead,
    SRUEncoder,
)

LOOKBACK, HORIZON, INPUTS, TARGETS = 6, 3, 3, 2
_QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False)


@pytest.fixture(autouse=True)
def _no_trainer_warnings():
    """The steps run without a Trainer here, so ``self.log`` warns that none is attached."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.trainer. reference is not registered")
        yield


def _model(**options) -> Forecaster:
    torch.manual_seed(0)
    sizes = dict(lookback=LOOKBACK, horizon=HORIZON, input_size=INPUTS, target_size=TARGETS)
    encoder = functools.partial(GRUEncoder, hidden_size=4)
    return Forecaster(**(sizes | {"encoder": encoder} | options)).double()


def _batch(windows: int, seed: int, observed_share: float | None = None) -> Batch:
    """Float64 windows of unequal scales and offsets per window and channel; with ``observed_share``, that share of
    the targets observed and the rest NaN (a repaired target's value never scores, whatever it holds)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    batch = Batch(
        past=normal(windows, LOOKBACK, INPUTS) * 2 + 3,
        future=torch.zeros(windows, HORIZON, 0, dtype=torch.float64),
        static=torch.zeros(windows, 0, dtype=torch.float64),
        target=normal(windows, HORIZON, TARGETS) * 2 + 3,
        series=torch.arange(windows),
        time=torch.arange(windows) + 10,
        target_scale=normal(windows, TARGETS).abs() + 0.5,
        target_offset=normal(windows, TARGETS) * 10,
        naive_scale=normal(windows, TARGETS).abs() + 0.5,
    )
    if observed_share is not None:
        batch.observed = (
            torch.rand(windows, HORIZON, TARGETS, generator=generator, dtype=torch.float64) < observed_share
        )
        batch.observed[0, 0, 0] = True
        batch.target = batch.target.masked_fill(~batch.observed, math.nan)
    return batch


def _hand_losses(loss, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each value's loss, written out: squared and absolute error, the normal's negative log density, and the pinball
    loss averaged over the levels; (B, H, C)."""
    if isinstance(loss, MSELoss):
        return (params[..., 0] - target) ** 2
    if isinstance(loss, MAELoss):
        return (params[..., 0] - target).abs()
    if isinstance(loss, GaussianNLLLoss):
        mean, deviation = params[..., 0], params[..., 1]
        return 0.5 * math.log(2 * math.pi) + deviation.log() + (target - mean) ** 2 / (2 * deviation**2)
    levels = torch.tensor(loss.levels, dtype=params.dtype)
    error = target.unsqueeze(-1) - params
    return torch.where(error >= 0, levels * error, (levels - 1) * error).mean(-1)


@pytest.mark.parametrize("loss", [MSELoss(), MAELoss(), GaussianNLLLoss(), QuantileLoss((0.1, 0.5, 0.8))])
@pytest.mark.parametrize("channel_independent", [False, True])
def test_the_training_loss_and_its_gradient_are_the_hand_mean_over_the_observed_targets(loss, channel_independent):
    """Each observed value counts once: a window with fewer observed targets weighs less (not a mean of window
    means), and a target that was not observed (NaN here) adds nothing to the loss nor to any gradient."""
    model = _model(loss=loss, channel_independent=channel_independent, normalization=InstanceNormalization).train()
    batch = _batch(5, seed=1, observed_share=0.4)
    observed = batch.observed
    scored = model.training_step(batch, 0)
    scored.backward()
    gradients = [parameter.grad.clone() for parameter in model.parameters() if parameter.grad is not None]
    model.zero_grad()

    values = _hand_losses(loss, model(batch.past, batch.future, batch.static), batch.target.nan_to_num())
    expected = values.where(observed, 0.0).sum() / observed.sum()
    expected.backward()
    torch.testing.assert_close(scored, expected, rtol=1e-12, atol=0)
    for gradient, parameter in zip(gradients, (p for p in model.parameters() if p.grad is not None), strict=True):
        assert gradient.isfinite().all()
        torch.testing.assert_close(gradient, parameter.grad, rtol=1e-9, atol=1e-12)
    window_means = values.where(observed, 0.0).sum((1, 2)) / observed.sum((1, 2)).clamp(min=1)
    assert not math.isclose(scored.item(), window_means[observed.any(-1).any(-1)].mean().item(), rel_tol=1e-3)


def test_the_epochs_mean_training_loss_pools_the_observed_targets_of_its_batches():
    """What a per-epoch scheduler on train/loss reads: the loss over every observed target of the epoch."""
    model = _model(loss=MAELoss()).train()
    batches = [_batch(1, seed=2), _batch(6, seed=3, observed_share=0.3), _batch(3, seed=4, observed_share=0.7)]
    model.on_train_epoch_start()
    errors = []
    for batch in batches:
        with torch.no_grad():
            model.training_step(batch, 0)
            forecast = model(batch.past, batch.future, batch.static)[..., 0]
        observed = torch.ones_like(batch.target, dtype=torch.bool) if batch.observed is None else batch.observed
        errors.append((forecast - batch.target)[observed].abs())
    expected = torch.cat(errors).mean()
    assert model.pass_metrics.mean_train_loss.compute().item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("split", ["val", "test"])
def test_the_logged_metrics_pool_the_observed_targets_of_batches_of_unequal_size(split):
    """mse, mae, rmse, mase and their _orig forms over 1, 6 and 3 windows with masks: the metric over all observed
    values together, in original units through each window's own scale and offset; not a mean of batch means."""
    model = _model(normalization=LastValueNormalization).eval()
    batches = [_batch(1, seed=5), _batch(6, seed=6, observed_share=0.3), _batch(3, seed=7, observed_share=0.8)]
    getattr(model, f"on_{'validation' if split == 'val' else 'test'}_epoch_start")()
    rows = []
    for batch in batches:
        with torch.no_grad():
            getattr(model, f"{'validation' if split == 'val' else 'test'}_step")(batch, 0)
            forecast = model(batch.past, batch.future, batch.static)[..., 0]
        observed = torch.ones_like(batch.target, dtype=torch.bool) if batch.observed is None else batch.observed
        scale, offset = batch.target_scale[:, None].expand_as(forecast), batch.target_offset[:, None]
        naive = batch.naive_scale[:, None].expand_as(forecast)
        rows.append(
            torch.stack(
                [
                    (forecast - batch.target)[observed],
                    ((forecast * scale + offset) - (batch.target * scale + offset))[observed],
                    naive[observed],
                    (naive * scale)[observed],
                ]
            )
        )
    error, error_orig, naive, naive_orig = torch.cat(rows, dim=1)
    expected = {
        "mse": error.square().mean(),
        "mae": error.abs().mean(),
        "rmse": error.square().mean().sqrt(),
        "mase": (error.abs() / naive).mean(),
        "mse_orig": error_orig.square().mean(),
        "mae_orig": error_orig.abs().mean(),
        "rmse_orig": error_orig.square().mean().sqrt(),
        "mase_orig": (error_orig.abs() / naive_orig).mean(),
    }
    means = model.pass_metrics.overall_means(split)
    for name, value in expected.items():
        assert means[f"{split}/{name}"].item() == pytest.approx(value.item(), rel=1e-6), name
    assert model.mean_losses[split].compute().item() == pytest.approx(expected["mse"].item(), rel=1e-6)
    batch_means = torch.stack([row[0].square().mean() for row in rows])
    assert not math.isclose(batch_means.mean().item(), expected["mse"].item(), rel_tol=1e-3)


def _hand_normalized(kind, past: torch.Tensor, model: Forecaster) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The window each normalization hands the encoder, and the (loc, scale) that map a forecast back, by hand:
    none; the last value taken out; RevIN's ``(x - mean) / std * w + b``, inverted as ``(y - b) / w * std + mean``."""
    if kind is NoNormalization:
        return past, torch.zeros(1, 1, TARGETS, dtype=past.dtype), torch.ones(1, 1, TARGETS, dtype=past.dtype)
    if kind is LastValueNormalization:
        last = past[:, -1:]
        return past - last, last[..., :TARGETS], torch.ones_like(last[..., :TARGETS])
    mean, deviation = past.mean(1, keepdim=True), (past.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
    weight, bias = model.normalization.weight.detach(), model.normalization.bias.detach()
    loc, scale = mean - bias * deviation / weight, deviation / weight
    return (past - mean) / deviation * weight + bias, loc[..., :TARGETS], scale[..., :TARGETS]


@pytest.mark.parametrize("kind", [NoNormalization, LastValueNormalization, InstanceNormalization])
@pytest.mark.parametrize("loss", [MSELoss(), GaussianNLLLoss(min_scale=0.01), QuantileLoss((0.1, 0.5, 0.9))])
def test_each_normalization_is_inverted_in_the_forecast_as_documented(kind, loss):
    """The head's raw forecast on the hand-normalized window, mapped back by hand: the location by
    ``raw * scale + loc``, a deviation ``softplus(raw) + min_scale`` and the quantile steps by ``|scale|`` (a RevIN
    weight turned negative on the second target)."""
    model = _model(normalization=kind, loss=loss).eval()
    if kind is InstanceNormalization:
        with torch.no_grad():
            model.normalization.weight.copy_(torch.tensor([2.0, -0.5, 3.0]))
            model.normalization.bias.copy_(torch.tensor([0.3, -1.0, 0.2]))
    batch = _batch(4, seed=8)
    past = batch.past * 5 + 40
    normalized, loc, scale = _hand_normalized(kind, past, model)
    softplus = torch.nn.functional.softplus
    with torch.no_grad():
        params = model(past, batch.future, batch.static)
        raw = model.head(
            model.encoder(model.embedding(normalized)), normalized[..., :TARGETS], batch.future, batch.static, None
        )
    location = raw[..., 0] * scale + loc
    if isinstance(loss, MSELoss):
        expected = location.unsqueeze(-1)
    elif isinstance(loss, GaussianNLLLoss):
        expected = torch.stack([location, (softplus(raw[..., 1]) + 0.01) * scale.abs()], -1)
    else:
        median = raw[..., 1] * scale + loc
        steps = softplus(raw[..., [0, 2]]) * scale.abs().unsqueeze(-1)
        expected = torch.stack([median - steps[..., 0], median, median + steps[..., 1]], -1)
    torch.testing.assert_close(params, expected, rtol=1e-12, atol=1e-12)


def test_a_residual_cycle_is_taken_out_of_the_normalized_window_and_added_back_to_the_forecast():
    """CycleNet's path by hand: the cycle at each step's season position leaves the normalized lookback's targets
    before the head, and the horizon's comes back onto the raw forecast before the scale and loc."""
    model = _model(
        normalization=LastValueNormalization, future_size=1, season_channel=0, season_length=4, cycle=ResidualCycle
    ).eval()
    with torch.no_grad():
        model.cycle.values.copy_(torch.arange(8.0).view(4, 2) / 4 - 1)
    batch = _batch(3, seed=9)
    start = torch.tensor([0, 1, 3])
    future = ((start[:, None] + torch.arange(HORIZON)) % 4).double().unsqueeze(-1)  # (B, H, 1): positions
    cycle = model.cycle.values.detach()
    positions = (start[:, None] + torch.arange(-LOOKBACK, HORIZON)) % 4
    past_cycle, future_cycle = cycle[positions[:, :LOOKBACK]], cycle[positions[:, LOOKBACK:]]
    last = batch.past[:, -1:]
    normalized = batch.past - last
    normalized = torch.cat([normalized[..., :TARGETS] - past_cycle, normalized[..., TARGETS:]], -1)
    no_future = future[..., :0]
    with torch.no_grad():
        params = model(batch.past, future, batch.static)
        raw = model.head(
            model.encoder(model.embedding(normalized)), normalized[..., :TARGETS], no_future, batch.static, None
        )
    expected = raw[..., 0] + future_cycle + last[..., :TARGETS]
    torch.testing.assert_close(params[..., 0], expected, rtol=1e-12, atol=1e-12)


def test_predict_step_gives_the_point_forecast_and_quantiles_in_original_units_per_window():
    """Shapes (B, H, C_out) and (B, H, C_out, Q) in float64, the normal's quantiles ``mean + deviation *
    ppf(level)`` (SciPy), each window through its own scale and offset, and its series and first forecast row."""
    levels = (0.05, 0.5, 0.9)
    model = _model(loss=GaussianNLLLoss(levels=levels)).eval()
    batch = _batch(4, seed=10)
    with torch.no_grad():
        prediction = model.predict_step(batch, 0)
        params = model(batch.past, batch.future, batch.static)
    scale, offset = batch.target_scale[:, None], batch.target_offset[:, None]
    quantiles = params[..., :1] + params[..., 1:2] * torch.tensor(norm.ppf(levels))
    assert prediction["forecast"].shape == (4, HORIZON, TARGETS) and prediction["forecast"].dtype == torch.float64
    assert prediction["quantiles"].shape == (4, HORIZON, TARGETS, 3)
    torch.testing.assert_close(prediction["forecast"], params[..., 0] * scale + offset, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        prediction["quantiles"], quantiles * scale.unsqueeze(-1) + offset.unsqueeze(-1), rtol=1e-12, atol=1e-12
    )
    assert prediction["series"].tolist() == [0, 1, 2, 3] and prediction["time"].tolist() == [10, 11, 12, 13]


def test_predict_step_of_a_model_that_fell_back_forecasts_the_last_value_in_original_units():
    model = _model().eval()
    model.naive_fallback = 1
    batch = _batch(2, seed=11)
    with torch.no_grad():
        forecast = model.predict_step(batch, 0)["forecast"]
    last = batch.past[:, -1:, :TARGETS].expand(2, HORIZON, TARGETS)
    torch.testing.assert_close(forecast, last * batch.target_scale[:, None] + batch.target_offset[:, None])
    assert "quantiles" not in model.predict_step(batch, 0)


_CONFIG = {
    "lookback": LOOKBACK,
    "horizon": HORIZON,
    "input_size": INPUTS,
    "target_size": TARGETS,
    "encoder": {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hidden_size": 4}},
    "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.003, "weight_decay": 0.01}},
}


@pytest.mark.parametrize(
    ("scheduler", "interval", "monitor", "settings"),
    [
        ({"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 2, "gamma": 0.5}}, "step",
         "val/loss", {"step_size": 2, "gamma": 0.5}),
        ({"class_path": "torch.optim.lr_scheduler.ReduceLROnPlateau", "init_args": {"factor": 0.2, "patience": 3}},
         "epoch", "val/mae", {"factor": 0.2, "patience": 3}),
    ],
)  # fmt: skip
def test_configure_optimizers_builds_the_configs_class_path_form(scheduler, interval, monitor, settings):
    """The YAML's ``class_path``/``init_args`` of optimizer and scheduler, as the CLI and a checkpoint give them:
    every parameter in one AdamW group at the given settings, the scheduler on it at its interval and monitor."""
    config = _CONFIG | {"lr_scheduler": scheduler, "lr_scheduler_interval": interval, "lr_scheduler_monitor": monitor}
    model = instantiate_module(Forecaster, config)
    built = model.configure_optimizers()
    optimizer, schedule = built["optimizer"], built["lr_scheduler"]
    assert type(optimizer) is torch.optim.AdamW
    (group,) = optimizer.param_groups
    assert (group["lr"], group["weight_decay"]) == (0.003, 0.01)
    assert {id(parameter) for parameter in group["params"]} == {id(parameter) for parameter in model.parameters()}
    assert schedule["scheduler"].optimizer is optimizer
    assert {name: getattr(schedule["scheduler"], name) for name in settings} == settings
    assert (schedule["interval"], schedule["monitor"]) == (interval, monitor)


def _saved_and_loaded(model: Forecaster, tmp_path) -> Forecaster:
    trainer = L.Trainer(default_root_dir=tmp_path, **_QUIET)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    return Forecaster.load(tmp_path / "model.ckpt")


@pytest.mark.parametrize(
    "options",
    [
        dict(normalization=functools.partial(InstanceNormalization, eps=1e-4), loss=QuantileLoss((0.2, 0.5, 0.7)),
             future_size=2, static_size=2, static_cardinalities=[3, 0], static_embedding_size=2),
        dict(embedding=functools.partial(SegmentEmbedding, seg_len=3, embedding_size=5),
             encoder=functools.partial(SRUEncoder, hidden_size=5), head=functools.partial(SegmentHead, seg_len=3),
             channel_independent=True, channel_embedding_size=2, normalization=LastValueNormalization),
        dict(head=AutoregressiveHead, loss=GaussianNLLLoss(min_scale=0.01), future_size=2, season_channel=1,
             season_length=4, cycle=ResidualCycle,
             optimizer=functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9),
             lr_scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3),
             lr_scheduler_interval="step"),
    ],
)  # fmt: skip
def test_a_checkpoints_hyperparameters_rebuild_the_same_model(options, tmp_path):
    """``Forecaster.load`` rebuilds the parts from the recorded specs: the same forward to 1e-12 in float64 (weights
    moved off their initial values, so a part rebuilt at its defaults would show), and the same optimizer."""
    model = _model(**options)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    loaded = _saved_and_loaded(model, tmp_path)
    past, future = torch.randn(3, LOOKBACK, INPUTS), torch.randn(3, HORIZON, model.hparams["future_size"])
    if model.cycle is not None:
        future[..., 1] = torch.tensor([[0.0], [1.0], [3.0]]) + torch.arange(HORIZON) % 4
    static = torch.tensor([[0.0, 0.5], [2.0, -1.0], [1.0, 3.0]])[:, : model.hparams["static_size"]]
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(past, future, static), model.eval()(past, future, static), rtol=1e-12, atol=1e-12
        )
    assert loaded.dtype == torch.float64
    own, rebuilt = model.configure_optimizers(), loaded.configure_optimizers()
    own, rebuilt = (built["optimizer"] if isinstance(built, dict) else built for built in (own, rebuilt))
    assert type(rebuilt) is type(own)
    assert rebuilt.defaults == own.defaults
