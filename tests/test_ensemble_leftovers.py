"""``combine`` takes members whose data settings name the same data otherwise (targets null and their list, one file
by a relative and an absolute path) and refuses members fitted on dataloaders with other category counts; the
ensemble benchmark reads each checkpoint once."""

import functools
import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from ensemble_members import save, write_member

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.ensemble import combine
from forecast.nn import GRUEncoder

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 3


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """80 hourly rows of a target ``a`` and a covariate ``b``."""
    rng = np.random.default_rng(5)
    index = pd.date_range("2024-01-01", periods=80, freq="h", name="time")
    return pd.DataFrame({"a": 5 + np.sin(np.arange(80) / 3), "b": rng.standard_normal(80)}, index=index)


def gru_member(path: Path, source: str | pd.DataFrame, columns: Columns, seed: int, **data: object) -> Path:
    """An untrained GRU's checkpoint (weights drawn from ``seed``) on ``source`` read with ``columns`` and the other
    ``data`` settings."""
    data = TimeSeriesDataModule(source, 8, HORIZON, columns=columns, split=FractionSplit(), **data)
    return write_member(path, data, seed, encoder=functools.partial(GRUEncoder, hidden_size=4))


def test_combine_takes_targets_null_beside_the_same_targets_listed(frame, tmp_path):
    """``targets: null`` takes every column without a role: here ``a``, the list the other member names."""
    members = [
        gru_member(tmp_path / "null.ckpt", frame, Columns(past_covariates=["b"]), seed=0),
        gru_member(tmp_path / "listed.ckpt", frame, Columns(targets=["a"], past_covariates=["b"]), seed=1),
    ]
    ensemble = Forecaster.load(combine(members, tmp_path / "ensemble.ckpt"))
    own = [Forecaster.load(member).predict(frame)["a"].to_numpy() for member in members]
    np.testing.assert_allclose(ensemble.predict(frame)["a"].to_numpy(), np.mean(own, axis=0), rtol=1e-5)


def test_combine_refuses_targets_that_resolve_to_other_columns(frame, tmp_path):
    members = [
        gru_member(tmp_path / "a.ckpt", frame, Columns(past_covariates=["b"]), seed=0),
        gru_member(tmp_path / "b.ckpt", frame, Columns(targets=["b"], past_covariates=["a"]), seed=1),
    ]
    with pytest.raises(ValueError, match=r"b.ckpt differs from .*a.ckpt in datamodule_hyper_parameters.columns.past"):
        combine(members, tmp_path / "ensemble.ckpt")


def test_a_refused_ensemble_leaves_no_folder_behind(frame, tmp_path):
    members = [
        gru_member(tmp_path / "a.ckpt", frame, Columns(past_covariates=["b"]), seed=0),
        gru_member(tmp_path / "b.ckpt", frame, Columns(targets=["b"], past_covariates=["a"]), seed=1),
    ]
    with pytest.raises(ValueError, match="differs from"):
        combine(members, tmp_path / "ensembles" / "ensemble.ckpt")
    assert not (tmp_path / "ensembles").exists()


def test_combine_takes_one_file_named_by_a_relative_and_an_absolute_path(frame, tmp_path, monkeypatch):
    """The CLI records ``data.source`` as typed; another file of the same rows is still another source."""
    frame.to_csv(tmp_path / "frame.csv")
    (tmp_path / "copy").mkdir()
    frame.to_csv(tmp_path / "copy" / "frame.csv")
    monkeypatch.chdir(tmp_path)
    relative = gru_member(tmp_path / "relative.ckpt", "frame.csv", Columns(), seed=0)
    absolute = gru_member(tmp_path / "absolute.ckpt", str(tmp_path / "frame.csv"), Columns(), seed=1)
    assert combine([relative, absolute], tmp_path / "ensemble.ckpt").is_file()
    other = gru_member(tmp_path / "other.ckpt", "copy/frame.csv", Columns(), seed=2)
    with pytest.raises(ValueError, match=r"other.ckpt differs from .*relative.ckpt in datamodule_hyper_parameters.sou"):
        combine([relative, other], tmp_path / "other_ensemble.ckpt")


