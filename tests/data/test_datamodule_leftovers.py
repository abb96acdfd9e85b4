import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import Columns, Scaling

COLUMNS = Columns(targets=["y"], past_covariates=["load"])


def snapshot(data: TimeSeriesDataModule) -> dict:
    """What loading a checkpoint's state may change, as plain values to compare."""
    return {
        "times": [str(time) for time in data.table.times],  # with their time zone: equal instants compare equal
        "start_times": [str(time) for time in data.start_times],
        "freq": data.freq,
        "per_series": data.scaling.per_series,
        "scalings": None if data.scalings is None else [scaling.state_dict() for scaling in data.scalings],
        "vocabularies": {column: list(words) for column, words in data.vocabularies.items()},
        "static_cardinalities": list(data.static_cardinalities),
        "borders": data.borders.tolist(),
    }


def test_refused_state_leaves_the_data_module_as_it_was(long_frame):
    """A state refused for a series it lacks converts no times first: the caller keeps the module as it was."""
    berlin = long_frame.assign(time=long_frame["time"].dt.tz_localize("Europe/Berlin"))
    trained = TimeSeriesDataModule(
        berlin[berlin["id"] != "B"], 10, 5, columns=COLUMNS, scaling=Scaling(per_series=True)
    )
    trained.setup("fit")
    given = TimeSeriesDataModule(berlin.assign(time=berlin["time"].dt.tz_convert("UTC")), 10, 5, columns=COLUMNS)
    given.setup("fit")
    before = snapshot(given)
    with pytest.raises(ForecastDataError, match=r"knows no series \['B'\]"):
        given.load_state_dict(trained.state_dict())
    assert snapshot(given) == before
