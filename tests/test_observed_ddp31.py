"""Two CPU processes (gloo) train on exactly the windows with an observed target (training leaves out those whose
targets were all repaired, ``nan_policy``): under ``shard: none`` every kept window is read once an epoch over the
processes, under ``shard: series`` each process reads its own series' kept windows, a fit resumed mid-epoch reads
what one never stopped read, and where one process's series keep none, every process refuses alike.

One script (Lightning's DDP launcher starts it again per process) fits straight and resumed; each process records
the windows it trained on. The references are a loop over every (series, origin) pair of the raw values, here.
"""

import collections
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_ddp30 import run_script

from forecast.data.sampling import SeriesBalancedSampler

pytestmark = [pytest.mark.ddp, pytest.mark.slow]  # five 2-process fits and a refusal: about 30 s on two cores

LOOKBACK, HORIZON = 12, 3

# Series A, C on process 0 and B, D on process 1 (shards by rows). A misses y in rows 30-59 (windows from 30 to 57
# see none), D in rows 5-39, after which its training part (rows before 36) ends: D keeps no training window.
# REFUSED: B, C and D miss all but their first two values, so only A keeps training windows: one process has none.
DATA = textwrap.dedent(
    """
    import numpy as np, pandas as pd
    from forecast import Columns, TimeSeriesDataModule
    from forecast.data import FractionSplit

    GAPS = {"A": slice(30, 60), "D": slice(5, 40)}
    REFUSED = {"B": slice(2, 120), "C": slice(2, 120), "D": slice(2, 60)}

    def frame(gaps):
        parts = []
        for i, (name, rows) in enumerate([("A", 120), ("B", 120), ("C", 120), ("D", 60)]):
            y = np.sin(np.arange(rows) / (4 + i)) + 0.1 * np.random.default_rng(i).standard_normal(rows)
            y[gaps.get(name, slice(0))] = np.nan
            parts.append(pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                                       "y": y}))
        return pd.concat(parts, ignore_index=True)

    def data(sampling="windows", shard="none", gaps=GAPS):
        return TimeSeriesDataModule(frame(gaps), 12, 3, columns=Columns(targets=["y"]), split=FractionSplit(0.2, 0.2),
                                    eval_stride=5, batch_size=8, sampling=sampling, shard=shard, nan_policy="ffill")
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
            self.train = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.train.append([trainer.current_epoch, batch.series.tolist(), batch.time.tolist()])

    def fit(name, sampling, shard, resume=None):
        L.seed_everything(0)
        model = Forecaster(12, 3, 1, 1, encoder=functools.partial(GRUEncoder, hidden_size=4))
        seen, module = Seen(), data(sampling, shard)
        checkpoint = ResumableModelCheckpoint(dirpath=out / name, every_n_train_steps=3, save_top_k=-1)
        trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                            enable_model_summary=False, max_epochs=2, num_sanity_val_steps=0, limit_val_batches=0,
                            callbacks=[checkpoint, RandomStateCheckpoint(), seen])
        trainer.fit(model, module, ckpt_path=resume)
        weights = torch.cat([parameter.detach().flatten() for parameter in model.parameters()]).tolist()
        names = list(module.series_names)  # this process's series: under shard: series, its own
        train = [[epoch, [names[s] for s in series], time] for epoch, series, time in seen.train]
        return {"weights": weights, "train": train, "series": names}

    facts = {}
    for sampling, shard in (("windows", "none"), ("series", "none"), ("windows", "series")):
        name = f"{sampling}-{shard}"
        facts[name] = fit(name, sampling, shard)
        if sampling == "windows":
            facts[name + "-resumed"] = fit(name + "-resumed", sampling, shard, str(out / name / "epoch=0-step=3.ckpt"))
    (out / f"rank{torch.distributed.get_rank()}.json").write_text(json.dumps(facts))
    torch.distributed.destroy_process_group()
    """
)

# Every process builds its training loader, as Lightning's fit does: the one whose series keep no window refuses.
REFUSAL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from ddp_data import REFUSED, data

    torch.distributed.init_process_group("gloo")
    module = data("windows", "series", REFUSED)
    module.setup("fit")
    try:
        module.train_dataloader()
        refused = "none"
    except Exception as error:
        refused = f"{type(error).__name__}: {error}"
    (Path(sys.argv[1]) / f"refused{torch.distributed.get_rank()}.txt").write_text(refused)
    """
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> list[dict]:
    """Each process's facts of the fits."""
    return run_script(tmp_path_factory.mktemp("observed_ddp31"), DATA, SCRIPT)


