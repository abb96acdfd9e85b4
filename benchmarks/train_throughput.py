"""Training windows per second of the default GRU config: our CLI against a plain PyTorch loop.

Both train the model that ``configs/etth1/gru.yaml`` builds, from the same initial weights, on the
same data loader (ETTh1 training windows, batch 64), with the same Adam step. The CLI side is the
whole ``python -m forecast fit`` stack: Lightning's loop, logging, the CLI's callbacks (checkpoint,
NaN check, random-state checkpoint); one validation batch (for the config's early stopping) runs
after the timed steps. The first ``--warmup`` batches of each run are not timed; runs alternate, and
the median is reported.

    python benchmarks/train_throughput.py [--batches 150] [--repeats 5] [--accelerator cpu]
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import lightning as L  # noqa: E402
import torch  # noqa: E402

from forecast.cli import ForecastCLI  # noqa: E402
from forecast.data.datamodule import TimeSeriesDataModule  # noqa: E402
from forecast.model import Forecaster  # noqa: E402
from forecast.trainer import ForecastTrainer  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs/etth1/gru.yaml"


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a clock read after it counts that work (as the plain loop's does)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _StepTimer(L.Callback):
    """Seconds and windows of the training batches after the first ``warmup``, synchronized on a GPU."""

    def __init__(self, warmup: int):
        self.warmup, self.windows, self.start, self.seconds = warmup, 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            synchronize(pl_module.device)
            self.windows += len(batch)
            self.seconds = time.perf_counter() - self.start


def build_cli(batches: int, accelerator: str, root: str) -> ForecastCLI:
    args = ["--config", str(CONFIG), "--trainer.max_epochs", "1", "--trainer.limit_train_batches",
            str(batches), "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", accelerator, "--trainer.default_root_dir", root]  # fmt: skip
    return ForecastCLI(
        Forecaster, TimeSeriesDataModule, trainer_class=ForecastTrainer, args=args, run=False,
        save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
    )  # fmt: skip


def cli_rate(batches: int, warmup: int, accelerator: str, root: str) -> tuple[float, Forecaster, TimeSeriesDataModule]:
    """Windows/s of ``fit`` through the CLI; also the untrained model and the data module, for the plain loop."""
    cli = build_cli(batches, accelerator, root)
    initial = copy.deepcopy(cli.model)
    timer = _StepTimer(warmup)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, cli.datamodule)
    return timer.windows / timer.seconds, initial, cli.datamodule


def plain_rate(model: Forecaster, data: TimeSeriesDataModule, batches: int, warmup: int, device: str) -> float:
    """Windows/s of a hand-written loop: forward, loss, backward, Adam step, nothing else."""
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    windows, start, end = 0, 0.0, 0.0
    for index, batch in zip(range(batches), data.train_dataloader(), strict=False):  # no batch past the last is loaded
        if index == warmup:
            start = time.perf_counter()
        past, future, static, target = (t.to(device) for t in (batch.past, batch.future, batch.static, batch.target))
        loss = model.loss(model(past, future, static, target), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(torch.device(device))
        if index >= warmup:
            windows += len(batch)
            end = time.perf_counter()
    return windows / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=150, help="training batches per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches at the start of each run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--root", default="runs/benchmark-throughput", help="run directory of the CLI side")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.batches:
        parser.error("--warmup must leave at least one of --batches timed")
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    ours, plain = [], []
    for _ in range(args.repeats):
        rate, initial, data = cli_rate(args.batches, args.warmup, args.accelerator, args.root)
        ours.append(rate)
        plain.append(plain_rate(initial, data, args.batches, args.warmup, device))
    ours_median, plain_median = statistics.median(ours), statistics.median(plain)
    batches = min(args.batches, len(data.train_dataloader()))  # one epoch at most (ETTh1's is 133 batches)
    print(
        f"GRU config {CONFIG.name}, {batches - args.warmup} timed batches of {data.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"plain PyTorch loop: {plain_median:9.0f} windows/s  (runs: {', '.join(f'{r:.0f}' for r in plain)})")
    print(f"forecast CLI:       {ours_median:9.0f} windows/s  (runs: {', '.join(f'{r:.0f}' for r in ours)})")
    print(f"overhead: {plain_median / ours_median:.3f}x the plain loop's time per window")


if __name__ == "__main__":
    main()
