"""Settings that cannot do what they say are refused before anything is read or trained, naming the key: a
prediction output that is a folder or lies under a file, a run or checkpoint folder that is a file (each ended in a
raw OSError, the prediction output's after the forecasts, the checkpoint folder's after an epoch), and a predict of
no batch (it wrote nothing and said nothing)."""

from pathlib import Path

import pytest

from forecast.callbacks import PredictionWriter
from forecast.cli import main


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_a_prediction_output_that_cannot_be_a_file_is_refused(tmp_path, where):
    (tmp_path / "out.csv").mkdir()
    (tmp_path / "afile").write_text("")
    output = tmp_path / ("out.csv" if where == "folder" else "afile/forecasts.csv")
    expected = "is a folder; give a file in it" if where == "folder" else f"lies under {tmp_path / 'afile'}, a file"
    with pytest.raises(ValueError, match=rf"the prediction_writer.output path .* {expected}"):
        PredictionWriter(str(output))
    PredictionWriter(str(tmp_path / "new" / "forecasts.csv"))  # a folder yet to be made is fine


@pytest.mark.parametrize("key", ["trainer.default_root_dir", "checkpoint.dirpath"])
def test_a_folder_setting_that_names_a_file_is_refused(tmp_path, wide_csv, tiny_cli, key):
    (tmp_path / "notes.txt").write_text("")
    quickstart = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
    args = ["fit", "--config", quickstart, *tiny_cli(wide_csv, tmp_path / "runs")]
    with pytest.raises(ValueError, match=rf"{key} .*notes.txt is a folder setting, but .*notes.txt is a file"):
        main([*args, f"--{key}", str(tmp_path / "notes.txt")])
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_predict_of_no_batch_is_refused(tmp_path, wide_csv, tiny_cli):
    quickstart = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
    args = ["predict", "--config", quickstart, *tiny_cli(wide_csv, tmp_path), "--trainer.limit_predict_batches", "0"]
    with pytest.raises(ValueError, match=r"trainer.limit_predict_batches is 0, so predict would forecast and write"):
        main(args)
