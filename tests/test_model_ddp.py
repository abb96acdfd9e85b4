"""The model's logging under DDP on CPU (gloo): two processes in a script of their own, as Lightning launches them."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.ddp, pytest.mark.slow]  # two runs of two processes that import Lightning: 24 s on two cores

SCRIPT = textwrap.dedent(
    """
    import functools, json, sys
    import numpy as np, pandas as pd, torch, lightning as L
    from forecast import Columns, Forecaster, TimeSeriesDataModule
    from forecast.data import RowSplit

    steps = np.arange(400)
    values = np.sin(steps / 4) + 0.3 * np.random.default_rng(0).standard_normal(400)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=400, freq="h"), "a": values})
    data = TimeSeriesDataModule(frame, 12, 4, columns=Columns(targets=["a"]), split=RowSplit(300, 350), batch_size=8)
    torch.manual_seed(0)
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5, threshold=0.0)
    schedule = {"lr_scheduler": plateau, "lr_scheduler_interval": "step", "lr_scheduler_monitor": "train/loss"}
    model = Forecaster(12, 4, 1, 1, **schedule)
    rates = []

    class RecordRates(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = L.Trainer(
        max_steps=12, accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[RecordRates()],
        accumulate_grad_batches=int(sys.argv[2]),
    )
    trainer.fit(model, data)
    weights = torch.cat([parameter.detach().flatten() for parameter in model.parameters()]).tolist()
    with open(f"{sys.argv[1]}/rank{trainer.global_rank}.json", "w") as file:
        json.dump({"rates": rates, "weights": weights}, file)
    torch.distributed.destroy_process_group()
    """
)


@pytest.mark.parametrize("accumulated", [1, 2])
def test_a_plateau_scheduler_on_the_training_loss_steps_every_process_alike(tmp_path, accumulated):
    """Each process logged its own train/loss, so ReduceLROnPlateau cut the rate at different steps on each, and
    their weights, which DDP keeps equal only when every process takes the same step, drifted apart. Under
    accumulation the step reads the mean loss of the batches it accumulated, averaged over the processes too."""
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(accumulated)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["rates"] == ranks[1]["rates"] and min(ranks[0]["rates"]) < 1e-3  # cut, and alike
    assert ranks[0]["weights"] == ranks[1]["weights"]
