"""Edges of the data module a Lightning user meets: checkpoint state loaded into data given otherwise, NumPy counts,
and data.series under shard: series."""

import numpy as np
import pandas as pd
import pytest

from forecast import TimeSeriesDataModule
from forecast.data import Columns


def hourly(rows: int = 40) -> pd.DataFrame:
    """One series of ``rows`` hourly values."""
    return pd.DataFrame({"y": np.arange(rows, dtype=float)}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))


@pytest.mark.parametrize("freq", ["1h", "60min"])
def test_a_checkpoint_loads_where_data_freq_names_its_frequency_otherwise(freq):
    """Training inferred "h"; the same hourly steps given as ``data.freq`` under another name are no other data."""
    trained = TimeSeriesDataModule(hourly(), 8, 4)
    trained.setup("fit")
    given = TimeSeriesDataModule(hourly(), 8, 4, freq=freq)
    given.load_state_dict(trained.state_dict())
    np.testing.assert_allclose(given.scalings[0].scale, trained.scalings[0].scale)
    assert given.state_dict()["freq"] == "h"  # saved again under the checkpoint's name


def test_a_checkpoint_of_another_frequency_is_still_refused():
    trained = TimeSeriesDataModule(hourly(), 8, 4)
    trained.setup("fit")
    with pytest.raises(ValueError, match=r"trained with freq='h', but the data module has freq='2h'"):
        TimeSeriesDataModule(hourly(80).iloc[::2], 8, 4).load_state_dict(trained.state_dict())


def test_static_cardinalities_follow_the_checkpoints_vocabularies():
    """Forecasting a subset of the series: the static features index the checkpoint's three regions, so the
    cardinality the model's embedding is sized by is three, not the one region these data hold."""
    times = pd.date_range("2024-01-01", periods=60, freq="h")
    frame = pd.concat(
        [pd.DataFrame({"id": name, "time": times, "y": np.arange(60.0), "region": name.lower()}) for name in "ABC"]
    )
    columns = Columns(targets=["y"], static_covariates=["region"])
    trained = TimeSeriesDataModule(frame, 8, 4, columns=columns)
    trained.setup("fit")
    given = TimeSeriesDataModule(frame[frame["id"] == "C"], 8, 4, columns=columns)
    assert given.static_cardinalities == [1]
    given.load_state_dict(trained.state_dict())
    assert given.static_cardinalities == [3] and given.static.tolist() == [[2.0]]


def test_a_pandas_offset_as_freq_is_recorded_by_its_name():
    """The recorded options (a checkpoint's ``datamodule_hyper_parameters``) build the module again."""
    frame = hourly(80).iloc[::2]
    data = TimeSeriesDataModule(frame, 8, 4, freq=pd.offsets.Hour(2))
    assert data.hparams["freq"] == "2h"
    assert TimeSeriesDataModule(frame, 8, 4, freq=data.hparams["freq"]).freq == "2h"


def test_numpy_integer_counts_give_working_loaders():
    """Counts from a grid (``np.arange``) are whole numbers, so the module takes them, and its loaders too."""
    lookback, horizon, batch_size, batch_channels = np.arange(8, 12, 4)[0], np.int64(4), np.int64(3), np.int64(2)
    data = TimeSeriesDataModule(hourly(), lookback, horizon, batch_size=batch_size, eval_stride=np.int64(1))
    data.setup("fit")
    data.setup("test")
    assert [len(batch) for batch in data.test_dataloader()] == [3, 2]  # 5 windows, the last partial batch kept
    assert [len(batch) for batch in data.train_dataloader()][-1] == 2  # 17 windows
    by_channels = TimeSeriesDataModule(hourly(), 8, 4, batch_channels=batch_channels)
    by_channels.setup("test")
    assert [len(batch) for batch in by_channels.test_dataloader()] == [2, 2, 1]


def three_series() -> pd.DataFrame:
    """Series A, B and C of 40 hourly rows each, in long format."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    return pd.concat([pd.DataFrame({"id": name, "time": times, "y": np.arange(40.0)}) for name in "ABC"])


@pytest.mark.parametrize("shard", ["none", "series"])
@pytest.mark.parametrize(
    ("series", "error", "message"),
    [
        (["A", "Z"], ValueError, r"data.series names series \['Z'\] that column 'id' of the data lacks"),
        ([], ValueError, r"data.series is empty"),
        ("AB", TypeError, r"data.series='AB' is not a list of series ids; give \['AB'\]"),
    ],
    ids=["unknown", "empty", "text"],
)
def test_series_the_data_lack_are_refused_also_when_sharded(shard, series, error, message):
    """Sharded, ``series`` was filtered silently: an unknown id left out, ``[]`` read all, text read its letters."""
    with pytest.raises(error, match=message):
        TimeSeriesDataModule(three_series(), 8, 4, columns=Columns(targets=["y"]), series=series, shard=shard)
