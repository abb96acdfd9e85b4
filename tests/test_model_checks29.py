"""A model built in Python for the data module's statics: a categorical column is refused where the model would
read its codes as numbers, and the other way."""

import functools

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.model_checks import check_data
from forecast.nn import GRUEncoder, LinearHead


def _data() -> TimeSeriesDataModule:
    rng = np.random.default_rng(0)
    frame = pd.concat(
        pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=60, freq="h"),
                      "y": rng.normal(size=60), "region": region, "size": size})
        for name, region, size in [("a", "north", 1.0), ("b", "south", 2.0), ("c", "west", 3.0)]
    )  # fmt: skip
    data = TimeSeriesDataModule(frame, 8, 4, columns=Columns(targets=["y"], static_covariates=["region", "size"]))
    data.setup("fit")
    return data


def _model(data: TimeSeriesDataModule, cardinalities: list[int] | None) -> Forecaster:
    return Forecaster(lookback=8, horizon=4, input_size=data.input_size, target_size=1,
                      future_size=data.future_size, static_size=data.static_size,
                      static_cardinalities=cardinalities, static_embedding_size=2,
                      encoder=functools.partial(GRUEncoder, hidden_size=4), head=LinearHead)  # fmt: skip


def test_a_model_that_reads_a_categorical_static_as_a_number_is_refused_naming_the_column():
    data = _data()
    assert data.static_cardinalities == [3, 0]
    with pytest.raises(ValueError, match=r"'region' \(categories in the data, a number to the model\).*"
                                         r"static_cardinalities=data.static_cardinalities \(\[3, 0\]\)"):  # fmt: skip
        check_data(_model(data, None), data)


def test_a_model_that_reads_a_numeric_static_as_categories_is_refused_naming_the_column():
    data = _data()
    with pytest.raises(ValueError, match=r"'size' \(a number in the data, categories to the model\)"):
        check_data(_model(data, [3, 2]), data)


def test_a_model_built_with_the_data_modules_cardinalities_is_taken():
    data = _data()
    check_data(_model(data, data.static_cardinalities), data)
    check_data(_model(data, [5, 0]), data)  # a checkpoint's larger vocabulary: categories all the same
