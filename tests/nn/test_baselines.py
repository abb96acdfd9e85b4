import functools
from pathlib import Path

import lightning
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.nn import (
    GRUEncoder,
    IdentityEncoder,
    LastValueHead,
    LinearEmbedding,
    LookbackLinearHead,
    LookbackMeanHead,
    SeasonalNaiveHead,
)

ROOT = Path(__file__).resolve().parents[2]
L, H = 6, 7
# Two windows of two target channels and one past covariate (targets come first).
PAST = torch.arange(2 * L * 3, dtype=torch.float32).view(2, L, 3) ** 1.5


def forecast(head, **kwargs) -> torch.Tensor:
    model = Forecaster(lookback=L, horizon=H, input_size=3, target_size=2, encoder=IdentityEncoder, head=head, **kwargs)
    return model(PAST, torch.zeros(2, H, 0), torch.zeros(2, 0))[..., 0]  # -> (B, H, C_out)


def test_last_value_repeats_each_targets_last_observation():
    expected = PAST[:, -1:, :2].expand(-1, H, -1)
    torch.testing.assert_close(forecast(LastValueHead), expected)


def test_seasonal_naive_repeats_the_last_season():
    # Period 3 over lookback 6: steps 1..7 repeat rows 3, 4, 5, 3, 4, 5, 3.
    expected = PAST[:, [3, 4, 5, 3, 4, 5, 3], :2]
    torch.testing.assert_close(forecast(functools.partial(SeasonalNaiveHead, period=3)), expected)


def test_lookback_mean_repeats_each_targets_mean():
    expected = PAST[..., :2].mean(1, keepdim=True).expand(-1, H, -1)
    torch.testing.assert_close(forecast(LookbackMeanHead), expected)


def test_lookback_linear_is_one_shared_map_of_each_channels_lookback():
    torch.manual_seed(0)
    model = Forecaster(lookback=L, horizon=H, input_size=3, target_size=2, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    weight, bias = model.head.weight[0, 0].detach().numpy(), model.head.bias[0, 0].detach().numpy()  # (H, L), (H,)
    expected = np.einsum("hl,blc->bhc", weight, PAST[..., :2].numpy()) + bias[None, :, None]
    result = model(PAST, torch.zeros(2, H, 0), torch.zeros(2, 0))[..., 0]
    np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-5)


def test_lookback_linear_individual_maps_each_channel_by_its_own_weights():
    """With ``individual`` and a moving average, channel c's forecast is its remainder through map c of the first
    part plus its trend through map c of the second, with both parts' biases."""
    torch.manual_seed(0)
    head = functools.partial(LookbackLinearHead, individual=True, moving_average=3)
    model = Forecaster(lookback=L, horizon=H, input_size=3, target_size=2, encoder=IdentityEncoder, head=head)
    with torch.no_grad():
        model.head.bias.normal_()  # zero at the start: give each part and channel its own
    weight, bias = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()  # (2, C, H, L), (2, C, H)
    window = PAST[..., :2].numpy()
    padded = np.concatenate([window[:, :1], window, window[:, -1:]], axis=1)
    trend = (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3
    expected = np.einsum("chl,blc->bhc", weight[0], window - trend) + np.einsum("chl,blc->bhc", weight[1], trend)
    expected += (bias[0] + bias[1]).T[None]
    result = model(PAST, torch.zeros(2, H, 0), torch.zeros(2, 0))[..., 0]
    np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-5)


def test_lookback_linear_individual_under_channel_independence_is_one_map_for_all_channels():
    head = functools.partial(LookbackLinearHead, individual=True)
    model = Forecaster(lookback=L, horizon=H, input_size=2, target_size=2, encoder=IdentityEncoder, head=head,
                       channel_independent=True)  # fmt: skip
    assert model.head.weight.shape[1] == 1  # (parts, maps, H * P, L): the head sees one channel at a time


