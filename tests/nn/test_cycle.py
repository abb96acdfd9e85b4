import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster
from forecast.cli import main
from forecast.nn import GRUEncoder, IdentityEncoder, LastValueHead, LinearHead, ResidualCycle

L, H, PERIOD = 30, 20, 24
PATTERN = torch.stack([torch.sin(torch.arange(PERIOD) / 3.0), torch.arange(PERIOD) % 5 - 2.0], dim=1)  # (24, 2)


def windows(starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows of a series that is the pattern itself, and their positions in the season as ``future``.

    Shapes:
        starts: (B,) positions of the first lookback steps -> past (B, L, 2), future (B, H, 1), target (B, H, 2)
    """
    positions = (starts[:, None] + torch.arange(L + H)) % PERIOD  # -> (B, L + H)
    series = PATTERN[positions]  # -> (B, L + H, 2)
    return series[:, :L], positions[:, L:, None].float(), series[:, L:]


def model(**kwargs) -> Forecaster:
    sizes = dict(lookback=L, horizon=H, input_size=2, target_size=2, future_size=1, season_channel=0)
    return Forecaster(**sizes, season_length=PERIOD, cycle=ResidualCycle, **kwargs)


def test_cycle_is_taken_out_of_the_lookback_and_put_into_the_forecast_at_each_steps_position():
    """With the pattern as its cycle, the lookback's residual is zero, so the last value of the residual
    (0) plus the horizon's cycle is the pattern itself: exact only if both sides are aligned."""
    forecaster = model(encoder=IdentityEncoder, head=LastValueHead)
    with torch.no_grad():
        forecaster.cycle.values.copy_(PATTERN)
    past, future, target = windows(torch.tensor([0, 5, 23, 17]))
    forecast = forecaster(past, future, torch.zeros(4, 0))[..., 0]
    torch.testing.assert_close(forecast, target)
    shifted = windows(torch.tensor([1, 6, 0, 18]))[1]  # positions one step off
    assert (forecaster(past, shifted, torch.zeros(4, 0))[..., 0] - target).abs().max() > 0.5


def test_cycle_learns_the_seasons_shape():
    """Trained on the pattern plus noise, the learned cycle is the pattern up to a constant per channel."""
    torch.manual_seed(0)
    forecaster = model(encoder=IdentityEncoder, head=LastValueHead)  # only the cycle learns
    optimizer = torch.optim.Adam(forecaster.parameters(), lr=0.05)
    for _ in range(300):
        past, future, target = windows(torch.randint(0, PERIOD, (64,)))
        past, target = past + 0.1 * torch.randn_like(past), target + 0.1 * torch.randn_like(target)
        loss = forecaster.loss(forecaster(past, future, torch.zeros(64, 0)), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    learned = forecaster.cycle.values.detach()
    torch.testing.assert_close(learned - learned.mean(0), PATTERN - PATTERN.mean(0), atol=0.06, rtol=0)


def test_head_does_not_see_the_seasons_channel():
    forecaster = model(encoder=GRUEncoder, head=LinearHead)
    assert forecaster.dims.future_size == 0
    past, future, _ = windows(torch.tensor([3, 4]))
    assert forecaster(past, future, torch.zeros(2, 0)).shape == (2, H, 2, 1)


def test_cycle_without_the_season_feature_names_the_fix():
    with pytest.raises(ValueError, match=r"data\.calendar: \{features: \[season\], encoding: integer\}"):
        Forecaster(lookback=L, horizon=H, input_size=2, target_size=2, cycle=ResidualCycle)


@pytest.fixture
def hourly(tmp_path) -> pd.DataFrame:
    """600 hourly rows of the pattern's second channel (starting at 07:00) with noise, also written to hourly.csv."""
    index = pd.date_range("2024-01-01 07:00", periods=600, freq="h", name="date")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": PATTERN[np.arange(7, 607) % PERIOD, 1].numpy() + 0.1 * rng.standard_normal(600)}, index)
    frame.to_csv(tmp_path / "hourly.csv")
    return frame


def fit_args(tmp_path, tiny_cli, *extra: str, run: str = "run") -> list[str]:
    return ["fit", *tiny_cli(tmp_path / "hourly.csv", tmp_path / run, lookback=L, horizon=H),
            "--model.cycle", "forecast.nn.ResidualCycle", "--model.encoder", "forecast.nn.IdentityEncoder",
            "--model.head", "forecast.nn.LastValueHead", "--model.normalization", "forecast.nn.LastValueNormalization",
            "--data.calendar", '{"features": ["season"], "encoding": "integer"}', "--data.batch_size", "32",
            *extra]  # fmt: skip


def test_fit_starts_the_cycle_at_the_training_rows_seasonal_profile(hourly, tmp_path, tiny_cli):
    """With a learning rate of 0 the cycle stays where fit started it: each hour's mean of the scaled
    training rows, less their mean (as pandas computes it); a resumed fit keeps its checkpoint's cycle."""
    cli = main(fit_args(tmp_path, tiny_cli, "--trainer.max_epochs", "1", "--model.optimizer.lr", "0"))
    train = hourly["y"].iloc[: int(cli.datamodule.borders[0, 0])]
    scaled = (train - train.mean()) / train.std(ddof=0)
    profile = scaled.groupby(train.index.hour).mean()
    expected = (profile - profile.mean()).to_numpy()
    np.testing.assert_allclose(cli.model.cycle.values[:, 0].detach().numpy(), expected, atol=1e-5)

    trained = main(fit_args(tmp_path, tiny_cli, "--trainer.max_epochs", "1", "--model.optimizer.lr", "0.05", run="b"))
    cycle = trained.model.cycle.values.detach().clone()
    resumed = main(fit_args(tmp_path, tiny_cli, "--trainer.max_epochs", "1", "--ckpt_path", "last", run="b"))
    torch.testing.assert_close(resumed.model.cycle.values.detach(), cycle)
    assert (cycle[:, 0] - torch.from_numpy(expected).float()).abs().max() > 1e-3  # training moved it


def test_cli_fit_learns_a_cycle_that_predict_and_a_reload_use(hourly, tmp_path, tiny_cli):
    """Through the CLI on hourly data the cycle of season 24 is the pattern's, and ``Forecaster.predict`` of the
    reloaded checkpoint forecasts with it (zeroing it changes the forecast)."""
    cli = main(fit_args(tmp_path, tiny_cli, "--trainer.max_epochs", "4", "--model.optimizer.lr", "0.01"))
    assert cli.model.cycle.values.shape == (PERIOD, 1)
    loaded = Forecaster.load(cli.trainer.checkpoint_callback.last_model_path)
    learned = loaded.cycle.values.detach()[:, 0]
    truth = PATTERN[:, 1]
    assert np.corrcoef(learned.numpy(), truth.numpy())[0, 1] > 0.99
    forecast = loaded.predict(hourly)["y"].to_numpy()
    future_positions = (np.arange(600, 600 + H) + 7) % PERIOD
    np.testing.assert_allclose(forecast, truth[future_positions].numpy(), atol=0.25)  # the season goes on
    with torch.no_grad():
        loaded.cycle.values.zero_()
    assert np.abs(loaded.predict(hourly)["y"].to_numpy() - forecast).max() > 1


def test_cycle_indexes_the_phase_of_windows_starting_at_any_row():
    """Window starting at row s (first forecast step s + L): lookback step t reads values[(s + t) % period],
    horizon step h reads values[(s + L + h) % period], also for starts past a whole number of seasons."""
    cycle = ResidualCycle(2, 5)
    with torch.no_grad():
        cycle.values.copy_(torch.arange(10.0).view(5, 2))
    lookback, horizon, starts = 7, 8, [0, 3, 11, 29]
    past, future = cycle(torch.tensor([(s + lookback) % 5 for s in starts]), lookback, horizon)
    for row, start in enumerate(starts):
        expected = torch.stack([cycle.values[(start + t) % 5] for t in range(lookback + horizon)])
        torch.testing.assert_close(torch.cat([past[row], future[row]]), expected, rtol=0, atol=0)


def test_weights_with_a_cycle_of_another_period_are_refused_naming_both_periods():
    """A model for a season of 48 steps (half-hourly data) cannot take the cycle of one trained on hourly data."""
    trained = model(encoder=IdentityEncoder, head=LastValueHead)
    sizes = dict(lookback=L, horizon=H, input_size=2, target_size=2, future_size=1, season_channel=0)
    other = Forecaster(**sizes, season_length=48, cycle=ResidualCycle, encoder=IdentityEncoder, head=LastValueHead)
    with pytest.raises(ValueError, match=r"cycle\.values\) has period 24 .* this model's has period 48 .* frequency"):
        other.load_state_dict(trained.state_dict())


@pytest.mark.slow  # the fast form: test_weights_with_a_cycle_of_another_period_are_refused_naming_both_periods
def test_cli_test_of_a_checkpoint_on_data_of_another_frequency_names_both_periods(hourly, tmp_path, tiny_cli):
    """``forecast test --ckpt_path`` of an hourly model (season 24) on half-hourly data (season 48) says so."""
    limits = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    cli = main(fit_args(tmp_path, tiny_cli, *limits))
    half_hourly = hourly.set_axis(pd.date_range("2024-01-01", periods=len(hourly), freq="30min", name="date"))
    half_hourly.to_csv(tmp_path / "hourly.csv")  # fit_args reads this file
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    with pytest.raises(ValueError, match=r"period 24 .* period 48 .* use data of the frequency"):
        main(["test", *fit_args(tmp_path, tiny_cli, "--ckpt_path", checkpoint)[1:]])
