"""A retail user's journey as README.md tells it: long daily sales of many stores (integer units with zeros and
gaps, a past price, a future promo, a text store type, a store opened half-way), fitted, tested, backtested and
forecast past the end through the CLI, then forecast from the checkpoint in Python, on Spark, and exported."""

import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
LOOKBACK, HORIZON = 14, 7


def _sales(stores: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Long daily sales: ``units`` (integers, some zeros, a few NaN), ``price`` (past), ``promo`` (future, 0/1),
    ``store_type`` (text); store 1 opens half-way, store 2 sells nothing for a stretch."""
    rng = np.random.default_rng(seed)
    parts = []
    for store in range(stores):
        rows = days // 2 if store == 1 else days
        steps = np.arange(rows)
        promo = (rng.random(rows) < 0.15).astype(int)
        units = rng.poisson(5 + 3 * np.sin(2 * np.pi * steps / 7) + 4 * promo).astype(float)
        if store == 2:
            units[rows // 4 : rows // 4 + 20] = 0
        units[rng.choice(rows - 1, 2, replace=False)] = np.nan  # never the last day: that is the next tests' case
        parts.append(
            pd.DataFrame(
                {
                    "id": f"store_{store:02d}",
                    "time": pd.date_range(end="2024-12-30", periods=rows, freq="D"),
                    "units": units,
                    "price": 10 + rng.normal(0, 0.1, rows).cumsum(),
                    "promo": promo,
                    "store_type": ["big", "small", "mall"][store % 3],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _with_future(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """README's "give each series `horizon` more rows holding them, with empty targets": promo on every second day,
    no units and no price (a past covariate, known up to the forecast start only)."""
    future = [
        pd.DataFrame(
            {
                "id": store,
                "time": pd.date_range(rows["time"].iloc[-1], periods=horizon + 1, freq="D")[1:],
                "promo": np.arange(horizon) % 2,
                "store_type": rows["store_type"].iloc[0],
            }
        )
        for store, rows in history.groupby("id", sort=False)
    ]
    return pd.concat([history, *future]).sort_values(["id", "time"], kind="stable", ignore_index=True)


COLUMNS = {"targets": ["units"], "past_covariates": ["price"], "future_covariates": ["promo"],
           "static_covariates": ["store_type"]}  # fmt: skip


@pytest.fixture(scope="module")
def naive(tmp_path_factory, fit_last_value) -> Forecaster:
    """The last-value forecast (no weights) of three stores' sales, with every covariate role."""
    root = tmp_path_factory.mktemp("retail")
    from forecast import Columns

    path = fit_last_value(_sales(3, 120), root, LOOKBACK, HORIZON, columns=Columns(**COLUMNS), nan_policy="ffill")
    return Forecaster.load(path)


def test_forecasts_start_the_day_after_each_store_s_last_day(naive):
    """Future rows as README says: every store's forecast covers the horizon's days after its own last day, and the
    last value forecast is its last observed units (a hand reference)."""
    history = _sales(3, 120)
    table = naive.predict(_with_future(history, HORIZON))
    last = history.groupby("id").agg(end=("time", "last"), units=("units", "last"))
    assert table.groupby("id")["time"].min().eq(last["end"] + pd.Timedelta(days=1)).all()
    assert table.groupby("id")["time"].max().eq(last["end"] + pd.Timedelta(days=HORIZON)).all()
    assert np.allclose(table.groupby("id")["units"].first(), last["units"])


def test_a_missing_last_day_with_its_price_is_refused_naming_the_store(naive):
    """A store whose last day has its price but no units count (a missing observation) would otherwise read that
    day as the first of the horizon: a forecast starting inside its history, one day off the other stores'."""
    history = _sales(3, 120)
    history.loc[history.index[history["id"] == "store_01"][-1], "units"] = np.nan
    with pytest.raises(ForecastDataError) as error:
        naive.predict(_with_future(history, HORIZON))
    message = str(error.value)
    assert "store_01" in message and "'price'" in message and "2024-12-30" in message
    assert "fill its targets up to 2024-12-30" in message and "leave the series out" in message


def test_a_price_given_on_every_future_row_is_read_as_before(naive):
    """Past covariates on every future row (or on none) leave the future rows as they are: no refusal."""
    frame = _with_future(_sales(3, 120), HORIZON)
    frame["price"] = frame.groupby("id")["price"].ffill()
    table = naive.predict(frame)
    assert len(table) == 3 * HORIZON and table["time"].min() == pd.Timestamp("2024-12-31")


def _cli(subcommand: str, source: Path, root: Path, *flags: str) -> None:
    columns = [f"--data.columns.{role} [{','.join(names)}]".split(" ", 1) for role, names in COLUMNS.items()]
    main(
        [
            subcommand, "--config", str(ROOT / "configs/etth1/gru.yaml"), "--data.source", str(source),
            *[part for pair in columns for part in pair], "--data.split", "forecast.data.FractionSplit",
            "--data.nan_policy", "ffill", "--data.lookback", str(LOOKBACK), "--data.horizon", str(HORIZON),
            "--trainer.default_root_dir", str(root), "--trainer.max_epochs", "2", "--trainer.enable_progress_bar",
            "false", "--trainer.enable_model_summary", "false", *flags,
        ]
    )  # fmt: skip


def _by_hand(model: Forecaster, history: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    """The forecasts of ``frame`` from the model's forward, scaled and un-scaled by scikit-learn's scalers fitted on
    the training rows (the first int(rows * 0.7) of each store, NaN left out as scikit-learn does)."""
    train = pd.concat([rows.iloc[: int(len(rows) * 0.7)] for _, rows in history.groupby("id", sort=False)])
    units = StandardScaler().fit(train[["units"]].to_numpy())
    covariates = StandardScaler().fit(train[["price", "promo"]].to_numpy())
    vocabulary = sorted(history["store_type"].unique())
    past, future, static, ids = [], [], [], []
    for store, rows in frame.groupby("id", sort=False):
        known = rows.iloc[: len(rows) - HORIZON]
        target = units.transform(known[["units"]].ffill().to_numpy()[-LOOKBACK:])
        price = covariates.transform(known[["price", "promo"]].to_numpy()[-LOOKBACK:])[:, :1]
        ahead = rows.iloc[len(rows) - HORIZON :]
        promo = covariates.transform(np.column_stack([np.zeros(HORIZON), ahead["promo"]]))[:, 1:]
        past.append(np.hstack([target, price]))
        future.append(promo)
        static.append([vocabulary.index(rows["store_type"].iloc[0])])
        ids.append(store)
    tensors = (torch.tensor(np.array(part), dtype=torch.float32) for part in (past, future, static))
    with torch.no_grad():
        params = model.eval()(*tensors)
    forecast = units.inverse_transform(params[..., 0, 0].double().numpy().reshape(-1, 1)).ravel()
    return pd.Series(forecast, index=np.repeat(ids, HORIZON), name="units")


@pytest.mark.slow
def test_retail_journey_as_readme_tells_it(tmp_path, session):
    """CSV fit, test, backtest and predict past the end through the CLI; Parquet history predicted in Python (against
    the forward un-scaled by scikit-learn's scalers) and on Spark (against Python); an export against the forward."""
    history = _sales(12, 240)
    csv, parquet = tmp_path / "sales.csv", tmp_path / "future.parquet"
    history.astype({"units": "Int64"}).to_csv(csv, index=False)
    frame = _with_future(history, HORIZON)
    frame.to_parquet(parquet, index=False)
    root = tmp_path / "runs"
    _cli("fit", csv, root)
    _cli("test", csv, root, "--ckpt_path", "best")
    _cli("backtest", csv, root, "--ckpt_path", "best", "--stride", "7", "--num_windows", "3")
    backtest = pd.read_csv(sorted(root.rglob("forecasts.csv"))[-1])
    assert list(backtest.columns) == ["window", "id", "origin", "time", "step", "units", "units_actual"]
    assert backtest.groupby("id")["window"].nunique().eq(3).all()
    assert "mse_orig" in json.loads(sorted(root.rglob("metrics.json"))[-1].read_text())["metrics"]
    _cli("predict", parquet, root, "--ckpt_path", "best", "--prediction_writer.output", str(tmp_path / "fc.csv"))
    written = pd.read_csv(tmp_path / "fc.csv", parse_dates=["time"])
    assert list(written.columns) == ["id", "time", "units"] and len(written) == 12 * HORIZON

    checkpoint = glob.glob(str(root / "lightning_logs/version_0/checkpoints/epoch=*.ckpt"))[0]
    model = Forecaster.load(checkpoint)
    table = model.predict(pd.read_parquet(parquet))
    assert table["time"].equals(written["time"]) and np.allclose(table["units"], written["units"])
    expected = _by_hand(model, history, frame)
    assert np.allclose(table.set_index("id").loc[expected.index.unique(), "units"], expected, rtol=1e-6, atol=1e-6)

    from forecast import spark
    from forecast.export import example_inputs, to_program

    spark_table = spark.predict(session.read.parquet(str(parquet)), checkpoint).toPandas()
    spark_table = spark_table.sort_values(["id", "time"], ignore_index=True)
    assert np.allclose(spark_table["units"], table.sort_values(["id", "time"])["units"], rtol=1e-5)
    program = to_program(model, tmp_path / "export/model.pt2").module()
    assert (tmp_path / "export/model.pt2").is_file()
    inputs = example_inputs(model, 3)
    with torch.no_grad():
        assert torch.allclose(program(*inputs), model.eval()(*inputs), atol=1e-6)


def test_the_data_module_predicting_a_series_whose_last_day_lacks_its_target_refuses_it():
    """``python -m forecast predict`` reads the frame through the data module: a store whose last day held its price
    but no sales forecast from that day, inside its history, as the library's predict did."""
    times = pd.date_range("2024-01-01", periods=40, freq="D")
    frame = pd.concat(
        pd.DataFrame({"id": name, "time": times, "units": np.r_[np.arange(37.0), [np.nan] * 3],
                      "price": np.r_[np.ones(37), [np.nan] * 3], "promo": 0.0})
        for name in ("a", "b")
    )  # fmt: skip
    frame.loc[(frame["id"] == "b") & (frame["time"] == times[36]), "units"] = np.nan  # its last day: price, no sales
    columns = Columns(targets=["units"], past_covariates=["price"], future_covariates=["promo"])
    data = TimeSeriesDataModule(frame, 8, 3, columns=columns, nan_policy="ffill")
    with pytest.raises(ForecastDataError, match=r"series 'b' holds past covariate 'price' at 2024-02-06.*inside its"):
        data.setup("predict")
