"""The network audited as a whole: every encoder with every head and normalization, and its precisions on the CPU.

References are written here: windows perturbed one at a time, a hand-built zero network, a channel swap, and the
options' keys as a config names them.
"""

import functools
import itertools
import warnings

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader

from forecast import Forecaster, TimeSeriesDataModule
from forecast.batch import Batch
from forecast.data.options import Calendar
from forecast.losses import GaussianNLLLoss, MSELoss, QuantileLoss
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    IdentityEncoder,
    InstanceNormalization,
    LastValueNormalization,
    LinearEmbedding,
    LinearHead,
    LookbackLinearHead,
    LSTMEncoder,
    NoNormalization,
    ResidualCycle,
    RNNEncoder,
    SeasonalNaiveHead,
    SegmentEmbedding,
    SegmentHead,
    SRUEncoder,
)

ENCODERS = {
    "rnn": functools.partial(RNNEncoder, hidden_size=4),
    "lstm": functools.partial(LSTMEncoder, hidden_size=4, num_layers=2),
    "gru": functools.partial(GRUEncoder, hidden_size=4),
    "bigru": functools.partial(GRUEncoder, hidden_size=4, bidirectional=True),
    "sru": functools.partial(SRUEncoder, hidden_size=4, num_layers=2),
}
HEADS = {
    "linear": functools.partial(LinearHead, from_sequence=True),
    "segment": functools.partial(SegmentHead, seg_len=3),  # 3 does not divide the horizon 4
    "autoregressive": functools.partial(AutoregressiveHead, step=2, teacher_forcing=1.0),
}
NORMALIZATIONS = {"none": NoNormalization, "revin": InstanceNormalization, "last": LastValueNormalization}
LOOKBACK, HORIZON, INPUTS, TARGETS, FUTURE, STATIC = 8, 4, 3, 2, 1, 1


def model_of(encoder: str, head: str, normalization: str, independent: bool) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(
        LOOKBACK, HORIZON, INPUTS, TARGETS, FUTURE, STATIC, encoder=ENCODERS[encoder], head=HEADS[head],
        normalization=NORMALIZATIONS[normalization], loss=GaussianNLLLoss(), channel_independent=independent,
        channel_embedding_size=2 if independent else 0,
    ).eval()  # fmt: skip


def windows(batch: int = 3) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    past = torch.randn(batch, LOOKBACK, INPUTS) * 2 + 5
    return past, torch.randn(batch, HORIZON, FUTURE), torch.randn(batch, STATIC), torch.randn(batch, HORIZON, TARGETS)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_each_windows_forecast_reads_its_own_window_and_never_the_target_outside_training(encoder):
    """Perturbing window 1's inputs moves its forecast only; the target changes nothing in eval mode (teacher
    forcing, here at probability 1, is for training): for every head, normalization and channel layout."""
    past, future, static, target = windows()
    for head, normalization, independent in itertools.product(HEADS, NORMALIZATIONS, [False, True]):
        model = model_of(encoder, head, normalization, independent)
        moved_past, moved_future, moved_static = past.clone(), future.clone(), static.clone()
        moved_past[1] += 3
        moved_future[1] -= 2
        moved_static[1] += 1
        with torch.no_grad():
            params = model(past, future, static)
            moved = model(moved_past, moved_future, moved_static)
            told = model(past, future, static, target * 100)
        case = (head, normalization, independent)
        assert params.shape == (3, HORIZON, TARGETS, 2), case
        torch.testing.assert_close(moved[[0, 2]], params[[0, 2]], msg=f"batch rows mixed: {case}")
        assert not torch.allclose(moved[1], params[1]), case
        torch.testing.assert_close(told, params, rtol=0, atol=0, msg=f"the target leaked: {case}")


