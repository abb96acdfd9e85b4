"""One training epoch of the same forecaster with each encoder: what a user waits for.

The peer setting of benchmarks/README.md: hidden 64, 2 layers, univariate OT, lookback 96, horizon 24, batch 64,
Adam 1e-3, ETTh1's training split (8521 windows), Lightning's own loop with no validation. Median of
``--repeats`` epochs, each on a freshly built model, after an untimed two-batch fit with each encoder (the
first calls' compilation); the encoders take turns within each repeat, so that a change in the machine's
load shifts them all alike. The header names the OpenMP wait policy in force
(PASSIVE unless the environment sets one: benchmarks/README.md's thread trap).

    python benchmarks/epoch.py
    OMP_WAIT_POLICY=ACTIVE python benchmarks/epoch.py

With ``--configs``, the training epoch of each config as ``python -m forecast fit`` builds it instead
(with ``--preset``, a trainer preset added as a second ``--config``): one validation batch (for the
configs' early stopping) after each epoch, not timed; the median over
the epochs after the first (which holds cuDNN's and Triton's first-call work), ratios to the first
config. On the GPU:

    python benchmarks/epoch.py --configs configs/etth1/segrnn_gru.yaml configs/etth1/segrnn_sru.yaml \
        --preset configs/trainer/gpu.yaml
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import functools  # noqa: E402
import runpy  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import lightning as L  # noqa: E402
import torch  # noqa: E402

from forecast import Columns, Forecaster, TimeSeriesDataModule  # noqa: E402
from forecast.cli import main as cli_main  # noqa: E402
from forecast.data import ETTSplit  # noqa: E402
from forecast.nn import GRUEncoder, LSTMEncoder, SRUEncoder  # noqa: E402

ENCODERS = {"GRU": GRUEncoder, "LSTM": LSTMEncoder, "SRU": SRUEncoder}

# ltsf.py, a script beside this one (benchmarks/ is no package): its way of running the CLI from a script, shared.
ltsf = runpy.run_path(str(Path(__file__).with_name("ltsf.py")), run_name="ltsf")


def epoch_seconds(encoder: type, data: TimeSeriesDataModule, accelerator: str, batches: int | None = None) -> float:
    """Seconds of one ``fit`` of a fresh model for one epoch (of its first ``batches`` batches, if given)."""
    model = Forecaster(
        lookback=96,
        horizon=24,
        input_size=data.input_size,
        target_size=data.target_size,
        encoder=functools.partial(encoder, hidden_size=64, num_layers=2),
    )
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        accelerator=accelerator,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, data)
    return time.perf_counter() - start


class EpochTimer(L.Callback):
    """Seconds of each training epoch's batches, from its start to the validation after them (synchronized
    on a GPU), so that the one validation batch the configs' early stopping needs is not counted."""

    def __init__(self):
        self.start, self.seconds = 0.0, []

    def on_train_epoch_start(self, trainer, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()  # the previous validation's queued work is not this epoch's
        self.start = time.perf_counter()

    def on_validation_epoch_start(self, trainer, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self.start)


def config_epoch_seconds(config: str, preset: str | None, epochs: int) -> tuple[float, int]:
    """Median seconds of the training epochs after the first of ``config``'s fit, and its training windows.

    The fit runs under ``ltsf.py``'s ``command``: the CLI reads only the arguments given here, not this script's
    flags in ``sys.argv`` (LightningCLI warns of both), and a refusal of the config is printed alone on stderr,
    ``error: MESSAGE``, with exit status 1, as the other benchmark scripts and ``python -m forecast`` give.
    """
    presets = ["--config", preset] if preset else []
    timer, windows = EpochTimer(), []

    def fit(args: list[str]) -> None:
        cli = cli_main(args, run=False)
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, cli.datamodule)
        windows.append(len(cli.datamodule.dataset("train")))

    with tempfile.TemporaryDirectory() as root:
        ltsf["command"](fit, ["--config", config, *presets, "--trainer.max_epochs", str(epochs),
                              "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
                              "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
                              "--trainer.default_root_dir", root])  # fmt: skip
    return statistics.median(timer.seconds[1:]), windows[0]


def compare_configs(configs: list[str], preset: str | None, epochs: int) -> None:
    print(f"one training epoch per config, preset {preset}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
          f"median of epochs 2-{epochs}")  # fmt: skip
    print(f"{'config':<40}{'windows':>9}{'epoch s':>9}{'first/this':>12}")
    seconds = {}
    for config in configs:
        seconds[config], windows = config_epoch_seconds(config, preset, epochs)
        print(
            f"{Path(config).name:<40}{windows:>9}{seconds[config]:>9.2f}{seconds[configs[0]] / seconds[config]:>12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", nargs="+", help="time these configs' epochs instead of the peer setting")
    parser.add_argument("--preset", help="a trainer preset for --configs, e.g. configs/trainer/gpu.yaml")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per config with --configs (at least 2)")
    args = parser.parse_args()
    if args.configs and args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up and is not timed")
    torch.set_num_threads(args.threads)
    if args.configs:
        compare_configs(args.configs, args.preset, args.epochs)
        return
    data = TimeSeriesDataModule("etth1", 96, 24, columns=Columns(targets=["OT"]), split=ETTSplit(), batch_size=64)
    data.setup("fit")
    windows = len(data.dataset("train"))
    print(f"one training epoch, {windows} windows, {args.accelerator}, {args.threads} threads, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, median of {args.repeats}")  # fmt: skip
    print(f"{'encoder':<8}{'epoch s':>9}{'windows/s':>11}{'GRU/this':>10}")
    for encoder in ENCODERS.values():  # untimed: the first calls' compilation (the SRU's kernel, cuDNN, Triton)
        epoch_seconds(encoder, data, args.accelerator, batches=2)
    times = {name: [] for name in ENCODERS}
    for _ in range(args.repeats):
        for name, encoder in ENCODERS.items():
            times[name].append(epoch_seconds(encoder, data, args.accelerator))
    seconds = {name: statistics.median(values) for name, values in times.items()}
    for name, value in seconds.items():
        print(f"{name:<8}{value:>9.2f}{windows / value:>11.0f}{seconds['GRU'] / value:>10.2f}")


if __name__ == "__main__":
    main()
