"""Property tests: any frame a user may hand in gives the windows that plain numpy slicing of it
gives, or is refused with an error that names the column, series or row at fault; never a raw
traceback from deep inside pandas or torch.

Every frame is wide or long, has odd but valid column names (integers, spaces, unicode) and series
ids, numeric columns of several dtypes (nullable ones too), and times in or out of a time zone,
across daylight-saving changes. On top, it has up to two defects: NaN or infinite values,
duplicated, unsorted, missing or unparseable times, a gap, a column that is not numeric (object,
bool, text, categories), two columns of one name, or a short or empty series. A frame without
defects must give windows.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import forecast
from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LastValueHead

SPLIT = FractionSplit(val=0.2, test=0.2)
MAX_LOOKBACK, MAX_HORIZON = 4, 3
ZONES = [None, "UTC", "Europe/Berlin", "America/New_York"]
# Starts just before daylight-saving changes in Berlin and New York, and one far from any.
STARTS = ["2024-01-01 00:00", "2024-03-30 22:00", "2024-10-26 23:00", "2024-11-02 20:00"]
NAMES = ["a", "b", "load", " spaced out ", "ü-wert", "温度", 0, 1, 2.5]
IDS = ["s0", "s 1", "ß2", 3, 4]
NUMERIC = ["float64", "float32", "int64", "Int64", "Float64"]
NOT_NUMERIC = ["bool", "object", "text", "category", "complex"]
DEFECTS = ["non-finite", "beyond float32", "duplicate time", "unsorted time", "gap", "missing time", "not a time",
           "not numeric", "same name", "two-level names", "ids alike as text", "short series"]  # fmt: skip
# What a refusal names: a column, a series or a row (the time column, or the data as a whole).
PLACES = ("column", "series", "row", "the data")


def column_values(dtype: str, values: np.ndarray) -> pd.Series | np.ndarray:
    """``values`` (float64) as a column of ``dtype``; the non-numeric ones carry the same numbers."""
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return {
        "float64": lambda: values,
        "float32": lambda: values.astype(np.float32),
        "int64": lambda: finite.astype(np.int64),
        "Int64": lambda: pd.array(finite.round(), dtype="Int64"),
        "Float64": lambda: pd.array(values, dtype="Float64"),
        "bool": lambda: finite > 0,
        "object": lambda: values.astype(object),
        "text": lambda: values.astype(str),
        "category": lambda: pd.Categorical(finite.round().astype(int)),
        "complex": lambda: values + 1j,
    }[dtype]()


ANY_NAMES = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique_by=str)


@st.composite
def frames(draw, names=ANY_NAMES, freqs=("h", "D", "15min")) -> tuple[pd.DataFrame, set[str]]:
    """A frame with up to two defects, and its defects."""
    defects = draw(st.sets(st.sampled_from(DEFECTS), max_size=2), "defects")
    long = draw(st.booleans(), "long")
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True), "ids") if long else [0]
    if "ids alike as text" in defects:
        long, ids = True, [*ids, str(ids[0])] if not isinstance(ids[0], str) else [3, "3"]
    lengths = draw(st.lists(st.integers(MAX_LOOKBACK + MAX_HORIZON, 24), min_size=len(ids), max_size=len(ids)))
    if "short series" in defects:
        lengths[draw(st.integers(0, len(ids) - 1))] = draw(st.integers(0, MAX_LOOKBACK + MAX_HORIZON - 1))
    freq, zone = draw(st.sampled_from(freqs), "freq"), draw(st.sampled_from(ZONES), "zone")
    start = pd.Timestamp(draw(st.sampled_from(STARTS), "start"), tz=zone)
    columns = draw(names, "columns")
    dtypes = draw(st.lists(st.sampled_from(NUMERIC), min_size=len(columns), max_size=len(columns)), "dtypes")
    if "not numeric" in defects:
        dtypes[draw(st.integers(0, len(columns) - 1))] = draw(st.sampled_from(NOT_NUMERIC))
    rng = np.random.default_rng(draw(st.integers(0, 2**16), "seed"))
    parts = []
    for name, rows in zip(ids, lengths, strict=True):
        values = np.round(rng.normal(0, 10 ** rng.integers(0, 6), (rows, len(columns))), 3)
        part = pd.DataFrame({"id": [name] * rows, "time": pd.date_range(start, periods=rows, freq=freq)})
        for j, dtype in enumerate(dtypes):
            part[j] = column_values(dtype, values[:, j])
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    if long and draw(st.booleans(), "interleaved"):  # rows of the series mixed by time, as in a panel: valid
        frame = frame.sort_values("time", kind="stable", ignore_index=True)
    for defect, bad_values in [("non-finite", [np.nan, np.inf, -np.inf]), ("beyond float32", [1e39, -1e300])]:
        j = draw(st.integers(0, len(columns) - 1), "column")
        if defect in defects and len(frame) and dtypes[j] in NUMERIC:
            row = draw(st.integers(0, len(frame) - 1), "row")
            frame[j] = frame[j].astype("float64" if dtypes[j] in ("int64", "Int64") else frame[j].dtype)
            frame.loc[row, j] = draw(st.sampled_from(bad_values), "value")
    for defect in sorted(defects & {"duplicate time", "unsorted time", "gap", "missing time", "not a time"}):
        if len(frame) > 1:
            frame = with_time_defect(frame, defect, draw(st.integers(1, len(frame) - 1), "row"))
    if "same name" in defects:
        frame[len(columns)] = frame[0]
        columns = [*columns, draw(st.sampled_from(columns))]
    frame.columns = ["id", "time", *columns]
    frame = frame if long else frame.drop(columns="id").set_index("time")
    if "two-level names" in defects:
        frame.columns = pd.MultiIndex.from_arrays([frame.columns, ["x"] * len(frame.columns)])
    return frame, defects


def with_time_defect(frame: pd.DataFrame, defect: str, row: int) -> pd.DataFrame:
    """``frame`` with one defect in its times at ``row`` (> 0)."""
    if defect == "duplicate time":
        return pd.concat([frame.iloc[: row + 1], frame.iloc[row:]], ignore_index=True)
    if defect == "unsorted time":
        order = np.arange(len(frame))
        order[[row - 1, row]] = order[[row, row - 1]]
        return frame.iloc[order].reset_index(drop=True)
    if defect == "gap":
        return frame.drop(index=row).reset_index(drop=True)
    times = frame["time"].astype(object)
    times.iloc[row] = None if defect == "missing time" else "not a time"
    return frame.assign(time=times)


def refused_clearly(error: Exception) -> bool:
    """Whether ``error`` is a user error that names where the problem is."""
    event(f"refused: {str(error)[:40]}")
    named = any(place in str(error) for place in PLACES)
    return isinstance(error, (ForecastDataError, ValueError, TypeError)) and named


def zoned(frame: pd.DataFrame) -> bool:
    """Whether the times of ``frame`` have a time zone."""
    times = frame["time"] if "time" in frame.columns else frame.index
    return isinstance(times.dtype, pd.DatetimeTZDtype)


def reference_series(frame: pd.DataFrame, columns: list) -> dict[str, np.ndarray]:
    """Each series' ``columns`` (rows, C) as float64 by name, in order of first appearance; numpy only."""
    values = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    if "id" not in frame.columns:
        return {"0": values}
    ids = frame["id"].to_numpy()
    return {str(name): values[ids == name] for name in pd.unique(ids)}