@pytest.mark.parametrize("head", HEADS)
def test_a_network_forecasting_zero_gives_a_constant_window_its_own_level_in_original_units(head):
    """Normalization's inverse restores the units: a zero raw forecast of a flat window is its level (RevIN: less
    its bias times the flat window's deviation sqrt(eps), over its weight)."""
    levels = torch.tensor([1234.5, -7.25, 3.0])
    past = levels.expand(2, LOOKBACK, INPUTS).clone()
    future, static = torch.randn(2, HORIZON, FUTURE), torch.randn(2, STATIC)
    for normalization, independent in itertools.product(["revin", "last"], [False, True]):
        model = model_of("gru", head, normalization, independent)
        with torch.no_grad():
            model.head.linear.weight.zero_()
            model.head.linear.bias.zero_()
            expected = levels[:TARGETS].expand(2, HORIZON, TARGETS).double()
            if normalization == "revin":
                model.normalization.bias.fill_(0.5)
                model.normalization.weight.fill_(-2.0)
                expected = expected - 0.5 * model.normalization.eps**0.5 / -2.0
            forecast = model.loss.point(model(past, future, static))
        torch.testing.assert_close(forecast.double(), expected, rtol=1e-6, atol=1e-4)


def test_channel_independence_gives_each_channel_its_own_embedding_row():
    """Swapping two target channels and their embedding rows swaps their forecasts: channel c of every window
    reads row c (rows assigned per window, not per channel block, would give window 0 row 0 for both)."""
    past, future, static, _ = windows(batch=2)
    model = model_of("gru", "segment", "last", independent=True)
    swapped_model = model_of("gru", "segment", "last", independent=True)
    with torch.no_grad():
        model.channel_embedding.weight.copy_(torch.tensor([[3.0, -1.0], [-2.0, 4.0]]))
        swapped_model.channel_embedding.weight.copy_(model.channel_embedding.weight.flip(0))
        swapped_past = past[..., [1, 0, 2]]
        params = model(past, future, static)
        swapped = swapped_model(swapped_past, future, static)
    torch.testing.assert_close(swapped, params.flip(2))
    assert not torch.allclose(params[..., 0, :], params[..., 1, :])


def loader(past: torch.Tensor, future: torch.Tensor, static: torch.Tensor, target: torch.Tensor) -> DataLoader:
    windows = len(past)
    batch = Batch(
        past=past, future=future, static=static, target=target, series=torch.zeros(windows, dtype=torch.long),
        time=torch.zeros(windows, dtype=torch.long), target_scale=torch.ones(windows, TARGETS, dtype=torch.float64),
        target_offset=torch.zeros(windows, TARGETS, dtype=torch.float64), naive_scale=torch.ones(windows, TARGETS),
    )  # fmt: skip
    return DataLoader([batch, batch], batch_size=None)


class _LossDtypes(L.Callback):
    def __init__(self):
        self.dtypes = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.dtypes.append(outputs["loss"].dtype)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_bf16_mixed_trains_every_encoder_on_the_cpu_with_a_float32_loss(encoder):
    """Two steps under CPU autocast, with the autoregressive head (its decoder steps through the encoder's
    own layers) and a quantile loss: a float32 loss, finite weights and a finite validation loss."""
    torch.manual_seed(0)
    model = Forecaster(
        LOOKBACK, HORIZON, INPUTS, TARGETS, FUTURE, STATIC, encoder=ENCODERS[encoder],
        head=functools.partial(AutoregressiveHead, teacher_forcing=0.5), normalization=InstanceNormalization,
        loss=QuantileLoss(), channel_independent=True, channel_embedding_size=2,
    )  # fmt: skip
    spy = _LossDtypes()
    trainer = L.Trainer(
        precision="bf16-mixed", max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[spy],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's few-workers hints; the encoders' float32-under-autocast note
        trainer.fit(model, loader(*windows()), loader(*windows()))
    assert spy.dtypes == [torch.float32, torch.float32]
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())
    assert torch.isfinite(trainer.callback_metrics["val/loss"])