def test_combine_takes_all_series_named_or_taken_by_null(tmp_path):
    """``series`` null reads every series; naming them all, in any order, reads the same ones, in the data's order."""
    index = pd.date_range("2024-01-01", periods=40, freq="h")
    frame = pd.concat(
        pd.DataFrame({"id": name, "time": index, "y": np.sin(np.arange(40) / (2 + number))})
        for number, name in enumerate("BAC")
    )
    members = [
        gru_member(tmp_path / f"{number}.ckpt", frame, Columns(), number, series=series)
        for number, series in enumerate([None, ["C", "A", "B"]])
    ]
    assert combine(members, tmp_path / "ensemble.ckpt").is_file()
    fewer = gru_member(tmp_path / "fewer.ckpt", frame, Columns(), 2, series=["A", "B"])
    with pytest.raises(ValueError, match=r"fewer.ckpt differs from .*0.ckpt in datamodule_hyper_parameters.series"):
        combine([members[0], fewer], tmp_path / "fewer_ensemble.ckpt")


def network_of_categories(cardinalities: list[int] | None, seed: int) -> Forecaster:
    torch.manual_seed(seed)
    return Forecaster(lookback=6, horizon=HORIZON, input_size=1, target_size=1, static_size=1,
                      static_cardinalities=cardinalities)  # fmt: skip


def test_combine_refuses_members_of_other_category_counts_recorded_without_data(tmp_path):
    """Fitted on dataloaders, the checkpoints record no data; a member of 3 categories has no embedding of the
    other's category 4, so the ensemble failed at its first forecast of one."""
    three = save(network_of_categories([3], seed=0), tmp_path / "three.ckpt")
    five = save(network_of_categories([5], seed=1), tmp_path / "five.ckpt")
    with pytest.raises(ValueError, match=r"five.ckpt differs from .*three.ckpt in hyper_parameters.static_cardinal"):
        combine([three, five], tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()


def test_combine_takes_a_number_recorded_as_none_beside_one_recorded_as_zero_categories(tmp_path):
    """``static_cardinalities`` null is a number per static feature, as a count of 0 is."""
    checkpoint = torch.load(save(network_of_categories(None, seed=0), tmp_path / "none.ckpt"), weights_only=True)
    checkpoint["hyper_parameters"]["static_cardinalities"] = None  # as checkpoints before they were linked hold it
    torch.save(checkpoint, tmp_path / "none.ckpt")
    zero = save(network_of_categories([0], seed=1), tmp_path / "zero.ckpt")
    assert combine([tmp_path / "none.ckpt", zero], tmp_path / "ensemble.ckpt").is_file()


def test_the_ensemble_benchmark_reads_each_checkpoint_once_before_combine(frame, tmp_path, monkeypatch):
    """Per seed, the benchmark read its checkpoint to refuse an ensemble and again to tell a fallback."""
    members = [gru_member(tmp_path / f"m{seed}.ckpt", frame, Columns(), seed) for seed in range(2)]
    fell = torch.load(gru_member(tmp_path / "fell.ckpt", frame, Columns(), 2), weights_only=True)
    torch.save(fell | {"naive_fallback": 1}, tmp_path / "fell.ckpt")
    runs = tmp_path / "runs/etth1/linear/H3"
    for seed, checkpoint in enumerate([*members, tmp_path / "fell.ckpt"]):
        result = {"best": str(checkpoint), "args": ["--config", "linear.yaml"], "lookback": 8, "mse": 1.0, "mae": 1.0}
        (runs / f"seed{seed}").mkdir(parents=True)
        (runs / f"seed{seed}/result.json").write_text(json.dumps({"args": result["args"], "result": result}))
    reads, load = [], torch.load

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counted)

    def cli(args: list[str]) -> SimpleNamespace:
        split = "val" if args[0] == "validate" else "test"
        return SimpleNamespace(trainer=SimpleNamespace(callback_metrics={f"{split}/mse": 1.0, f"{split}/mae": 1.0}))

    script = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    monkeypatch.setitem(script["main"].__globals__, "cli", cli)
    args = ["--config", "linear.yaml", "--horizons", "3", "--seeds", "3", "--root", str(tmp_path / "runs")]
    table = script["main"]([*args, "--out", str(tmp_path / "e")])
    assert table["model"].tolist()[-1] == "ensemble of 2 (seeds [2] fell back)"
    # Each member once here and once by combine; the seed that fell back, left out of combine, once.
    assert {name: reads.count(name) for name in set(reads)} == {"m0.ckpt": 2, "m1.ckpt": 2, "fell.ckpt": 1}
