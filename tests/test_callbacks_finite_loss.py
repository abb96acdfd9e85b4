"""``FiniteLossCheck`` under DDP: every process stops, not only the one whose loss is not finite."""

import subprocess
import sys

import lightning as L
import pytest
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy

from forecast.callbacks import FiniteLossCheck

DDP_SCRIPT = """
import sys
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy

from forecast.callbacks import FiniteLossCheck


class Squares(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        return loss * float("nan") if self.global_rank == 1 and batch_idx == 1 else loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    strategy = DDPStrategy(process_group_backend="gloo", timeout=timedelta(seconds=60))
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_steps=4, callbacks=[FiniteLossCheck()],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    try:
        trainer.fit(Squares(), torch.utils.data.DataLoader(torch.randn(16, 2), batch_size=2))
        outcome = "finished"
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    Path(sys.argv[1], f"rank{trainer.global_rank}.txt").write_text(outcome)
"""


class Tiny(L.LightningModule):
    """One linear layer fitted to zero; its loss is finite."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class RankZeroOfTwo(SingleDeviceStrategy):
    """This process as rank 0 of two processes, the other of which has a NaN loss: a gather gets this
    process's tensor and zeros from rank 1 (which reports its loss as finite: 0, false)."""

    def all_gather(self, tensor: torch.Tensor, group=None, sync_grads: bool = False) -> torch.Tensor:
        return torch.stack([tensor, torch.zeros_like(tensor)])


def test_finite_loss_check_stops_a_process_whose_own_loss_is_finite_when_another_s_is_not(tmp_path):
    """The process with the NaN loss raised alone, and the others waited for it in the next all-reduce."""
    trainer = L.Trainer(
        strategy=RankZeroOfTwo(device=torch.device("cpu")),
        max_steps=1,
        callbacks=[FiniteLossCheck()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(FloatingPointError, match="training loss is not finite on process 1 of 2 at epoch 0, global"):
        trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.ones(1, 1, 2), batch_size=None))


@pytest.mark.slow
def test_finite_loss_check_stops_every_ddp_process_with_its_error(tmp_path):
    """Two gloo processes; rank 1's loss is NaN at its second batch. Rank 0 got gloo's "Connection closed by
    peer" (or, had rank 1's process lived on, a timeout) instead of the check's error."""
    script = tmp_path / "fit.py"
    script.write_text(DDP_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path, capture_output=True, timeout=240)
    expected = "on process 1 of 2 at epoch 0, global step 1, batch index 1 of the epoch"
    outcomes = {rank: (tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)}
    assert outcomes[0].startswith("FloatingPointError: training loss is not finite " + expected), outcomes
    assert outcomes[1].startswith("FloatingPointError: training loss is nan " + expected), outcomes