SIZES = [
    ("encoder", functools.partial(GRUEncoder, hidden_size=8.0), "model.encoder.init_args.hidden_size=8.0"),
    ("encoder", functools.partial(LSTMEncoder, num_layers=2.0), "model.encoder.init_args.num_layers=2.0"),
    ("encoder", functools.partial(SRUEncoder, hidden_size=4.0), "model.encoder.init_args.hidden_size=4.0"),
    ("encoder", functools.partial(SRUEncoder, projection_size=2.0), "model.encoder.init_args.projection_size=2.0"),
    ("embedding", functools.partial(LinearEmbedding, embedding_size=4.0), "model.embedding.init_args.embedding_size"),
    ("embedding", functools.partial(SegmentEmbedding, seg_len=4.0), "model.embedding.init_args.seg_len=4.0"),
    ("head", functools.partial(SegmentHead, seg_len=2.0), "model.head.init_args.seg_len=2.0"),
    ("head", functools.partial(SegmentHead, seg_len=2, position_size=4.0), "model.head.init_args.position_size"),
    ("head", functools.partial(AutoregressiveHead, step=2.0), "model.head.init_args.step=2.0"),
    ("head", functools.partial(SeasonalNaiveHead, period=2.0), "model.head.init_args.period=2.0"),
    ("head", functools.partial(LookbackLinearHead, moving_average=3.0), "model.head.init_args.moving_average=3.0"),
]


@pytest.mark.parametrize(("part", "factory", "key"), SIZES, ids=[key.split("=")[0] for *_, key in SIZES])
def test_a_size_option_that_is_no_int_is_refused_naming_its_key(part, factory, key):
    """``hidden_size=512 / 2`` (a float) failed deep in torch ("must be tuple of ints", "input_size should be of
    type int": the wrong option), or as an IndexError of the seasonal naive forecast's steps."""
    encoder = IdentityEncoder if factory.func in (SeasonalNaiveHead, LookbackLinearHead) else GRUEncoder
    parts = {"encoder": encoder, part: factory}
    with pytest.raises(TypeError, match=rf"{key}.* is not a whole number; give an int"):
        Forecaster(lookback=8, horizon=4, input_size=2, target_size=2, loss=MSELoss(), **parts)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channel_independent": True, "channel_embedding_size": 2.0}, r"channel_embedding_size=2\.0 is not a whole"),
        ({"static_size": 1, "static_cardinalities": [3], "static_embedding_size": 2.0},
         r"static_embedding_size=2\.0: .* a whole number of 1 or more"),
    ],
)  # fmt: skip
def test_an_embedding_size_of_the_forecaster_that_is_no_int_is_refused_naming_its_key(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Forecaster(lookback=8, horizon=4, input_size=2, target_size=2, **options)


def hourly_data() -> TimeSeriesDataModule:
    """200 hourly rows, calendar features ``dayofweek`` then ``season`` (integer): the season is channel 1 of 24."""
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(200) / 3.0)}, index)
    calendar = Calendar(features=["dayofweek", "season"], encoding="integer")
    return TimeSeriesDataModule(frame, lookback=24, horizon=6, calendar=calendar, batch_size=32)


@pytest.mark.parametrize(
    ("season", "message"),
    [({"season_channel": 0, "season_length": 24}, r"season_channel=0, but the data module gives season_channel=1"),
     ({"season_channel": 1, "season_length": 12}, r"season_length=12, but the data module gives season_length=24")],
    ids=["channel", "length"],
)  # fmt: skip
def test_a_cycle_built_apart_from_its_data_must_read_the_datas_season(season, message, tmp_path):
    """Built in Python beside the data module, a cycle of another season channel read ``dayofweek`` as the
    steps' positions silently; one of another season length failed as torch's size mismatch in setup."""
    data = hourly_data()
    assert (data.season_channel, data.season_length) == (1, 24)
    model = Forecaster(
        lookback=24, horizon=6, input_size=1, target_size=1, future_size=2, cycle=ResidualCycle, **season
    )
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, default_root_dir=tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match=message + r".*Forecaster\(season_\w+=data\.season_\w+"):
        trainer.fit(model, data)


