"""A data engineer's journey: train a small daily model, forecast a Spark DataFrame of its series, compare with
``Forecaster.predict``; and the refusals of columns of a type ``predict`` cannot read, before any job."""

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError
from forecast.partition import load_cached

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")

from pyspark.sql.types import (  # noqa: E402
    BooleanType,
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from forecast import spark  # noqa: E402

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"  # a quantile GRU: y; load past, price future
LOOKBACK, HORIZON = 14, 5


def schema(**types) -> StructType:
    """The frozen checkpoint's history columns, all of the right types but those in ``types``."""
    columns = {"id": StringType(), "time": TimestampType(), "y": DoubleType(), "load": DoubleType()}
    columns |= {"price": DoubleType(), **types}
    return StructType([StructField(name, kind) for name, kind in columns.items()])


@pytest.mark.parametrize(("column", "kind"), [("price", BooleanType()), ("load", DateType()), ("y", BooleanType())])
def test_spark_predict_refuses_a_value_column_of_no_numbers_before_the_job(column, kind):
    """A boolean flag or a date as a covariate failed every task with predict's fix in pandas' terms
    (``pandas.to_numeric``), which a Spark DataFrame has no use for. Only the frame's schema is read."""
    frame = SimpleNamespace(schema=schema(**{column: kind}))
    message = rf"column '{column}' holds values of type {kind.simpleString()}, .*functions.col\('`{column}`'\)"
    with pytest.raises(ForecastDataError, match=message):
        spark.predict(frame, CHECKPOINT)


@pytest.mark.parametrize("kind", [LongType(), DoubleType(), BooleanType()])
def test_forecast_schema_refuses_times_of_no_time_type_naming_sparks_conversion(kind):
    """Epoch seconds or yyyyMMdd numbers were declared as TimestampNTZType forecasts, then failed every task with
    predict's fix in pandas' terms (``pandas.to_datetime``)."""
    with pytest.raises(ForecastDataError, match=r"column 'time' holds times of type .*functions.timestamp_seconds"):
        spark.forecast_schema(CHECKPOINT, schema(time=kind))


def daily_history(count: int, seed: int) -> pd.DataFrame:
    """``count`` daily series of 40 to 59 observed days and HORIZON future rows: sales (target), temp (past, empty
    on the future rows), promo (future) and region (static text)."""
    rng = np.random.default_rng(seed)
    parts = []
    for index in range(count):
        observed = int(rng.integers(40, 60))
        steps = np.arange(observed + HORIZON)
        future = steps >= observed
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 30)))
        sales = 100 * (index % 5 + 1) + 10 * np.sin(steps / 3) + rng.normal(0, 1, len(steps))
        part = {
            "id": index,
            "time": pd.date_range(start, periods=len(steps), freq="D"),
            "sales": np.where(future, np.nan, sales),
            "temp": np.where(future, np.nan, rng.normal(20, 5, len(steps))),
            "promo": rng.integers(0, 2, len(steps)).astype(float),
            "region": ["north", "south"][index % 2],
        }
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """A quantile GRU trained 2 epochs on 6 daily series with a past, a future and a static covariate, repairing
    NaN by ffill, and its checkpoint."""
    import forecast
    from forecast.losses import QuantileLoss
    from forecast.nn import GRUEncoder

    root = tmp_path_factory.mktemp("daily")
    columns = forecast.Columns(
        targets=["sales"], past_covariates=["temp"], future_covariates=["promo"], static_covariates=["region"]
    )
    data = {"columns": columns, "batch_size": 32, "nan_policy": "ffill"}
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=8), "loss": QuantileLoss(levels=[0.1, 0.5, 0.9])}
    trainer = {"max_epochs": 2, "default_root_dir": str(root), "enable_progress_bar": False, "logger": False}
    forecast.fit(daily_history(6, seed=0), lookback=LOOKBACK, horizon=HORIZON, data=data, model=model, trainer=trainer)
    return next(root.rglob("last.ckpt"))


@pytest.mark.slow  # a fit and a Spark job whose Python workers import torch: about 50 s alone
def test_spark_predict_of_a_daily_model_with_covariates_equals_predict(session, daily):
    """40 series over 5 partitions (some empty) in Arrow batches of 25 rows, a NaN inside two lookbacks (repaired
    by ffill), integer ids: every series and step, in original units, with the promised columns. To 1e-6 of the
    sales' spread: the model runs in float32 on scaled values, and a window meets others in its forward pass."""
    frame = daily_history(40, seed=1)
    frame.loc[frame.index[frame["id"] == 3][-HORIZON - 3], "sales"] = np.nan
    frame.loc[frame.index[frame["id"] == 7][-HORIZON - 2], "temp"] = np.nan
    expected = load_cached(daily).predict(frame).sort_values(["id", "time"], ignore_index=True)
    session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "25")
    try:
        result = spark.predict(session.createDataFrame(frame), daily, num_partitions=5, rows_per_call=200)
        table = result.toPandas().sort_values(["id", "time"], ignore_index=True)
    finally:
        session.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert result.schema.simpleString() == (
        "struct<id:bigint,time:timestamp,sales:double,sales_q0.1:double,sales_q0.5:double,sales_q0.9:double>"
    )
    assert len(table) == 40 * HORIZON and (table["sales"] > 50).all()  # original units: the series lie near 100-500
    pd.testing.assert_frame_equal(table, expected, rtol=0, atol=1e-6 * frame["sales"].std())
