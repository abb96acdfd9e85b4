import json
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from forecast import Forecaster, TimeSeriesDataModule, callbacks
from forecast.callbacks import FiniteLossCheck, PredictionWriter, RandomStateCheckpoint
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LastValueHead

QUANTILE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "etth1" / "gru_quantile.yaml"


def test_prediction_writer_adds_monotone_quantile_columns(wide_csv, tmp_path, tiny_cli):
    output = tmp_path / "forecast.csv"
    tiny = [*tiny_cli(wide_csv, tmp_path), "--trainer.logger", "false"]
    main(["predict", "--config", str(QUANTILE_CONFIG), *tiny, "--prediction_writer.output", str(output)])
    table = pd.read_csv(output)
    quantile_columns = [f"{target}_q{level}" for target in "abc" for level in (0.1, 0.5, 0.9)]
    assert list(table.columns) == ["id", "time", "a", "b", "c", *quantile_columns]
    for target in "abc":
        low, median, high = (table[f"{target}_q{level}"].to_numpy() for level in (0.1, 0.5, 0.9))
        assert np.all(low <= median) and np.all(median <= high)
        np.testing.assert_allclose(table[target], median, rtol=1e-6)  # the point forecast is the median


def test_predictions_go_to_the_run_directory_under_a_logger_without_a_local_one(wide_csv, tmp_path, tiny_cli):
    """An MLflow logger on a database keeps no folder (``trainer.log_dir`` is None): the table goes to
    ``default_root_dir``, as the run's config and reports do."""
    pytest.importorskip("mlflow")
    logger = {
        "class_path": "lightning.pytorch.loggers.MLFlowLogger",
        "init_args": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "artifact_location": str(tmp_path)},
    }
    main(
        [
            "predict",
            "--config",
            str(QUANTILE_CONFIG),
            *tiny_cli(wide_csv, tmp_path),
            "--trainer.logger",
            json.dumps(logger),
        ]
    )
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert list(table.columns[:5]) == ["id", "time", "a", "b", "c"] and len(table) > 0
    assert (tmp_path / "config.yaml").is_file()


def test_prediction_writer_writes_parquet_for_a_parquet_name_in_any_case(wide_csv, tmp_path, tiny_cli):
    """``forecasts.PARQUET`` got a CSV file, which ``pd.read_parquet`` refuses."""
    output = tmp_path / "forecasts.PARQUET"
    tiny = [*tiny_cli(wide_csv, tmp_path), "--trainer.logger", "false"]
    main(["predict", "--config", str(QUANTILE_CONFIG), *tiny, "--prediction_writer.output", str(output)])
    table = pd.read_parquet(output)
    assert list(table.columns[:5]) == ["id", "time", "a", "b", "c"] and len(table) == 6


@pytest.mark.parametrize("output", ["forecasts.pq", "forecasts", "forecasts.json"])
def test_prediction_writer_refuses_a_name_that_is_neither_csv_nor_parquet(output):
    """Such a name got a CSV file under it, after the whole prediction had run."""
    with pytest.raises(ValueError, match=f"prediction_writer.output '{output}' names neither a .csv nor a .parquet"):
        PredictionWriter(output)
    assert PredictionWriter("forecasts.csv.gz").output == "forecasts.csv.gz"


def test_prediction_writer_refuses_a_compression_whose_package_is_missing_before_predicting(monkeypatch):
    """forecasts.csv.zst passed the check, and the write failed with ImportError after the whole prediction."""
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as where it is not installed: importing it fails
    with pytest.raises(ValueError, match="forecasts.csv.zst.*zstandard package, which is not installed"):
        PredictionWriter("forecasts.csv.zst")


def test_prediction_writer_keeps_the_type_of_the_ids(tmp_path, tiny_cli):
    """Integer ids came back as text ("7"), so a Parquet table of forecasts did not join onto its history."""
    times = pd.date_range("2024-01-01", periods=60, freq="h")
    frame = pd.concat([pd.DataFrame({"id": i, "time": times, "y": np.sin(np.arange(60) / (i + 1))}) for i in (7, 3)])
    frame.to_csv(tmp_path / "long.csv", index=False)
    output = tmp_path / "forecasts.parquet"
    tiny = [*tiny_cli(tmp_path / "long.csv", tmp_path), "--trainer.logger", "false"]
    main(["predict", "--config", str(QUANTILE_CONFIG), *tiny, "--prediction_writer.output", str(output)])
    table = pd.read_parquet(output)
    assert table["id"].dtype == np.int64 and table["id"].tolist() == [7] * 6 + [3] * 6