@pytest.mark.parametrize("encoder", [RNNEncoder, LSTMEncoder, GRUEncoder, SRUEncoder])
def test_numpy_integer_sizes_build_every_encoder_and_the_decoders_built_from_it(encoder):
    """Sizes from a NumPy grid (``np.arange``), which the checks take as whole numbers: torch.nn's recurrent
    layers refused them ("hidden_size should be of type int, got: int64"), also as the input size that an
    embedding's or a decoder's NumPy size gave them."""
    sizes = np.arange(1, 9)
    model = Forecaster(
        lookback=8, horizon=4, input_size=2, target_size=2, encoder=functools.partial(encoder, hidden_size=sizes[3]),
        embedding=functools.partial(LinearEmbedding, embedding_size=sizes[2]),
        head=functools.partial(SegmentHead, seg_len=sizes[1], position_size=sizes[2]),
    )  # fmt: skip
    params = model(torch.randn(3, 8, 2), torch.zeros(3, 4, 0), torch.zeros(3, 0))
    assert params.shape == (3, 4, 2, 1)


def small_gru(input_size: int, hidden: int = 4) -> GRUEncoder:
    """A module-level function that builds an encoder: no class, so no checkpoint can rebuild it."""
    return GRUEncoder(input_size, hidden_size=hidden)


def test_a_partial_of_a_function_is_refused_before_fit_as_the_function_itself_is():
    """``functools.partial(small_gru, hidden=4)`` passed: the fit ran and wrote checkpoints recording
    ``small_gru``, which ``Forecaster.load`` then refused as no subclass of ``Encoder``."""
    with pytest.raises(TypeError, match=r"model\.encoder is a function, which a checkpoint cannot rebuild"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, encoder=functools.partial(small_gru, hidden=4))


@pytest.mark.parametrize(
    "scheduler",
    [
        functools.partial(lr_scheduler.OneCycleLR, max_lr=np.float64(0.01), total_steps=10),
        functools.partial(lr_scheduler.CyclicLR, base_lr=np.float64(1e-4), max_lr=np.float64(1e-2)),
        functools.partial(lr_scheduler.LinearLR, start_factor=np.float64(0.5), total_iters=np.int64(4)),
        functools.partial(lr_scheduler.MultiStepLR, milestones=list(np.arange(2, 4)), gamma=0.5),
    ],
    ids=["one_cycle", "cyclic", "linear", "multi_step"],
)
def test_a_schedule_of_numpy_settings_saves_states_that_load_without_running_code(scheduler, tmp_path):
    """The scheduler wrote NumPy numbers into the optimizer's groups (OneCycleLR's max_lr, initial_lr, min_lr,
    and each step's lr from them) or kept them in a Counter (MultiStepLR's milestones): the checkpoint of such a
    fit did not load with ``weights_only=True`` ("it holds a numpy._core.multiarray.scalar object")."""
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, lr_scheduler=scheduler)
    config = model.configure_optimizers()
    optimizer, schedule = config["optimizer"], config["lr_scheduler"]["scheduler"]
    for _ in range(3):
        model(torch.randn(2, 8, 1), torch.zeros(2, 4, 0), torch.zeros(2, 0)).sum().backward()
        optimizer.step()
        schedule.step()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict()}, tmp_path / "states.pt")
    states = torch.load(tmp_path / "states.pt", weights_only=True)
    assert states["optimizer"]["param_groups"][0]["lr"] == optimizer.param_groups[0]["lr"]


def test_an_eps_given_as_text_is_refused_naming_its_key():
    with pytest.raises(TypeError, match=r"model.normalization.init_args.eps='1e-5' is not a number"):
        InstanceNormalization(3, eps="1e-5")
