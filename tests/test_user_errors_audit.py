"""Bad input at the public entry points fails with an error that names the option or path at fault and the fix,
not with a raw error of Python, pandas or torch, nor silently."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch.callbacks import EarlyStopping

from forecast import Calendar, Columns, ForecastDataError, Forecaster, TimeSeriesDataModule, fit
from forecast.export import example_inputs, to_onnx, to_program
from forecast.search_space import SearchSpace


@pytest.fixture
def model() -> Forecaster:
    return Forecaster(lookback=8, horizon=2, input_size=1, target_size=1)


def test_datamodule_refuses_lookback_none(wide_frame):
    with pytest.raises(TypeError, match=r"data.lookback=None must be a whole number; give an int"):
        TimeSeriesDataModule(wide_frame, lookback=None, horizon=6)


@pytest.mark.parametrize("num_workers", ["2", -1, 1.5])
def test_check_loading_refuses_a_worker_count_that_is_no_count(num_workers):
    from forecast.data.arguments import check_loading

    with pytest.raises(ValueError, match=rf"data.num_workers={num_workers!r}: DataLoader worker processes, 0 or more"):
        check_loading(num_workers, pin_memory=False, drop_short=False)


def test_check_loading_refuses_text_for_a_flag():
    from forecast.data.arguments import check_loading

    with pytest.raises(TypeError, match=r"data.drop_short='false' is not a bool; give true or false"):
        check_loading(0, pin_memory=False, drop_short="false")


@pytest.mark.parametrize("targets", [5, {"a": 0}], ids=["int", "dict"])
def test_columns_refuses_targets_that_are_no_list(targets):
    with pytest.raises(TypeError, match=r"data.columns.targets=.* not a list of columns; give the names as a list"):
        Columns(targets=targets)


@settings(max_examples=10, deadline=None)
@given(st.sets(st.sampled_from(["y", "load", "price", "region"]), min_size=1))
def test_columns_refuses_a_set_of_past_covariates(names):
    # A set's order of strings changes from run to run, and the order of the columns is the order of the channels.
    with pytest.raises(TypeError, match=r"data.columns.past_covariates=.* is of type set, not a list of columns"):
        Columns(past_covariates=names)


def test_calendar_refuses_a_set_of_features():
    with pytest.raises(TypeError, match=r"data.calendar.features=\{'hour'\} is of type set, not a list of features"):
        Calendar(features={"hour"})


@pytest.mark.parametrize("cardinality", [2.5, -2])
def test_forecaster_refuses_static_cardinalities_that_are_no_count(cardinality):
    with pytest.raises(ValueError, match=rf"model.static_cardinalities=\[{cardinality}\] holds {cardinality}"):
        Forecaster(
            lookback=8, horizon=2, input_size=1, target_size=1, static_size=1, static_cardinalities=[cardinality]
        )


def test_forecaster_refuses_text_for_channel_independent():
    with pytest.raises(TypeError, match=r"model.channel_independent='false' is not a bool"):
        Forecaster(lookback=8, horizon=2, input_size=1, target_size=1, channel_independent="false")


_SIZES = dict(lookback=8, horizon=2, input_size=2, target_size=1, future_size=1, static_size=0, season_length=1)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (dict(horizon=0), r"model.horizon=0: needs 1 or more"),
        (dict(lookback=-1), r"model.lookback=-1: needs 1 or more"),
        (dict(horizon=2.5), r"model.horizon=2.5: needs 1 or more"),
        (dict(target_size=0), r"model.target_size=0: needs 1 or more"),
        (dict(future_size=-1), r"model.future_size=-1: needs 0 or more"),
        (dict(target_size=3), r"model.target_size=3 exceeds model.input_size=2"),
    ],
)
def test_check_sizes_names_the_size_at_fault(wrong, message):
    from forecast.model_checks import check_sizes

    with pytest.raises(ValueError, match=message):
        check_sizes(_SIZES | wrong, season_channel=None)


@pytest.mark.parametrize("season_channel", [-1, 1])
def test_check_sizes_refuses_a_season_channel_outside_future(season_channel):
    from forecast.model_checks import check_sizes

    with pytest.raises(ValueError, match=rf"model.season_channel={season_channel} is no channel of future"):
        check_sizes(_SIZES, season_channel=season_channel)


@pytest.mark.parametrize("export", [to_program, to_onnx])
def test_export_refuses_a_folder(model, tmp_path, export):
    with pytest.raises(
        ValueError, match=r"the export path '.*' is a folder; give a file in it, e.g. '.*model\.(pt2|onnx)'"
    ):
        export(model, tmp_path)


def test_to_program_refuses_an_onnx_path(model, tmp_path):
    with pytest.raises(ValueError, match=r"names a \.onnx file, but this export writes \.pt2.*call to_onnx"):
        to_program(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_to_onnx_refuses_a_pt2_path(model, tmp_path):
    with pytest.raises(ValueError, match=r"names a \.pt2 file, but this export writes \.onnx.*call to_program"):
        to_onnx(model, tmp_path / "model.pt2")


def test_export_refuses_a_path_that_is_no_path(model):
    with pytest.raises(TypeError, match=r"the export path 5 is of type int; give the file as text or a Path"):
        to_program(model, 5)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_example_inputs_refuses_batch_size_below_one(model, batch_size):
    with pytest.raises(ValueError, match=rf"batch_size={batch_size}: windows per example batch"):
        example_inputs(model, batch_size=batch_size)


def test_search_space_refuses_a_repeated_choice():
    space = {"model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.GRUEncoder"]}}
    with pytest.raises(ValueError, match=r"model.encoder: `choice` lists 'forecast.nn.GRUEncoder' more than once"):
        SearchSpace(space)


def test_search_space_refuses_one_and_true_as_choices_optuna_records_as_one():
    """Optuna records a trial that sampled true as one of 1 (the index of the first equal choice)."""
    with pytest.raises(ValueError, match=r"model.x: `choice` lists 1 and True, which Optuna records as one value"):
        SearchSpace({"model.x": {"choice": [1, True]}})


@pytest.mark.parametrize(
    "callbacks, message",
    [("early_stopping", r"holds 'early_stopping', which is no callback; give Lightning callback objects"),
     ([EarlyStopping], r"holds <class '.*EarlyStopping'>, which is no callback; call it: EarlyStopping\(...\)")],
    ids=["text", "class"],
)  # fmt: skip
def test_fit_refuses_callbacks_that_are_no_callback_objects(wide_frame, callbacks, message):
    with pytest.raises(TypeError, match=rf"forecast.fit's trainer\['callbacks'\] {message}"):
        fit(wide_frame, lookback=8, horizon=2, trainer={"callbacks": callbacks})


def test_datamodule_refuses_a_source_of_no_readable_type():
    """``TimeSeriesDataModule(5)`` failed as pathlib's "expected str, bytes or os.PathLike object, not int"."""
    with pytest.raises(TypeError, match=r"data.source is a int; give a built-in data set name, a CSV or Parquet path"):
        TimeSeriesDataModule(5, lookback=4, horizon=2)


