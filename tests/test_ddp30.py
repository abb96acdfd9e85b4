"""Two CPU processes (gloo) against one: how the ranks share training windows under each sampling and under series
shards, a fit resumed mid-epoch, and validation over uneven shares.

One script of its own (Lightning's DDP launcher starts it again per process) fits three ways, each straight through
two epochs and again resumed from the checkpoint written mid-epoch at step 5: ``sampling: windows``, ``sampling:
series``, and ``shard: series``. Each process records the windows it trained and validated on (series name, time)
and the last validation's metrics. The references are computed here in one process.
"""

import collections
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data.sampling import SeriesBalancedSampler

pytestmark = [pytest.mark.ddp, pytest.mark.slow]  # six 2-process fits in one launch: about 30 s on two cores

# Three series of 120 rows and one of 60: 196 training windows (98 per process, in 13 batches of 8) and, every 5th,
# 17 validation windows, 9 and 8 per process. Shards by rows: A and C on process 0, B and D (shorter) on process 1.
DATA = textwrap.dedent(
    """
    import numpy as np, pandas as pd
    from forecast import Columns, TimeSeriesDataModule
    from forecast.data import FractionSplit

    def frame():
        parts = []
        for i, (name, level, period, rows) in enumerate([("A", 10, 4, 120), ("B", -5, 6, 120), ("C", 0, 9, 120),
                                                         ("D", 3, 5, 60)]):
            y = level + np.sin(np.arange(rows) / period) + 0.1 * np.random.default_rng(i).standard_normal(rows)
            parts.append(pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                                       "y": y}))
        return pd.concat(parts, ignore_index=True)

    def data(sampling="windows", shard="none"):
        return TimeSeriesDataModule(frame(), 12, 3, columns=Columns(targets=["y"]), split=FractionSplit(0.2, 0.2),
                                    eval_stride=5, batch_size=8, sampling=sampling, shard=shard)
    """
)

SCRIPT = textwrap.dedent(
    """
    import functools, json, sys
    from pathlib import Path
    import lightning as L, torch
    from forecast import Forecaster
    from forecast.callbacks import RandomStateCheckpoint, ResumableModelCheckpoint
    from forecast.nn import GRUEncoder
    from ddp_data import data

    out = Path(sys.argv[1])
    torch.set_num_threads(1)

    class Seen(L.Callback):
        def __init__(self):
            self.train, self.val, self.metrics, self.start = [], [], {}, None

        def on_train_start(self, trainer, pl_module):
            ready = trainer.fit_loop.epoch_loop.batch_progress.current.ready
            self.start = [trainer.current_epoch, trainer.global_step, ready]

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.train.append([trainer.current_epoch, batch.series.tolist(), batch.time.tolist()])

        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            self.val.append([trainer.current_epoch, batch.series.tolist(), batch.time.tolist()])

        def on_validation_end(self, trainer, pl_module):
            self.metrics = {key: float(value) for key, value in trainer.callback_metrics.items()
                            if key.startswith("val/")}

    def fit(name, sampling, shard, resume=None):
        L.seed_everything(0)
        model = Forecaster(12, 3, 1, 1, encoder=functools.partial(GRUEncoder, hidden_size=4))
        seen, module = Seen(), data(sampling, shard)
        checkpoint = ResumableModelCheckpoint(dirpath=out / name, every_n_train_steps=5, save_top_k=-1,
                                              save_last=True)
        trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                            enable_model_summary=False, max_epochs=2, num_sanity_val_steps=0,
                            callbacks=[checkpoint, RandomStateCheckpoint(), seen])
        trainer.fit(model, module, ckpt_path=resume)
        weights = torch.cat([parameter.detach().flatten() for parameter in model.parameters()]).tolist()
        names = list(module.series_names)  # this process's series: under shard: series, its own
        windows = lambda seen: [[epoch, [names[s] for s in series], time] for epoch, series, time in seen]
        return {"weights": weights, "train": windows(seen.train), "val": windows(seen.val), "start": seen.start,
                "metrics": seen.metrics, "series": names, "step": trainer.global_step}

    facts = {}
    for sampling, shard in (("windows", "none"), ("series", "none"), ("windows", "series")):
        name = f"{sampling}-{shard}"
        facts[name] = fit(name, sampling, shard)
        facts[name + "-resumed"] = fit(name + "-resumed", sampling, shard, str(out / name / "epoch=0-step=5.ckpt"))
    (out / f"rank{torch.distributed.get_rank()}.json").write_text(json.dumps(facts))
    torch.distributed.destroy_process_group()
    """
)

RUNS = ["windows-none", "series-none", "windows-series"]


