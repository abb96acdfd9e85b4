from pathlib import Path

import pytest
import torch

from forecast import Calendar, Columns, Scaling, TimeSeriesDataModule
from forecast.data.options import GROUPED_KEYS, grouped_config

FROZEN = Path(__file__).parent / "frozen_v0.1.0.ckpt"


def test_flat_options_of_an_old_checkpoint_move_into_their_groups():
    flat = torch.load(FROZEN, weights_only=True)["datamodule_hyper_parameters"]
    grouped = grouped_config(flat)
    assert grouped["columns"] == {
        "targets": ["y"],
        "past_covariates": ["load"],
        "future_covariates": ["price"],
        "static_covariates": None,
        "id_column": "id",
        "time_column": "time",
    }
    assert grouped["calendar"] == {"features": ["hour"], "encoding": "cyclical"}
    assert grouped["scaling"] == {
        "scaler": flat["scaler"],
        "covariate_scaler": flat["covariate_scaler"],
        "per_series": True,
    }
    kept = {key: value for key, value in flat.items() if key not in GROUPED_KEYS}  # lookback, split, ...
    assert grouped == kept | {key: grouped[key] for key in ("columns", "scaling", "calendar")}


def test_grouped_options_and_no_options_come_back_unchanged(long_frame):
    columns = Columns(targets=["y"], static_covariates=["region"], id_column="id")
    data = TimeSeriesDataModule(
        long_frame, 10, 5, columns=columns, calendar=Calendar(["hour"]), scaling=Scaling(per_series=True)
    )
    recorded = dict(data.hparams)
    assert recorded["columns"]["static_covariates"] == ["region"] and recorded["scaling"]["per_series"] is True
    assert grouped_config(recorded) == recorded
    assert grouped_config({}) == {}


def test_a_misspelt_calendar_encoding_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"data.calendar.encoding='Integer' is not one of \['cyclical', 'integer'\]"):
        Calendar(["hour"], "Integer")


@pytest.mark.parametrize("role", ["targets", "past_covariates", "future_covariates", "static_covariates"])
def test_a_column_role_given_one_name_instead_of_a_list_is_refused(role):
    """A string is a sequence of letters: 'units' would be read as the columns 'u', 'n', 'i', 't', 's'."""
    with pytest.raises(TypeError, match=rf"data.columns.{role}='units' is one name, not a list.*give \['units'\]"):
        Columns(**{role: "units"})


def test_calendar_features_given_one_name_instead_of_a_list_are_refused():
    """A string is a sequence of letters: 'hour' was read as the features 'h', 'o', 'u', 'r'."""
    with pytest.raises(TypeError, match=r"data.calendar.features='hour' is one name, not a list.*give \['hour'\]"):
        Calendar("hour")


def test_a_scaler_object_or_name_instead_of_a_factory_is_refused_naming_the_option():
    """One scaler object cannot be fitted anew per series and part; it failed at setup as 'not callable'."""
    from sklearn.preprocessing import MinMaxScaler

    with pytest.raises(
        TypeError, match=r"data.scaling.scaler is a MinMaxScaler object.*give the class \(MinMaxScaler\)"
    ):
        Scaling(scaler=MinMaxScaler())
    with pytest.raises(TypeError, match=r"data.scaling.covariate_scaler='MinMaxScaler' is text; give the class"):
        Scaling(covariate_scaler="MinMaxScaler")
    with pytest.raises(TypeError, match=r"data.scaling.per_series='false' is not a bool"):
        Scaling(per_series="false")  # text that would be true
    assert Scaling(scaler=MinMaxScaler, covariate_scaler=None, per_series=True).scaler is MinMaxScaler


def test_a_calendar_feature_named_twice_is_refused_naming_it():
    """It made the same two channels twice, under the same names."""
    with pytest.raises(ValueError, match=r"data.calendar.features names \['hour'\] more than once; name each"):
        Calendar(["hour", "month", "hour"])