@pytest.fixture(scope="module")
def refusals(tmp_path_factory) -> list[str]:
    """Each process's refusal to build its training loader, where process 1's series keep no window."""
    root = tmp_path_factory.mktemp("observed_ddp31_refused")
    (root / "ddp_data.py").write_text(DATA)
    (root / "refuse.py").write_text(REFUSAL)
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               str(root / "refuse.py"), str(root)]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(root)}
    subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=120)
    return [
        (root / f"refused{rank}.txt").read_text() if (root / f"refused{rank}.txt").exists() else "" for rank in (0, 1)
    ]


def namespace() -> dict:
    """The script's data module and gaps, in this process."""
    found: dict = {}
    exec(DATA, found)  # noqa: S102 - the module text the script imports, so both read the same data
    return found


def kept(series: tuple[str, ...] = ("A", "B", "C", "D")) -> set[tuple[str, int]]:
    """(series, origin) of every training window of ``series`` with a target value, by a loop over all of them."""
    found, raw = namespace(), namespace()["frame"](namespace()["GAPS"])
    module = found["data"]()
    module.setup("fit")
    windows = set()
    for i, name in enumerate(module.series_names):
        y = raw.loc[raw["id"] == name, "y"].to_numpy()
        for origin in range(LOOKBACK, int(module.borders[i, 0]) - HORIZON + 1):
            if name in series and np.isfinite(y[origin : origin + HORIZON]).any():
                windows.add((name, origin))
    return windows


def trained(facts: dict, name: str, epoch: int) -> list[tuple[str, int]]:
    """(series, origin) of every window a process trained on in ``epoch`` of fit ``name``."""
    return [(series, time) for at, batch, times in facts[name]["train"] if at == epoch
            for series, time in zip(batch, times, strict=True)]  # fmt: skip


def test_ddp_uniform_sampling_trains_every_kept_window_once_an_epoch(run):
    """146 kept windows of 196 (A leaves out 28, D all 22): 73 per process, none read twice."""
    expected = kept()
    assert len(expected) == 146 and {name for name, _ in expected} == {"A", "B", "C"}
    for epoch in (0, 1):
        shares = [trained(facts, "windows-none", epoch) for facts in run]
        assert len(shares[0]) == len(shares[1]) == 73
        assert sorted(shares[0] + shares[1]) == sorted(expected)


def test_ddp_series_sampling_splits_one_process_draws_of_kept_windows(run):
    """Both processes draw the sequence of one process over the kept windows (D, keeping none, is never drawn)."""
    module = namespace()["data"]("series")
    module.setup("fit")
    dataset = module.dataset("train")
    for epoch in (0, 1):
        sampler = SeriesBalancedSampler(torch.from_numpy(dataset.counts), seed=0)
        sampler.set_epoch(epoch)
        series, time = dataset.locate(np.array(list(sampler)))
        reference = collections.Counter((module.series_names[s], int(t)) for s, t in zip(series, time, strict=True))
        shares = [trained(facts, "series-none", epoch) for facts in run]
        assert collections.Counter(shares[0] + shares[1]) == reference
        assert set(reference) <= kept()


def test_ddp_series_shards_train_their_own_kept_windows(run):
    """Process 0 holds A and C, process 1 B and D; D keeps no window, so process 1 trains on B's alone."""
    first, second = run
    assert (first["windows-series"]["series"], second["windows-series"]["series"]) == (["A", "C"], ["B", "D"])
    for epoch in (0, 1):
        for facts, own in ((first, ("A", "C")), (second, ("B",))):
            assert set(trained(facts, "windows-series", epoch)) == kept(own)


@pytest.mark.parametrize("name", ["windows-none", "windows-series"])
def test_a_ddp_fit_resumed_mid_epoch_trains_the_kept_windows_of_one_never_stopped(run, name):
    for facts in run:
        straight, resumed = facts[name], facts[name + "-resumed"]
        assert resumed["train"] == straight["train"][3:]
        assert resumed["weights"] == straight["weights"]


def test_a_shard_whose_series_keep_no_window_is_refused_by_every_process(refusals):
    """Process 1 refused alone ("none of the 80 training windows ..."), and process 0 failed at its next collective
    with gloo's "Connection closed by peer", naming neither the cause nor the fix."""
    assert refusals[0] == refusals[1]
    assert refusals[0].startswith("ForecastDataError: data.shard: series gives each of the 2 processes its own series")
    assert "process 1 has an observed value of the targets ['y']" in refusals[0]
    assert refusals[0].endswith("use fewer devices (trainer.devices), or data.shard: none")
