import functools

import lightning as L
import pytest
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.losses import GaussianNLLLoss, MAELoss, QuantileLoss
from forecast.nn import GRUEncoder, InstanceNormalization, LinearHead

ONLY_A = Columns(targets=["a"])


def build(**kwargs):
    torch.manual_seed(0)
    options = dict(lookback=12, horizon=4, input_size=3, target_size=2)
    return Forecaster(**(options | kwargs))


@pytest.mark.parametrize("from_sequence", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_forecaster_sizes_the_head_from_encoder_and_loss(from_sequence, bidirectional):
    model = build(
        encoder=functools.partial(GRUEncoder, hidden_size=6, bidirectional=bidirectional),
        head=functools.partial(LinearHead, from_sequence=from_sequence),
    )
    params = model(torch.randn(5, 12, 3), torch.zeros(5, 4, 0), torch.zeros(5, 0))
    assert params.shape == (5, 4, 2, 1)
    width = 12 if bidirectional else 6
    assert model.head.linear.in_features == width * (12 if from_sequence else 1)


def test_forecaster_output_follows_the_level_of_its_input():
    # With instance normalization, shifting and scaling a window shifts and scales its forecast.
    model = build(normalization=InstanceNormalization).eval()
    past = torch.randn(2, 12, 3)
    no_future, no_static = torch.zeros(2, 4, 0), torch.zeros(2, 0)
    base = model(past, no_future, no_static)
    moved = model(past * 3 + 100, no_future, no_static)
    torch.testing.assert_close(moved, base * 3 + 100, rtol=1e-4, atol=1e-3)


def test_forecaster_learns_a_sine(wide_frame):
    data = TimeSeriesDataModule(wide_frame, 24, 6, columns=ONLY_A, split=RowSplit(140, 170), batch_size=16)
    data.setup("fit")
    model = build(lookback=24, horizon=6, input_size=1, target_size=1, loss=MAELoss())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = data.dataset("train").__getitems__(list(range(0, 110, 5)))
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_a_model_validated_before_its_fit_validates_in_the_fit_as_validate_does(wide_frame):
    """``validate`` runs in inference mode and left the loss metric's states inference tensors: the fit's
    own validation (no inference mode) then failed ("Inplace update to inference tensor outside InferenceMode")."""
    data = TimeSeriesDataModule(wide_frame, 24, 6, columns=ONLY_A, split=RowSplit(140, 170))
    model = build(lookback=24, horizon=6, input_size=1, target_size=1)
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    trainer.validate(model, data, verbose=False)
    trainer.fit(model, data)
    in_fit = trainer.callback_metrics["val/loss"].item()
    (after,) = trainer.validate(model, data, verbose=False)
    assert after["val/loss"] == pytest.approx(in_fit, rel=1e-6)


def test_channel_independent_model_treats_channels_alike():
    """Shared weights, no channel embedding: swapping two target channels swaps their forecasts."""
    model = build(input_size=2, target_size=2, channel_independent=True).eval()
    past, no_future, no_static = torch.randn(4, 12, 2), torch.zeros(4, 4, 0), torch.zeros(4, 0)
    forecast = model(past, no_future, no_static)
    swapped = model(past.flip(-1), no_future, no_static)
    torch.testing.assert_close(swapped, forecast.flip(2))


def test_channel_embedding_tells_channels_apart():
    model = build(input_size=2, target_size=2, channel_independent=True, channel_embedding_size=4).eval()
    same = torch.randn(4, 12, 1).expand(-1, -1, 2)  # both channels carry the same history
    forecast = model(same, torch.zeros(4, 4, 0), torch.zeros(4, 0))
    assert not torch.allclose(forecast[:, :, 0], forecast[:, :, 1])


def test_channel_embedding_needs_channel_independence():
    with pytest.raises(ValueError, match="channel_embedding_size=4 needs model.channel_independent"):
        build(channel_embedding_size=4)


@pytest.mark.parametrize(
    ("part", "value", "form"),
    [
        ("encoder", {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hidden_size": 8}}, "a dict"),
        ("encoder", GRUEncoder(3, hidden_size=8), "a built GRUEncoder"),
        ("optimizer", 0.01, "a built float"),
    ],
)
def test_a_part_that_is_no_factory_is_refused_naming_it_and_the_fix(part, value, form):
    # A config file's class_path dict, or a module built already, cannot build the part; before, the
    # dict failed with "'dict' object is not callable" and the module ran its forward on a size.
    with pytest.raises(TypeError, match=rf"model\.{part} is {form}.*functools\.partial"):
        build(**{part: value})


def test_channel_embedding_size_must_not_be_negative():
    with pytest.raises(ValueError, match=r"model.channel_embedding_size=-1 must be at least 0"):
        build(input_size=2, target_size=2, channel_independent=True, channel_embedding_size=-1)


def test_forecaster_with_quantile_loss_reports_coverage_and_quantiles(random_batch):
    model = build(loss=QuantileLoss([0.1, 0.5, 0.9])).eval()
    batch = random_batch(8, 12, 4, 3, 2, scale=2.0, offset=10.0)
    model._evaluate(batch, "test")
    quantiles = model.loss.quantiles(model(batch.past, batch.future, batch.static), (0.1, 0.5, 0.9))
    inside = (quantiles[..., 0] <= batch.target) & (batch.target <= quantiles[..., 2])
    coverage = model.metrics["test"].compute()["coverage"].mean()  # -> the share over all steps and columns
    torch.testing.assert_close(coverage, inside.double().mean())
    prediction = model.predict_step(batch, 0)
    torch.testing.assert_close(prediction["quantiles"], quantiles.double() * 2.0 + 10.0)  # in float64


@pytest.mark.parametrize("loss", [QuantileLoss([0.5]), GaussianNLLLoss(levels=[0.5])], ids=repr)
def test_forecaster_with_one_quantile_level_reports_crps_but_no_coverage(loss, random_batch):
    """One level (a median forecast) has no interval to cover, but its pinball loss and CRPS stand."""
    model = build(loss=loss).eval()
    batch = random_batch(8, 12, 4, 3, 2, scale=2.0, offset=10.0)
    model._evaluate(batch, "val")
    cells = model.metrics["val"].compute()
    assert "coverage" not in cells
    median = model.loss.point(model(batch.past, batch.future, batch.static))
    torch.testing.assert_close(cells["crps"].mean(), (median - batch.target).abs().double().mean())


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_lr_scheduler_steps_at_the_configured_interval(interval, wide_frame, tmp_path):
    """A per-step schedule (OneCycleLR) is stepped after every optimizer step when configured so."""
    data = TimeSeriesDataModule(wide_frame, 24, 6, columns=ONLY_A, split=RowSplit(140, 170), batch_size=16)
    schedule = functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01, total_steps=100)
    model = build(
        lookback=24, horizon=6, input_size=1, target_size=1, lr_scheduler=schedule, lr_scheduler_interval=interval
    )
    trainer = L.Trainer(
        max_steps=5, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path
    )
    trainer.fit(model, data)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)]), max_lr=0.01, total_steps=100
    )
    for _ in range(5 if interval == "step" else 1):  # 5 steps within the first epoch, which max_steps closes
        reference.optimizer.step()
        reference.step()
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(reference.get_last_lr()[0])