def reference_windows(
    series: dict[str, np.ndarray], lookback: int, horizon: int, part: str, given: dict[str, np.ndarray]
) -> list[tuple]:
    """(series index, first target row, past, target) of every window of ``part``, enumerated one by one; training
    leaves out the windows without a target value ``given`` (before any repair)."""
    windows = []
    for index, (name, values) in enumerate(series.items()):
        rows = len(values)
        if part == "predict":
            windows.append((index, rows, values[rows - lookback :], None))
            continue
        train_end = int(rows * (1 - SPLIT.val - SPLIT.test))
        for time in range(lookback, train_end - horizon + 1):
            if given[name][time : time + horizon].any():
                windows.append((index, time, values[time - lookback : time], values[time : time + horizon]))
    return windows


def assert_windows_equal(module: TimeSeriesDataModule, expected: list[tuple], part: str) -> None:
    if not expected:
        with pytest.raises(ForecastDataError, match=f"the {part} part has no window|windows has an observed value"):
            module.dataset(part)
        return
    dataset = module.dataset(part)
    batch = dataset.__getitems__(list(range(len(dataset))))
    order = np.lexsort((batch.time.numpy(), batch.series.numpy()))
    got = zip(batch.series[order].tolist(), batch.time[order].tolist(), strict=True)
    assert list(got) == [window[:2] for window in expected]
    past = np.stack([window[2] for window in expected]).astype(np.float32)
    np.testing.assert_array_equal(batch.past[order].numpy(), past)
    if part != "predict":
        target = np.stack([window[3] for window in expected]).astype(np.float32)
        np.testing.assert_array_equal(batch.target[order].numpy(), target)