def test_lookback_linear_with_moving_average_maps_trend_and_remainder_apart():
    torch.manual_seed(0)
    head = functools.partial(LookbackLinearHead, moving_average=3)
    model = Forecaster(lookback=L, horizon=H, input_size=3, target_size=2, encoder=IdentityEncoder, head=head)
    window = PAST[..., :2].numpy()  # -> (B, L, C)
    padded = np.concatenate([window[:, :1], window, window[:, -1:]], axis=1)
    trend = (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3
    weight, bias = model.head.weight[:, 0].detach().numpy(), model.head.bias[:, 0].detach().numpy()  # (2, H, L)
    expected = np.einsum("hl,blc->bhc", weight[0], window - trend) + np.einsum("hl,blc->bhc", weight[1], trend)
    expected += (bias[0] + bias[1])[None, :, None]
    result = model(PAST, torch.zeros(2, H, 0), torch.zeros(2, 0))[..., 0]
    np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("head", [LastValueHead, SeasonalNaiveHead, LookbackMeanHead], ids=lambda h: h.__name__)
def test_naive_baselines_have_nothing_to_train(head):
    model = Forecaster(lookback=24, horizon=H, input_size=3, target_size=2, encoder=IdentityEncoder, head=head)
    assert sum(parameter.numel() for parameter in model.parameters()) == 0
    assert model.configure_optimizers() is None


def test_seasonal_naive_period_longer_than_lookback_names_the_key():
    with pytest.raises(ValueError, match=r"model.head.init_args.period=8 must lie in \[1, lookback=6\]"):
        forecast(functools.partial(SeasonalNaiveHead, period=8))


def test_seasonal_naive_without_a_period_repeats_the_datas_season():
    """The season the data module links into the model (``season_length``: 24 for hourly data), 3 steps here: the
    forecast of ``period=3``; without one (``season_length`` 1, as for data without a common season), the last
    value."""
    torch.testing.assert_close(forecast(SeasonalNaiveHead, season_length=3), PAST[:, [3, 4, 5, 3, 4, 5, 3], :2])
    torch.testing.assert_close(forecast(SeasonalNaiveHead), forecast(LastValueHead))


def test_seasonal_naive_of_a_season_longer_than_the_lookback_names_the_fix():
    with pytest.raises(ValueError, match=r"the data's season has 8 steps, more than data.lookback=6: .* raise "
                       r"data.lookback to 8 or more, or set the period"):  # fmt: skip
        forecast(SeasonalNaiveHead, season_length=8)


def test_seasonal_naive_built_in_python_without_the_datas_season_is_refused_naming_it():
    """Built in Python, a Forecaster has no season (``season_length`` 1) unless given the data module's: its seasonal
    naive was the last value, tested on hourly data as if it were the 24-step seasonal naive. Given the data's
    season it tests as numpy's 24-step seasonal naive on the same windows."""
    values = np.sin(np.arange(400) * 2 * np.pi / 24)[:, None] + np.arange(400)[:, None] / 400 * np.array([[1.0, 2.0]])
    frame = pd.DataFrame(values, columns=["a", "b"], index=pd.date_range("2024-01-01", periods=400, freq="h"))
    data = TimeSeriesDataModule(frame, lookback=48, horizon=24)
    trainer = lightning.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)

    def model(**season) -> Forecaster:
        return Forecaster(lookback=48, horizon=24, input_size=2, target_size=2, encoder=IdentityEncoder,
                          head=SeasonalNaiveHead, **season)  # fmt: skip

    with pytest.raises(ValueError, match=r"season_length=1, but the data module gives season_length=24: .*"
                                         r"Forecaster\(season_length=data.season_length"):  # fmt: skip
        trainer.test(model(), data, verbose=False)
    mse = trainer.test(model(season_length=data.season_length), data, verbose=False)[0]["test/mse_orig"]
    test_start = 400 - int(400 * 0.2)  # FractionSplit's test rows
    errors = [values[start - 24 : start] - values[start : start + 24] for start in range(test_start, 400 - 24 + 1)]
    assert mse == pytest.approx(np.mean(np.square(errors)), rel=1e-5)


def test_baseline_head_behind_a_recurrent_encoder_says_which_encoder_to_use():
    with pytest.raises(ValueError, match="model.encoder: forecast.nn.IdentityEncoder"):
        Forecaster(lookback=L, horizon=H, input_size=3, target_size=2, encoder=GRUEncoder, head=LastValueHead)


@pytest.mark.parametrize(("freq", "season"), [("h", 24), ("D", 7), ("W-SUN", 52)])
def test_seasonal_naive_config_tests_without_fit_or_checkpoint(freq, season, wide_frame, tmp_path, tiny_cli):
    """The CLI's test of the seasonal naive config gives the numpy seasonal-naive error on the same windows, of the
    season of the data's frequency (the config's head had a period of 24 steps, whatever the data)."""
    frame = wide_frame.set_axis(pd.date_range("2024-01-07", periods=len(wide_frame), freq=freq, name="date"))
    frame.to_csv(tmp_path / "wide.csv")
    args = ["test", "--config", str(ROOT / "configs/etth1/seasonal_naive.yaml"),
            *tiny_cli(tmp_path / "wide.csv", tmp_path, lookback=60, horizon=30)]  # fmt: skip
    scores = main(args).trainer.callback_metrics
    values = frame.to_numpy()
    test_start = len(values) - int(len(values) * 0.2)  # FractionSplit's test rows
    errors = []
    for start in range(test_start, len(values) - 30 + 1):
        seasonal = values[start - season : start][np.arange(30) % season]
        errors.append(seasonal - values[start : start + 30])
    assert scores["test/mse_orig"].item() == pytest.approx(np.mean(np.square(errors)), rel=1e-5)
    assert scores["test/mae_orig"].item() == pytest.approx(np.mean(np.abs(errors)), rel=1e-5)


@pytest.mark.parametrize(
    "head",
    [LastValueHead, functools.partial(SeasonalNaiveHead, period=3), LookbackMeanHead, LookbackLinearHead],
    ids=["last_value", "seasonal_naive", "lookback_mean", "lookback_linear"],
)
def test_baseline_head_behind_a_recurrent_encoder_of_the_windows_width_is_refused(head):
    """A GRU whose hidden size equals the window's channels has the window's shape, but is not the window."""
    with pytest.raises(ValueError, match="model.encoder: forecast.nn.IdentityEncoder"):
        Forecaster(
            lookback=L,
            horizon=H,
            input_size=3,
            target_size=2,
            encoder=functools.partial(GRUEncoder, hidden_size=3),
            head=head,
        )


def test_baseline_heads_read_the_window_not_an_embedding_of_its_width():
    """Behind a LinearEmbedding of the window's own width, the last value is still the window's last value."""
    embedding = functools.partial(LinearEmbedding, embedding_size=3)
    model = Forecaster(
        lookback=L,
        horizon=H,
        input_size=3,
        target_size=2,
        encoder=IdentityEncoder,
        head=LastValueHead,
        embedding=embedding,
    )
    last = model(PAST, torch.zeros(2, H, 0), torch.zeros(2, 0))[..., 0]
    torch.testing.assert_close(last, PAST[:, -1:, :2].expand(-1, H, -1))