class _OtherRank:
    """The trainer of a process other than rank 0 under DDP, where Lightning's ``log_dir`` is a broadcast from
    rank 0 that every process must join."""

    def __init__(self, root: Path):
        self.default_root_dir, self.joined = str(root), False

    @property
    def log_dir(self) -> str:
        self.joined = True
        return self.default_root_dir


def test_every_process_joins_the_broadcast_of_the_run_directory(tmp_path, monkeypatch):
    """Without an output, rank 0 alone asked for ``trainer.log_dir`` after the others had returned: its broadcast
    waited for them (NCCL: until the timeout; gloo: "Connection closed by peer"), and no table was written."""
    monkeypatch.setattr(callbacks, "gather_windows", lambda windows, keys: None)  # as on a rank other than 0
    trainer = _OtherRank(tmp_path)
    prediction = {"forecast": torch.zeros(1, 3, 1), "series": torch.zeros(1, dtype=torch.long), "time": torch.zeros(1)}
    PredictionWriter().write_on_epoch_end(trainer, None, [prediction], [])
    assert trainer.joined and not list(tmp_path.iterdir())


def test_an_output_in_the_home_folder_is_written_there(tmp_path, monkeypatch):
    """``output: ~/forecasts/f.csv`` (a YAML value, which no shell expands) made a folder named ``~`` in the working
    directory, then failed after the whole prediction: "Cannot save file into a non-existent directory"."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    times = pd.date_range("2024-01-01", periods=30, freq="h")
    data = TimeSeriesDataModule(pd.DataFrame({"y": np.arange(30.0)}, index=times), lookback=8, horizon=3)
    model = Forecaster(8, 3, data.input_size, data.target_size, encoder=IdentityEncoder, head=LastValueHead)
    writer = PredictionWriter("~/forecasts/f.csv")
    trainer = L.Trainer(callbacks=[writer], logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.predict(model, datamodule=data)
    table = pd.read_csv(tmp_path / "home" / "forecasts" / "f.csv")
    np.testing.assert_allclose(table["y"], 29.0, rtol=1e-6)  # the last value, three steps
    assert len(table) == 3 and not (tmp_path / "~").exists()


def test_the_run_directory_of_a_run_under_the_home_folder_is_there(tmp_path, monkeypatch):
    """``trainer.default_root_dir: ~/runs``: the logger wrote to the home folder, but the reports (metrics.json,
    naive_comparison.json, forecast.png, predictions.csv) went to a folder named ``~`` in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    trainer = L.Trainer(logger=CSVLogger("~/runs"), enable_progress_bar=False, enable_model_summary=False)
    assert callbacks.run_directory(trainer) == tmp_path / "runs" / "lightning_logs" / "version_0"


def test_finite_loss_check_names_the_learning_rate_key_to_lower():
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(FloatingPointError, match=r"training loss is inf .* a lower model\.optimizer\.init_args\.lr,"):
        FiniteLossCheck().on_before_backward(trainer, None, torch.tensor(float("inf")))


def test_a_resumed_run_draws_the_series_balanced_windows_of_the_run_it_resumes(monkeypatch):
    """``data.sampling: series`` seeds its draws from the run's seed; a resumed process (under ``seed_everything:
    true``, Lightning's default, a new seed each process) drew other windows than the run it resumed."""
    for variable in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):  # seed_everything's, restored after the test
        monkeypatch.delenv(variable, raising=False)
    times = pd.date_range("2024-01-01", periods=60, freq="h")
    frame = pd.concat(
        pd.DataFrame({"id": i, "time": times[:rows], "y": np.arange(rows)}) for i, rows in enumerate([60, 40, 30])
    )
    data = TimeSeriesDataModule(frame, lookback=6, horizon=2, split=FractionSplit(), sampling="series", batch_size=8)
    data.setup("fit")

    def drawn() -> list[tuple[list[int], list[int]]]:
        return [(batch.series.tolist(), batch.time.tolist()) for batch in data.train_dataloader()]

    L.seed_everything(7)
    saved, first = RandomStateCheckpoint().state_dict(), drawn()
    L.seed_everything(8)  # the resumed process's own seed
    RandomStateCheckpoint().load_state_dict(saved)
    assert drawn() == first