def test_the_mean_loss_of_a_pass_weighs_each_batch_by_the_targets_it_scores(random_batch):
    """val/loss is the loss over every observed target of the pass: a batch whose targets were mostly repaired
    counts for the few it scores, not for all its windows (it counted as much as a batch of observed ones)."""
    model = build().eval()
    full, sparse = random_batch(8, 12, 4, 3, 2), random_batch(8, 12, 4, 3, 2)
    sparse.observed = torch.zeros(8, 4, 2, dtype=torch.bool)
    sparse.observed[:, 0, 0] = True  # 8 of its 64 targets observed
    errors = []
    with torch.no_grad():
        for batch in (full, sparse):
            model._evaluate(batch, "val")
            errors.append((model.loss.point(model(batch.past, batch.future, batch.static)) - batch.target) ** 2)
    expected = (errors[0].sum() + errors[1][sparse.observed].sum()) / (64 + 8)
    assert model.mean_losses["val"].compute().item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("monitor", ["val/loss", "val/mse_orig"])
def test_a_per_step_plateau_scheduler_on_a_validation_metric_is_refused_naming_the_keys(monitor):
    """ReduceLROnPlateau stepped every optimizer step reads its metric before validation has logged it: Lightning
    raised its MisconfigurationException after the first training step; the model refuses it before training."""
    model = build(
        lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau,
        lr_scheduler_interval="step",
        lr_scheduler_monitor=monitor,
    )
    with pytest.raises(ValueError, match=f"model.lr_scheduler_monitor={monitor}.*train/loss.*lr_scheduler_interval"):
        model.configure_optimizers()


