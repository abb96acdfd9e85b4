"""Where a test of a benchmark cell stands among the published figures: the line ``python -m forecast test`` prints
where it followed their protocol, and nowhere else."""

import logging
from pathlib import Path

import pytest

from forecast import TimeSeriesDataModule
from forecast.cli import main
from forecast.datasets.published import PUBLISHED, standard_protocol, standing

LAST_VALUE = str(Path(__file__).resolve().parents[1] / "configs/etth1/last_value.yaml")


def test_a_test_stands_ahead_level_or_behind_each_published_model_by_its_three_digits():
    line = standing("etth1", 96, mse=0.3681, mae=0.3944)
    assert line.startswith("etth1 at H=96: test MSE / MAE 0.3681 / 0.3944 against the published")
    assert "SegRNN 0.368 / 0.395 (level / ahead)" in line
    assert "TQNet 0.371 / 0.393 (ahead / behind)" in line
    assert "best L<=720 0.350 / 0.384 (behind / behind)" in line
    assert standing("etth1", 720, 0.42, 0.45).endswith("best L<=720 0.424 / - (ahead / -)")  # FITS gives no MAE
    assert standing("etth1", 24, 0.3, 0.3) is None and standing("ettm1", 96, 0.3, 0.3) is None
    assert len(PUBLISHED["etth1"]) == 4


@pytest.mark.parametrize(
    ("options", "followed"),
    [
        ({}, True),  # the preset split, every channel, every window, standardized: as a data module records them
        ({"eval_stride": 2}, False),
        ({"columns": {"targets": ["OT"]}}, False),
        ({"split": {"class_path": "forecast.data.FractionSplit"}}, False),
        ({"split": {"class_path": "forecast.data.splits.ETTSplit", "init_args": {"rows_per_hour": 1}}}, True),
        ({"split": {"class_path": "forecast.data.ETTSplit", "init_args": {"rows_per_hour": 4}}}, False),
        ({"scaling": {"scaler": {"class_path": "sklearn.preprocessing.MinMaxScaler"}}}, False),
    ],
)
def test_the_protocol_is_the_preset_split_every_channel_and_window_standardized(options, followed):
    data = TimeSeriesDataModule("etth1", 96, 96)
    assert standard_protocol("etth1", dict(data.hparams) | options) is followed


@pytest.mark.slow  # a test of the last value on ETTh1 through the CLI: about 3 s each
@pytest.mark.parametrize(
    ("extra", "prints"),
    [([], True), (["--trainer.limit_test_batches", "2"], False), (["--data.eval_stride", "4"], False)],
    ids=["every window", "some batches", "every 4th window"],
)
def test_the_test_command_says_where_it_stands_only_where_it_followed_the_protocol(extra, prints, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        main(["test", "--config", LAST_VALUE, "--trainer.default_root_dir", str(tmp_path), *extra])
    said = [record.getMessage() for record in caplog.records if record.getMessage().startswith("etth1 at H=96")]
    assert len(said) == int(prints)
    if prints:
        assert "SegRNN 0.368 / 0.395 (behind / behind)" in said[0]  # the last value: 1.29 / 0.71
