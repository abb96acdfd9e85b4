"""A leading ``~`` in the paths the library reads or writes is the home folder, as in a shell: a path from a
config file or a Python string passes no shell that would expand it."""

import pandas as pd
import pytest

from forecast import Forecaster, TimeSeriesDataModule
from forecast.export import to_program


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_a_data_source_under_the_home_folder_is_read(home):
    frame = pd.DataFrame({"y": range(40)}, index=pd.date_range("2024-01-01", periods=40, freq="h", name="time"))
    frame.to_csv(home / "sales.csv")
    data = TimeSeriesDataModule("~/sales.csv", 8, 2)
    data.setup("fit")
    assert len(data.dataset("train")) > 0


def test_an_export_under_the_home_folder_is_written_there(home):
    to_program(Forecaster(lookback=8, horizon=2, input_size=1, target_size=1), "~/exports/model.pt2")
    assert (home / "exports/model.pt2").is_file() and not (home.parent / "~").exists()