def test_a_per_step_plateau_scheduler_on_the_training_loss_is_configured():
    model = build(
        lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau,
        lr_scheduler_interval="step",
        lr_scheduler_monitor="train/loss",
    )
    config = model.configure_optimizers()["lr_scheduler"]
    assert (config["interval"], config["monitor"]) == ("step", "train/loss")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"optimizer": functools.partial(torch.optim.Adam, lr=-1.0)},
            r"model\.optimizer: Invalid learning rate: -1\.0",
        ),
        (
            {"lr_scheduler": functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01)},
            r"model\.lr_scheduler: You must define either total_steps",
        ),
        (
            {"lr_scheduler": functools.partial(torch.optim.lr_scheduler.StepLR, step=3)},
            r"model\.lr_scheduler: .*unexpected keyword argument 'step'",
        ),
    ],
)
def test_an_optimizer_or_scheduler_torch_refuses_names_its_config_key(options, message):
    """torch's own refusal (a negative learning rate, OneCycleLR without its length) came without the key to fix."""
    with pytest.raises((ValueError, TypeError), match=message):
        build(**options).configure_optimizers()


def test_model_bfloat16_reads_float32_windows_as_model_to_bfloat16_does():
    """README: predict runs in the model's dtype, ``model.bfloat16()`` too. It left Lightning's ``dtype`` at float32,
    so the float32 windows reached the bfloat16 GRU uncast: "RNN input dtype (torch.float32) does not match"."""
    model = build().eval()
    past, future, static = torch.randn(2, 12, 3), torch.zeros(2, 4, 0), torch.zeros(2, 0)
    with torch.no_grad():
        expected = build().eval().to(torch.bfloat16)(past, future, static)
        params = model.bfloat16()(past, future, static)
    assert model.dtype == torch.bfloat16
    torch.testing.assert_close(params, expected, rtol=0, atol=0)


def test_a_bfloat16_model_reads_float32_windows_and_category_codes_above_256_exactly():
    """bfloat16 holds whole numbers only to 256 (257 rounds to 256): the codes are read before the inputs are cast."""
    model = build(static_size=1, static_cardinalities=[300]).eval()
    with torch.no_grad():
        model.static_embedding.embeddings[0].weight[256:258] = torch.tensor([[-1.0], [1.0]]).expand(2, 4)
    bf16 = model.to(torch.bfloat16)
    past, future = torch.randn(1, 12, 3).expand(2, 12, 3), torch.zeros(2, 4, 0)  # one window, two categories
    codes = torch.tensor([[256.0], [257.0]])
    with torch.no_grad():
        params = bf16(past, future, codes)
    assert params.dtype == torch.bfloat16
    assert not torch.equal(params[0], params[1])  # code 257 is its own category, not 256's