def run_script(root: Path, data: str, script: str) -> list[dict]:
    """Run ``script`` (which starts the processes) in ``root`` beside ``data`` as the module ``ddp_data``, and read
    each of the two processes' facts from ``rank{0,1}.json``."""
    (root / "ddp_data.py").write_text(data)
    (root / "fit.py").write_text(script)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(root / "fit.py"), str(root)], capture_output=True, text=True, env=env, cwd=root,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((root / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Each process's facts of the six fits, and the folder they wrote to."""
    root = tmp_path_factory.mktemp("ddp30")
    return {"root": root, "ranks": run_script(root, DATA, SCRIPT)}


def data_module(sampling: str = "windows") -> TimeSeriesDataModule:
    """The script's data module, in this process."""
    namespace: dict = {}
    exec(DATA, namespace)  # noqa: S102 - the module text the script imports, so both read the same data
    return namespace["data"](sampling)


def trained(facts: dict, epoch: int, module: TimeSeriesDataModule) -> list[int]:
    """The one-process training window indices of what a process trained on in ``epoch``."""
    names = list(module.series_names)
    pairs = [(names.index(name), time) for at, series, times in facts["train"] if at == epoch
             for name, time in zip(series, times, strict=True)]  # fmt: skip
    series, time = np.array(pairs).T
    return module.dataset("train").index_of(series, time).tolist()


@pytest.mark.parametrize("name", RUNS)
def test_a_ddp_fit_resumed_mid_epoch_ends_as_one_that_never_stopped(run, name):
    """Every process resumes at the step, epoch and batch of the checkpoint, trains the batches the straight fit
    trained after it, and ends with its weights (the same on both processes)."""
    for facts in run["ranks"]:
        straight, resumed = facts[name], facts[name + "-resumed"]
        assert resumed["start"] == [0, 5, 5] and resumed["step"] == straight["step"]
        assert resumed["train"] == straight["train"][5:]
        assert resumed["weights"] == straight["weights"]
    assert run["ranks"][0][name]["weights"] == run["ranks"][1][name]["weights"]


def test_ddp_uniform_sampling_trains_every_window_once_an_epoch(run):
    module = data_module()
    module.setup("fit")
    for epoch in (0, 1):
        shares = [trained(facts["windows-none"], epoch, module) for facts in run["ranks"]]
        assert len(shares[0]) == len(shares[1]) == 98
        assert sorted(shares[0] + shares[1]) == list(range(196))


def test_ddp_series_sampling_splits_the_draws_of_one_process_between_the_ranks(run):
    """Both processes draw the sequence of one process (seeded by the run's seed and the epoch); each trains on its
    own positions of it, so that together they draw each window as often as one process does."""
    module = data_module("series")
    module.setup("fit")
    for epoch in (0, 1):
        sampler = SeriesBalancedSampler(torch.from_numpy(module.dataset("train").counts), seed=0)
        sampler.set_epoch(epoch)
        shares = [trained(facts["series-none"], epoch, module) for facts in run["ranks"]]
        assert len(shares[0]) == len(shares[1]) == 98
        assert collections.Counter(shares[0] + shares[1]) == collections.Counter(list(sampler))


def test_ddp_series_shards_train_disjoint_series_that_together_cover_every_window(run):
    """The shorter share (B and D) repeats windows so that both processes take 15 steps an epoch."""
    module = data_module()
    module.setup("fit")
    first, second = (facts["windows-series"] for facts in run["ranks"])
    assert (first["series"], second["series"]) == (["A", "C"], ["B", "D"]) and first["step"] == 30
    for epoch in (0, 1):
        shares = [trained(facts, epoch, module) for facts in (first, second)]
        names = [{series for at, batch, _ in facts["train"] if at == epoch for series in batch}
                 for facts in (first, second)]  # fmt: skip
        assert names == [{"A", "C"}, {"B", "D"}] and len(shares[0]) == len(shares[1]) == 116
        assert set(shares[0]) | set(shares[1]) == set(range(196)) and len(set(shares[0])) == 116


@pytest.mark.parametrize("name", RUNS)
def test_ddp_validation_reads_every_window_once_and_equals_one_process(run, name):
    """17 validation windows, 9 and 8 on the processes (8 on each under the shards); the last validation's
    metrics equal one process's validation of the final checkpoint."""
    module = data_module()
    module.setup("validate")
    single = set(zip(*_windows(module), strict=True))
    assert len(single) == 17
    for epoch in (0, 1):
        shares = [[(series, time) for at, batch, times in facts[name]["val"] if at == epoch
                   for series, time in zip(batch, times, strict=True)] for facts in run["ranks"]]  # fmt: skip
        assert len(shares[0]) + len(shares[1]) == 17 and set(shares[0]) | set(shares[1]) == single
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    model = Forecaster.load(run["root"] / name / "last.ckpt")
    validated = trainer.validate(model, data_module(), verbose=False)[0]
    for facts in run["ranks"]:
        assert facts[name]["metrics"] == pytest.approx(validated, rel=1e-5)


def _windows(module: TimeSeriesDataModule) -> tuple[list[str], list[int]]:
    """The series name and time of every validation window of one process, in order."""
    names, times = [], []
    for batch in module.val_dataloader():
        names += [module.series_names[series] for series in batch.series.tolist()]
        times += batch.time.tolist()
    return names, times