def test_datamodule_refuses_an_id_column_the_data_lack():
    """Long data read with another id column's name were read as one wide series: "time goes backwards"."""
    times = pd.date_range("2024-01-01", periods=30, freq="h")
    frame = pd.concat([pd.DataFrame({"id": name, "time": times, "y": np.arange(30.0)}) for name in "ab"])
    with pytest.raises(ForecastDataError, match=r"data.columns.id_column='series' is not a column of the data"):
        TimeSeriesDataModule(frame, lookback=4, horizon=2, columns=Columns(targets=["y"], id_column="series"))


def test_a_parts_size_given_as_text_is_refused_naming_it():
    """``GRUEncoder(hidden_size="8")`` failed as Python's "'<=' not supported between instances of 'int' and 'str'"."""
    from forecast.nn import GRUEncoder

    with pytest.raises(TypeError, match=r"model.encoder.init_args.hidden_size='8' is not a number"):
        GRUEncoder(1, hidden_size="8")


def test_combine_refuses_one_path_a_repeated_checkpoint_and_a_folder(tmp_path):
    """One path was read character by character ("checkpoint '/' is a folder"); a repeated file made an ensemble of
    one network; a folder as the output failed as IsADirectoryError after reading every checkpoint."""
    from forecast.ensemble import combine

    with pytest.raises(TypeError, match=r"combine takes a list of two or more checkpoint files; got one path"):
        combine(str(tmp_path / "a.ckpt"), tmp_path / "out.ckpt")
    with pytest.raises(ValueError, match=r"a\.ckpt is given more than once"):
        combine([tmp_path / "a.ckpt", str(tmp_path / "a.ckpt")], tmp_path / "out.ckpt")
    with pytest.raises(
        ValueError, match=r"the ensemble path '.*' is a folder; give a file in it, e.g. '.*ensemble\.ckpt'"
    ):
        combine([tmp_path / "a.ckpt", tmp_path / "b.ckpt"], tmp_path)
