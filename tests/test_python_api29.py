"""``forecast.fit`` against ``python -m forecast fit``: the same settings train the same model, resume alike, and a
misplaced or misspelt setting is refused before training, naming where it belongs."""

import functools
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

import forecast
from forecast.cli import main
from forecast.nn import GRUEncoder

LOOKBACK, HORIZON = 24, 6
QUIET = {"enable_progress_bar": False, "enable_model_summary": False, "logger": False}


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("max_epochs", r"no argument 'max_epochs'; give it in its group: trainer=\{'max_epochs': ...\}"),
        ("batch_size", r"no argument 'batch_size'; give it in its group: data=\{'batch_size': ...\}"),
        (
            "targets",
            r"no argument 'targets'; give it in its group: data=\{'columns': forecast.Columns\(targets=...\)\}",
        ),
        ("trainers", r"no argument 'trainers'; did you mean 'trainer'\?"),
    ],
    ids=["max_epochs", "batch_size", "targets", "trainers"],
)
def test_fit_names_the_group_of_a_keyword_it_does_not_take(keyword, message, wide_frame):
    with pytest.raises(TypeError, match=rf"forecast.fit takes {message}"):
        forecast.fit(wide_frame, lookback=LOOKBACK, horizon=HORIZON, **{keyword: 1})


@pytest.mark.parametrize(
    ("group", "key", "nearest"),
    [("trainer", "max_epoch", "max_epochs"), ("data", "batch_sise", "batch_size"), ("model", "encodr", "encoder")],
)
def test_fit_names_the_nearest_setting_of_a_misspelt_key_as_the_cli_does(group, key, nearest, wide_frame):
    with pytest.raises(
        TypeError, match=rf"fit's {group} sets '{key}', which \w+ does not take; did you mean '{nearest}'"
    ):
        forecast.fit(wide_frame, lookback=LOOKBACK, horizon=HORIZON, **{group: {key: 1}})


@pytest.mark.parametrize(
    "callback",
    [ModelCheckpoint(monitor="val/los"), EarlyStopping(monitor="val/los")],
    ids=["checkpoint", "early-stopping"],
)
def test_fit_refuses_a_callback_monitoring_a_metric_it_never_logs_before_it_trains(callback, wide_frame, tmp_path):
    """The CLI refuses such a monitor before it trains; forecast.fit trained an epoch, then failed with Lightning's
    "could not find the monitored key" (or EarlyStopping's RuntimeError), naming no nearest metric."""
    trainer = {"max_epochs": 1, "default_root_dir": str(tmp_path), "callbacks": [callback], **QUIET}
    with pytest.raises(ValueError, match=r"monitor 'val/los' is no metric that a fit logs \(did you mean 'val/loss'"):
        forecast.fit(wide_frame, lookback=LOOKBACK, horizon=HORIZON, trainer=trainer)
    assert not list(tmp_path.rglob("*.ckpt"))


def _cli_config(csv: Path, root: Path, epochs: int) -> Path:
    """The config of ``python -m forecast fit`` with the settings of ``_python_fit``, written beside ``csv``."""
    encoder = {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hidden_size": 4, "num_layers": 2, "dropout": 0.5}}
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": epochs, "default_root_dir": str(root), "deterministic": True, **QUIET},
        "model": {"encoder": encoder},
        "data": {"source": str(csv), "lookback": LOOKBACK, "horizon": HORIZON, "batch_size": 32},
    }
    path = csv.parent / f"config-{epochs}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _python_fit(frame: pd.DataFrame, root: Path, epochs: int) -> forecast.Forecaster:
    """``forecast.fit`` of a tiny GRU with dropout (so the random generators matter), seeded as the CLI seeds."""
    L.seed_everything(0, workers=True, verbose=False)
    encoder = functools.partial(GRUEncoder, hidden_size=4, num_layers=2, dropout=0.5)
    trainer = {"max_epochs": epochs, "default_root_dir": str(root), "deterministic": True, **QUIET}
    return forecast.fit(
        frame, lookback=LOOKBACK, horizon=HORIZON, data={"batch_size": 32}, model={"encoder": encoder}, trainer=trainer
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.slow
def test_fit_and_the_cli_train_the_same_model_and_return_the_best_checkpoint(wide_frame, wide_csv, tmp_path):
    model = _python_fit(wide_frame, tmp_path / "python", epochs=2)
    cli = main(["fit", "--config", str(_cli_config(Path(wide_csv), tmp_path / "cli", epochs=2))])
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    assert sorted(p.name for p in (tmp_path / "python/checkpoints").iterdir()) == sorted(
        p.name for p in best.parent.iterdir()
    )
    for name, value in _weights(best).items():  # what fit returns is the best file's model, the CLI's
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=1e-6)
    cli_model = forecast.Forecaster.load(best)
    assert model.data_state == cli_model.data_state
    linked = ("lookback", "horizon", "input_size", "target_size", "future_size", "static_size",
              "static_cardinalities", "season_channel", "season_length")  # fmt: skip
    assert {key: model.hparams[key] for key in linked} == {key: cli_model.hparams[key] for key in linked}


@pytest.mark.slow
def test_a_python_fit_resumed_by_the_cli_ends_with_the_weights_of_one_run(wide_frame, wide_csv, tmp_path):
    """A checkpoint of forecast.fit held no random generators (RandomStateCheckpoint): resumed with ``--ckpt_path``,
    the second epoch drew the first epoch's dropout masks again and ended with other weights."""
    _python_fit(wide_frame, tmp_path / "whole", epochs=2)
    _python_fit(wide_frame, tmp_path / "resumed", epochs=1)
    main(["fit", "--config", str(_cli_config(Path(wide_csv), tmp_path / "resumed", epochs=2)), "--ckpt_path", "last"])
    whole = _weights(tmp_path / "whole/checkpoints/last.ckpt")
    for name, value in _weights(tmp_path / "resumed/checkpoints/last.ckpt").items():
        torch.testing.assert_close(value, whole[name], rtol=0, atol=0)


def test_fit_logs_to_csv_as_the_cli_does_where_tensorboard_is_installed(wide_frame, tmp_path, monkeypatch):
    """Lightning's default logger is TensorBoard wherever it is installed; ``forecast.fit`` left it to Lightning,
    so a Python fit on such a machine wrote no ``metrics.csv`` where the CLI's does."""
    from lightning.pytorch.trainer.connectors.logger_connector import logger_connector

    monkeypatch.setattr(logger_connector, "_TENSORBOARD_AVAILABLE", True)  # as on a machine with tensorboard
    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(tmp_path)}
    trainer |= {"enable_progress_bar": False, "enable_model_summary": False}
    encoder = functools.partial(GRUEncoder, hidden_size=2)
    forecast.fit(wide_frame, lookback=LOOKBACK, horizon=HORIZON, model={"encoder": encoder}, trainer=trainer)
    assert list(tmp_path.glob("lightning_logs/version_0/metrics.csv"))


def test_the_cli_keeps_its_atomic_checkpoint_writer_beside_an_environment_plugin(tmp_path):
    """Any ``trainer.plugins`` (a cluster environment, say) dropped the CLI's atomic writer; ``forecast.fit``
    kept it."""
    from forecast.checkpointing import AtomicCheckpointIO

    config = str(Path(__file__).resolve().parents[1] / "configs/etth1/last_value.yaml")
    plugin = "lightning.fabric.plugins.environments.LightningEnvironment"
    cli = main(
        ["--config", config, "--trainer.plugins", plugin, "--trainer.default_root_dir", str(tmp_path)], run=False
    )
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
