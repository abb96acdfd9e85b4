"""A fit, test and backtest on 2 processes (CPU, gloo) against one process over the same windows.

The 2-process run is a script of its own, as Lightning's DDP launcher starts it again per process; each process
records its validations and its callbacks' decisions, and rank 0 each checkpoint file it wrote. The references
are computed here in one process: the naive forecasts' MSE from the one-process validation windows, the best
checkpoint's validation from ``Forecaster.load``, and the test and backtest reports of that checkpoint.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
from lightning.pytorch.strategies import SingleDeviceStrategy

from forecast import Forecaster, TimeSeriesDataModule
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

# Three series of 120 rows with repaired gaps in the targets: with eval_stride 8 their 9 validation windows and
# 9 test windows split 5 and 4 between the processes, in batches of 4 (2 batches on one, 1 on the other).
DATA = textwrap.dedent(
    """
    import numpy as np, pandas as pd
    from forecast import Columns, TimeSeriesDataModule
    from forecast.data import FractionSplit

    def frame():
        steps = np.arange(120)
        parts = []
        for i, (name, level, period) in enumerate([("A", 10, 4), ("B", -5, 6), ("C", 0, 9)]):
            y = level + np.sin(steps / period) + 0.1 * np.random.default_rng(i).standard_normal(120)
            y[[30, 80, 88 + i, 100]] = np.nan
            parts.append(pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=120, freq="h"), "y": y}))
        return pd.concat(parts, ignore_index=True)

    def data():
        return TimeSeriesDataModule(
            frame(), 12, 3, columns=Columns(targets=["y"]), split=FractionSplit(0.2, 0.2), eval_stride=8,
            batch_size=4, seasonal_period=6, nan_policy="ffill",
        )
    """
)

SCRIPT = textwrap.dedent(
    """
    import functools, json, sys
    from pathlib import Path
    import lightning as L, torch
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.strategies import DDPStrategy
    from forecast import Forecaster
    from forecast.callbacks import ResumableModelCheckpoint
    from forecast.checkpointing import AtomicCheckpointIO
    from forecast.comparison import NaiveComparison
    from forecast.nn import GRUEncoder
    from forecast.reports import EvaluationReport
    from forecast.trainer import ForecastTrainer
    from ddp_data import data

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    L.seed_everything(0)

    class LoggedWrites(AtomicCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            super().save_checkpoint(checkpoint, path, storage_options)
            written = [torch.distributed.get_rank(), Path(path).name, checkpoint["global_step"]]
            with open(out / "writes.jsonl", "a") as file:
                file.write(json.dumps(written) + "\\n")

    validations = []

    class Validations(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                validations.append({key: float(value) for key, value in trainer.callback_metrics.items()
                                    if key.startswith("val/")})

    module = data()
    model = Forecaster(12, 3, 1, 1, encoder=functools.partial(GRUEncoder, hidden_size=4))
    checkpoint = ResumableModelCheckpoint(dirpath=out / "checkpoints", monitor="val/loss", save_last=True, save_top_k=1)
    naive = NaiveComparison(seasonal_period=6)
    # min_delta 10: the first epoch is the best there will be, so the fit stops after the second.
    stopping = EarlyStopping("val/loss", patience=0, min_delta=10.0)
    common = dict(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                  enable_model_summary=False)
    trainer = L.Trainer(**common, max_epochs=4, limit_train_batches=2, num_sanity_val_steps=0, default_root_dir=out,
                        callbacks=[checkpoint, naive, stopping, Validations()], plugins=[LoggedWrites()])
    trainer.fit(model, module)
    best = checkpoint.best_model_path
    tester = ForecastTrainer(**common, default_root_dir=out / "test",
                             callbacks=[EvaluationReport(num_plots=0, write_forecasts=True)])
    tester.test(model, module, ckpt_path=best, verbose=False)
    # A strategy instance beside the accelerator, as a config's trainer.strategy.class_path gives it.
    backtester = ForecastTrainer(**common | {"strategy": DDPStrategy()}, default_root_dir=out / "backtest",
                                 callbacks=[EvaluationReport(num_plots=0, write_forecasts=True)])
    backtester.backtest(model, data(), ckpt_path=best, start=-30, stride=2, verbose=False)
    facts = {
        "validations": validations, "naive": naive.naive, "best": best, "last": checkpoint.last_model_path,
        "best_k": {name: float(score) for name, score in checkpoint.best_k_models.items()},
        "stopped_epoch": stopping.stopped_epoch, "wait": stopping.wait_count,
        "stopping_best": float(stopping.best_score),
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(facts))
    torch.distributed.destroy_process_group()
    """
)


def data_module() -> TimeSeriesDataModule:
    """The script's data module, in this process."""
    namespace: dict = {}
    exec(DATA, namespace)  # noqa: S102 - the module text the script imports, so both read the same data
    return namespace["data"]()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The 2-process fit (early stopping after its second epoch), then a test and a backtest of its best
    checkpoint, each with the evaluation report."""
    root = tmp_path_factory.mktemp("ddp_audit")
    (root / "ddp_data.py").write_text(DATA)
    (root / "fit.py").write_text(SCRIPT)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(root / "fit.py"), str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((root / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    writes = [json.loads(line) for line in (root / "writes.jsonl").read_text().splitlines()]
    return {"root": root, "ranks": ranks, "writes": writes}


def validation_windows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every validation window of one process, scaled: the targets' lookback (N, L), targets (N, H), and whether
    each target was observed (N, H)."""
    data = data_module()
    data.setup("fit")
    batches = list(data.val_dataloader())
    past = np.concatenate([batch.past[..., 0].double().numpy() for batch in batches])
    target = np.concatenate([batch.target[..., 0].double().numpy() for batch in batches])
    observed = np.concatenate([np.ones(batch.target.shape[:2], bool) if batch.observed is None
                               else batch.observed[..., 0].numpy() for batch in batches])  # fmt: skip
    return past, target, observed


def naive_mse(past: np.ndarray, target: np.ndarray, observed: np.ndarray, period: int) -> float:
    """The seasonal naive forecast's MSE over the observed targets: each step the value ``period`` steps before
    it, the lookback's last season repeated (period 1: the last value)."""
    lookback, horizon = past.shape[1], target.shape[1]
    forecast = past[:, lookback - period + np.arange(horizon) % period]  # -> (N, H)
    return float(((forecast - target) ** 2)[observed].mean())


@pytest.mark.ddp
@pytest.mark.slow  # the shared fixture: a 2-process fit, test and backtest (15-30 s)
def test_ddp_naive_comparison_scores_every_validation_window_once(run):
    """5 and 4 validation windows on the processes, of which some targets were repaired: the naive forecasts'
    MSE equals one process's over all 9 windows, and the model's is its best epoch's ``val/mse``."""
    past, target, observed = validation_windows()
    assert len(past) == 9 and not observed.all()
    reference = {
        name: naive_mse(past, target, observed, period)
        for name, period in [("last value", 1), ("seasonal naive (6 steps)", 6)]
    }
    for rank in run["ranks"]:
        assert rank["naive"] == pytest.approx(reference, rel=1e-6)
    written = json.loads((run["root"] / "naive_comparison.json").read_text())["val_mse"]
    best = min(run["ranks"][0]["validations"], key=lambda validation: validation["val/loss"])
    assert written == pytest.approx({"model": best["val/mse"]} | reference, rel=1e-6)


@pytest.mark.ddp
@pytest.mark.slow  # the shared fixture: a 2-process fit, test and backtest (15-30 s)
def test_ddp_checkpoints_and_early_stopping_decide_alike_and_write_each_file_once(run):
    """Every process saw the same validation figures, stopped at the same epoch and chose the same best file;
    rank 0 alone wrote each checkpoint, once per step; the best one loads, and one process validating it gets
    the score it was chosen by."""
    first, second = run["ranks"]
    assert first == second and len(first["validations"]) == 2 and first["stopped_epoch"] == 1
    losses = [validation["val/loss"] for validation in first["validations"]]
    assert first["best_k"] == {first["best"]: pytest.approx(min(losses))} and first["stopping_best"] == losses[0]
    assert {rank for rank, _, _ in run["writes"]} == {0}
    written = [(name, step) for _, name, step in run["writes"]]
    assert len(written) == len(set(written))
    assert (Path(first["best"]).name, 2 * (losses.index(min(losses)) + 1)) in written
    assert ("last.ckpt", 4) in written  # the final step: 2 epochs of 2 batches
    model = Forecaster.load(first["best"])
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    validated = trainer.validate(model, data_module(), verbose=False)[0]
    assert validated["val/loss"] == pytest.approx(min(losses), rel=1e-6)
    assert validated["val/mse"] == pytest.approx(json.loads((run["root"] / "naive_comparison.json").read_text())
                                                 ["val_mse"]["model"], rel=1e-6)  # fmt: skip


def written_report(root: Path) -> dict[str, pd.DataFrame | dict]:
    return {
        "metrics": json.loads((root / "metrics.json").read_text()),
        "by_horizon": pd.read_csv(root / "metrics_by_horizon.csv"),
        "forecasts": pd.read_csv(root / "forecasts.csv"),
    }


@pytest.mark.ddp
@pytest.mark.slow  # the shared fixture: a 2-process fit, test and backtest (15-30 s)
def test_ddp_test_and_backtest_reports_equal_one_process_of_the_best_checkpoint(run, tmp_path):
    """Per-step metrics (MSE, MAE, MASE, ... scaled and in original units), the overall ones, the window count and
    every window's forecasts of a test and of a backtest, on uneven shares, equal one process's. The backtest's
    trainer was given a ``DDPStrategy`` instance beside ``accelerator="cpu"``: its test trainer, given the same
    instance, refused it ("accelerator set through both strategy class and accelerator flag")."""
    best = run["ranks"][0]["best"]
    one = {"accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False}
    model = Forecaster.load(best)
    for name in ("test", "backtest"):
        report = EvaluationReport(num_plots=0, write_forecasts=True)
        trainer = ForecastTrainer(**one, default_root_dir=tmp_path / name, callbacks=[report])
        if name == "test":
            trainer.test(model, data_module(), ckpt_path=best, verbose=False)
        else:
            trainer.backtest(model, data_module(), ckpt_path=best, start=-30, stride=2, verbose=False)
    for name, windows in (("test", 9), ("backtest", 3 * 14)):
        two, single = written_report(run["root"] / name), written_report(tmp_path / name)
        assert two["metrics"]["windows"] == single["metrics"]["windows"] == windows
        assert two["metrics"]["metrics"] == pytest.approx(single["metrics"]["metrics"], rel=1e-6, nan_ok=True)
        pd.testing.assert_frame_equal(two["by_horizon"], single["by_horizon"], rtol=1e-6)
        pd.testing.assert_frame_equal(two["forecasts"], single["forecasts"], rtol=1e-6)
        assert list(two["forecasts"]["window"]) == np.repeat(np.arange(windows), 3).tolist()


RESUME = textwrap.dedent(
    """
    import functools, json, sys
    from pathlib import Path
    import lightning as L, torch
    from forecast import Forecaster
    from forecast.callbacks import RandomStateCheckpoint, ResumableModelCheckpoint
    from forecast.comparison import NaiveComparison
    from forecast.nn import GRUEncoder
    from ddp_data import data

    out, epochs, resume = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None
    torch.set_num_threads(1)
    L.seed_everything(0)
    model = Forecaster(12, 3, 1, 1, encoder=functools.partial(GRUEncoder, hidden_size=4, num_layers=2, dropout=0.3))
    checkpoint = ResumableModelCheckpoint(dirpath=out / "checkpoints", monitor="val/loss", save_last=True)
    naive = NaiveComparison(fallback=True)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=epochs, limit_train_batches=2, num_sanity_val_steps=0,
        default_root_dir=out, callbacks=[checkpoint, naive, RandomStateCheckpoint()],
    )
    trainer.fit(model, data(), ckpt_path=resume)
    weights = torch.cat([parameter.detach().flatten() for parameter in model.parameters()]).tolist()
    facts = {"weights": weights, "epochs": naive.epochs, "naive": naive.naive, "fallback": naive.naive_fallback,
             "best": float(checkpoint.best_model_score), "step": trainer.global_step}
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(facts))
    torch.distributed.destroy_process_group()
    """
)


def resume_run(root: Path, *args: str) -> list[dict]:
    """``RESUME`` on 2 processes with ``args`` (epochs, and a checkpoint to resume from): each process's facts."""
    root.mkdir()
    (root / "ddp_data.py").write_text(DATA)
    (root / "fit.py").write_text(RESUME)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(root / "fit.py"), str(root), *args], capture_output=True, text=True, env=env, cwd=root,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((root / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.ddp
@pytest.mark.slow  # three more 2-process fits
def test_ddp_fit_resumed_from_last_ckpt_ends_as_one_that_never_stopped(tmp_path):
    """Dropout between two layers draws from each process's generators, which the checkpoint restores (rank 0's,
    into every process); the naive comparison's scores and the best score carry over the resume."""
    straight = resume_run(tmp_path / "straight", "3")
    resume_run(tmp_path / "stopped", "2")
    resumed = resume_run(tmp_path / "resumed", "3", str(tmp_path / "stopped/checkpoints/last.ckpt"))
    assert straight[0]["weights"] == straight[1]["weights"] and straight[0]["step"] == 6
    for rank in (0, 1):
        assert resumed[rank] == straight[rank]


def test_a_backtest_runs_on_a_trainer_given_a_strategy_instance_beside_its_accelerator(tmp_path):
    """Lightning sets the trainer's accelerator on the strategy instance it is given; the backtest's own test
    trainer, given that instance and ``accelerator="cpu"`` again, refused it before any window was read."""
    results = []
    for name, strategy in (("instance", SingleDeviceStrategy("cpu")), ("name", "auto")):
        trainer = ForecastTrainer(accelerator="cpu", strategy=strategy, logger=False, enable_progress_bar=False,
                                  default_root_dir=tmp_path / name)  # fmt: skip
        model = Forecaster(12, 3, 1, 1, encoder=IdentityEncoder, head=LastValueHead)
        results.append(trainer.backtest(model, data_module(), start=-30, stride=2, verbose=False)[0])
    assert results[0] == results[1] and results[0]["test/mse"] > 0


@pytest.mark.slow  # two refits and tests of each trainer (3 s)
def test_a_refit_backtest_runs_on_a_trainer_given_a_strategy_instance_beside_its_accelerator(tmp_path):
    """A refit backtest builds a trainer per refit and one to test: each takes a strategy instance of its own."""
    results = []
    for name, strategy in (("instance", SingleDeviceStrategy("cpu")), ("name", "auto")):
        trainer = ForecastTrainer(accelerator="cpu", strategy=strategy, max_epochs=1, logger=False,
                                  enable_progress_bar=False, default_root_dir=tmp_path / name)  # fmt: skip
        model = Forecaster(12, 3, 1, 1, encoder=IdentityEncoder, head=LastValueHead)
        results.append(trainer.backtest(model, data_module(), start=-30, stride=2, refit_every=5, verbose=False)[0])
    assert results[0] == results[1] and results[0]["test/mse"] > 0


def test_a_distributed_fit_of_a_model_without_parameters_to_train_is_refused_naming_the_fix():
    """torch's DistributedDataParallel refuses a module without trainable parameters with a RuntimeError naming no
    setting, on every process; the model's setup, which runs before Lightning wraps it, refuses it first."""
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    baseline = Forecaster(12, 3, 1, 1, encoder=IdentityEncoder, head=LastValueHead)
    baseline.trainer = trainer
    with pytest.raises(ValueError, match=r"no trainable parameters .* fit it on one device \(--trainer.devices 1\)"):
        baseline.setup("fit")
    baseline.setup("validate")  # evaluating it needs no wrapping


@pytest.mark.ddp
@pytest.mark.slow  # a spawned process
def test_the_run_directory_of_a_ddp_spawn_fit_is_the_one_its_files_are_in(tmp_path):
    """ddp_spawn fits in a copy of the trainer; the CLI's own process named the next free version as the run
    directory (version_1), while the checkpoints and naive_comparison.json were in version_0."""
    from forecast.callbacks import run_directory
    from forecast.cli import main

    frame = pd.DataFrame(
        {"y": np.sin(np.arange(300) / 5)}, index=pd.date_range("2024-01-01", periods=300, freq="h", name="time")
    )
    frame.to_csv(tmp_path / "wide.csv")
    cli = main(["fit", "--config", str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml"),
                "--data.source", str(tmp_path / "wide.csv"), "--data.lookback", "12", "--data.horizon", "3",
                "--data.split", "forecast.data.FractionSplit", "--trainer.default_root_dir", str(tmp_path),
                "--trainer.max_epochs", "1", "--trainer.strategy", "ddp_spawn", "--trainer.devices", "1",
                "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])  # fmt: skip
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    assert run_directory(cli.trainer) == best.parent.parent == tmp_path / "lightning_logs" / "version_0"
    assert (run_directory(cli.trainer) / "naive_comparison.json").is_file()
