"""The processes of sharded DDP runs, started by ``torch.distributed.run`` from tests/test_sharding.py.

Usage: python -m torch.distributed.run --nproc_per_node 2 tests/sharded_run.py OUT SOURCE [VAL_START TEST_START]
[, OUT SOURCE [VAL_START TEST_START] ...]

Each run, in turn and on one process group, validates a seeded tiny GRU, trains it for one epoch and saves a
checkpoint, all on ``data.shard: series`` (split by ``FractionSplit``, or a ``DateSplit`` at VAL_START and
TEST_START), tests it with the evaluation report (``OUT/metrics.json``), and writes what each process holds and
the warnings it gave to ``OUT/rank{R}.json``. Several runs share one start of the processes.
"""

import functools
import json
import sys
import warnings
from pathlib import Path

import lightning as L
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import DateSplit
from forecast.nn import GRUEncoder
from forecast.reports import EvaluationReport

COLUMNS = Columns(targets=["y"], past_covariates=["load"], static_covariates=["region"])
OPTIONS = dict(lookback=12, horizon=4, columns=COLUMNS)


def build(source: str, shard: str, split: DateSplit | None = None) -> tuple[TimeSeriesDataModule, Forecaster]:
    """The data and the seeded model that the sharded run and its one-process reference share."""
    data = TimeSeriesDataModule(source, **OPTIONS, split=split, batch_size=16, shard=shard)
    torch.manual_seed(0)
    sizes = {key: getattr(data, key) for key in ("input_size", "target_size", "static_size", "static_cardinalities")}
    encoder = functools.partial(GRUEncoder, hidden_size=8)
    return data, Forecaster(lookback=12, horizon=4, **sizes, encoder=encoder)


def main(out: Path, source: str, split: DateSplit | None, given: list[warnings.WarningMessage]) -> None:
    data, model = build(source, "series", split)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=out, callbacks=[EvaluationReport(num_plots=0)],
    )  # fmt: skip
    val_loss = trainer.validate(model, data, verbose=False)[0]["val/loss"]
    facts = {
        "series": list(data.series_names),
        "rows": int(data.buffer.values.shape[0]),
        "offset": data.scalings[0].offset.tolist(),
        "scale": data.scalings[0].scale.tolist(),
        "val_loss": val_loss,
    }
    trainer.fit(model, data)
    trainer.save_checkpoint(out / "sharded.ckpt")
    facts["steps"] = trainer.global_step
    facts["test_mse"] = trainer.test(model, data, verbose=False)[0]["test/mse"]
    facts["warnings"] = [str(warning.message) for warning in given]
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(facts))


def runs(args: list[str]) -> list[tuple[Path, str, DateSplit | None]]:
    """The runs of the command line: ``OUT SOURCE [VAL_START TEST_START]`` each, separated by ``,``."""
    found, run = [], []
    for arg in [*args, ","]:
        if arg != ",":
            run.append(arg)
            continue
        out, source, *split = run
        found.append((Path(out), source, DateSplit(*split) if split else None))
        run = []
    return found


if __name__ == "__main__":
    for out, source, split in runs(sys.argv[1:]):
        with warnings.catch_warnings(record=True) as given:  # every process's own, also those of ranks other than 0
            warnings.simplefilter("always")
            main(out, source, split, given)
    torch.distributed.destroy_process_group()  # left to shutdown, gloo's group aborts the process now and then