@settings(max_examples=200, deadline=None)
@given(
    case=frames(),
    lookback=st.integers(1, MAX_LOOKBACK),
    horizon=st.integers(1, MAX_HORIZON),
    policy=st.sampled_from(["error", "zero"]),
)
def test_any_frame_gives_the_reference_windows_or_a_clear_refusal(case, lookback, horizon, policy):
    frame, defects = case
    try:
        unscaled = Scaling(scaler=None, covariate_scaler=None)
        module = TimeSeriesDataModule(frame, lookback, horizon, split=SPLIT, scaling=unscaled, nan_policy=policy)
        module.setup("predict")
    except Exception as error:
        assert refused_clearly(error), f"{type(error).__name__}: {error}"
        assert defects, f"a frame without defects refused: {error}"
        return
    event("windows compared")
    series = reference_series(frame, [column for column in frame.columns if column not in ("id", "time")])
    given = {name: np.isfinite(values) for name, values in series.items()}
    if policy == "zero":
        series = {name: np.where(np.isfinite(values), values, 0.0) for name, values in series.items()}
    assert module.series_names == list(series)
    for part in ("train", "predict"):
        assert_windows_equal(module, reference_windows(series, lookback, horizon, part, given), part)


@pytest.fixture(scope="module")
def last_value_model(tmp_path_factory):
    """A parameter-free model that forecasts each target's last value, trained on hourly columns a and b."""
    steps = np.arange(48.0)
    history = pd.DataFrame({"a": steps, "b": -steps}, index=pd.date_range("2024-01-01", periods=48, freq="h"))
    trainer = {"max_epochs": 1, "logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    trainer["default_root_dir"] = str(tmp_path_factory.mktemp("last_value"))
    model = {"encoder": IdentityEncoder, "head": LastValueHead}
    return forecast.fit(
        history, lookback=4, horizon=3, data={"columns": Columns(targets=["a", "b"])}, model=model, trainer=trainer
    )


@settings(max_examples=100, deadline=None)
@given(case=frames(names=st.sampled_from([["a", "b"], ["b", "a", "load"], ["a"], [0, "b", "a"]]), freqs=("h",)))
def test_predict_gives_each_series_last_value_or_a_clear_refusal(last_value_model, case):
    frame, defects = case
    try:
        table = last_value_model.predict(frame)
    except Exception as error:
        assert refused_clearly(error), f"{type(error).__name__}: {error}"
        if not defects and {"a", "b"} <= set(frame.columns):  # refused only for a time zone: the model's have none
            assert zoned(frame) and "time zone" in str(error), f"a frame without defects refused: {error}"
        return
    event("forecasts compared")
    series = reference_series(frame, ["a", "b"])
    names = table["id"].map(str)  # the frame's ids, or their text
    assert list(names.unique()) == list(series)
    for name, values in series.items():
        forecast_rows = table.loc[names == name, ["a", "b"]].to_numpy()
        np.testing.assert_allclose(forecast_rows, np.repeat(values[-1:], 3, axis=0), rtol=1e-5, atol=1e-4)
