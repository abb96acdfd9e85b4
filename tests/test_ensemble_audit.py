"""An ensemble against a hand reference: the mean of its members' own forecasts, and its metrics on the test
windows, built here with numpy; and ``combine``'s refusals of what would lose or double-count a network."""

import functools
import json
import runpy
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from ensemble_members import write_member

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.ensemble import combine
from forecast.ensemble import main as ensemble_main
from forecast.nn import (
    GRUEncoder,
    IdentityEncoder,
    InstanceNormalization,
    LastValueHead,
    LastValueNormalization,
    LookbackMeanHead,
    LSTMEncoder,
    SegmentEmbedding,
    SegmentHead,
)

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 4
TRAIN_END, TEST_START = 140, 160  # FractionSplit's borders on 200 rows: validation 10%, test 20%

# Three networks of other lookbacks, encoders, heads, normalizations and channel handling.
MEMBERS = {
    "gru24": (24, {"encoder": functools.partial(GRUEncoder, hidden_size=4)}),
    "segrnn12": (
        12,
        {
            "normalization": LastValueNormalization,
            "embedding": functools.partial(SegmentEmbedding, seg_len=6, embedding_size=4),
            "encoder": functools.partial(GRUEncoder, hidden_size=4),
            "head": functools.partial(SegmentHead, seg_len=2),
            "channel_independent": True,
            "channel_embedding_size": 3,
        },
    ),
    "lstm16": (16, {"normalization": InstanceNormalization, "encoder": functools.partial(LSTMEncoder, hidden_size=4)}),
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """200 hourly rows of two channels of other levels and spreads, so that scaling shows."""
    rng = np.random.default_rng(3)
    steps = np.arange(200)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    values = {"a": 10 + np.sin(steps / 4) + 0.3 * rng.standard_normal(200), "b": -3 + 2 * rng.standard_normal(200)}
    return pd.DataFrame(values, index=index)


def member_data(frame: pd.DataFrame, lookback: int) -> TimeSeriesDataModule:
    """The data settings of a member on ``frame``: every column a target, FractionSplit's borders."""
    return TimeSeriesDataModule(frame, lookback, HORIZON, split=FractionSplit())


@pytest.fixture(scope="module")
def members(tmp_path_factory, frame) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("members")
    return {
        name: write_member(root / f"{name}.ckpt", member_data(frame, lookback), seed, **model)
        for seed, (name, (lookback, model)) in enumerate(MEMBERS.items())
    }


@pytest.fixture(scope="module")
def loaded(members, tmp_path_factory) -> tuple[Forecaster, list[Forecaster]]:
    """The ensemble of ``members`` and each member alone, loaded."""
    path = combine(list(members.values()), tmp_path_factory.mktemp("ensemble") / "ensemble.ckpt")
    return Forecaster.load(path), [Forecaster.load(checkpoint) for checkpoint in members.values()]


def test_an_ensemble_of_other_lookbacks_encoders_and_normalizations_predicts_their_mean(loaded, frame):
    ensemble, networks = loaded
    forecasts = [network.predict(frame)[["a", "b"]].to_numpy() for network in networks]
    table = ensemble.predict(frame)
    np.testing.assert_allclose(table[["a", "b"]].to_numpy(), np.mean(forecasts, axis=0), rtol=1e-5, atol=1e-5)
    assert ensemble.hparams["lookback"] == 24  # the longest leads; the others follow in the order given
    assert [member.hparams["lookback"] for member in ensemble.members] == [16, 12]


def test_an_ensembles_test_metrics_are_those_of_the_mean_forecast_on_the_test_windows(loaded, frame):
    """Scaled and in original units: each window's targets and history, scaled by the training rows' mean and
    standard deviation (StandardScaler), built here with numpy; each member forecasts from its own last steps."""
    ensemble, networks = loaded
    data = TimeSeriesDataModule(frame, 24, HORIZON, split=FractionSplit())
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    (metrics,) = trainer.test(ensemble, datamodule=data, verbose=False)
    values = frame.to_numpy()
    mean, std = values[:TRAIN_END].mean(0), values[:TRAIN_END].std(0)
    scaled = torch.tensor((values - mean) / std, dtype=torch.float32)
    origins = range(TEST_START, len(frame) - HORIZON + 1)
    past = torch.stack([scaled[origin - 24 : origin] for origin in origins])
    target = torch.stack([scaled[origin : origin + HORIZON] for origin in origins]).numpy()
    future, static = torch.zeros(len(past), HORIZON, 0), torch.zeros(len(past), 0)
    with torch.no_grad():
        forecasts = [network(past[:, -network.hparams["lookback"] :], future, static)[..., 0] for network in networks]
    errors = torch.stack(forecasts).mean(0).numpy() - target
    assert metrics["test/mse"] == pytest.approx(np.mean(errors**2), rel=1e-5)
    assert metrics["test/mae"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-5)
    assert metrics["test/mse_orig"] == pytest.approx(np.mean((errors * std) ** 2), rel=1e-5)
    assert metrics["test/mae_orig"] == pytest.approx(np.mean(np.abs(errors * std)), rel=1e-5)


def test_combine_refuses_to_write_the_ensemble_over_one_of_its_members(members, tmp_path):
    """``--out`` naming a member's file replaced that checkpoint by the ensemble: the trained network was lost."""
    first = shutil.copy(members["gru24"], tmp_path / "last.ckpt")
    before = Path(first).read_bytes()
    with pytest.raises(ValueError, match=r"the ensemble's path .*last.ckpt' is that of the member .*last.ckpt"):
        combine([members["lstm16"], first], tmp_path / "." / "last.ckpt")
    assert Path(first).read_bytes() == before


def test_combine_refuses_a_copy_of_a_member_that_it_would_count_twice(members, tmp_path):
    """A ``last.ckpt`` beside the best epoch's file holds the same network when the last epoch was the best: a glob
    of a run's checkpoints gave it twice the weight of the other members."""
    copy = shutil.copy(members["gru24"], tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match=r"last.ckpt holds the network of .*gru24.ckpt .*count twice"):
        combine([members["gru24"], members["lstm16"], copy], tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()


def test_the_ensemble_command_names_an_out_path_it_cannot_write(members, tmp_path, capsys):
    """An ``--out`` below a file ended in a FileExistsError traceback naming only the file."""
    (tmp_path / "frame.csv").write_text("date,a\n")
    with pytest.raises(SystemExit) as exit_status:
        ensemble_main([str(members["gru24"]), str(members["lstm16"]), "--out", str(tmp_path / "frame.csv/e.ckpt")])
    assert exit_status.value.code == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert (
        ": error: the ensemble path " in message
        and f"frame.csv/e.ckpt' lies under {tmp_path / 'frame.csv'}, a file" in message
    )


def test_combine_takes_two_baselines_without_weights(frame, tmp_path):
    """Networks without weights are told apart by their hyperparameters: the last value and the lookback's mean
    are two forecasts, not one counted twice."""
    last = write_member(tmp_path / "last.ckpt", member_data(frame, 8), 0, encoder=IdentityEncoder, head=LastValueHead)
    mean = write_member(
        tmp_path / "mean.ckpt", member_data(frame, 8), 0, encoder=IdentityEncoder, head=LookbackMeanHead
    )
    ensemble = Forecaster.load(combine([last, mean], tmp_path / "ensemble.ckpt"))
    history = frame.to_numpy()
    expected = (history[-1] + history[-8:].mean(0)) / 2
    np.testing.assert_allclose(
        ensemble.predict(frame)[["a", "b"]].to_numpy(), np.tile(expected, (HORIZON, 1)), rtol=1e-5
    )


def write_results(runs: Path, seeds: list[tuple[Path, int]]) -> None:
    """A ``result.json`` per seed of ``runs``, as ``benchmarks/ltsf.py`` writes it: its tested checkpoint and
    lookback, its test arguments (those of a config file that need not exist) and test scores."""
    for seed, (checkpoint, lookback) in enumerate(seeds):
        result = {"best": str(checkpoint), "args": ["--config", "linear.yaml"], "lookback": lookback}
        result |= {"mse": 1.0, "mae": 1.0}
        (runs / f"seed{seed}").mkdir(parents=True)
        (runs / f"seed{seed}/result.json").write_text(json.dumps({"args": result["args"], "result": result}))


def run_script(root: Path, seeds: int, cli: Callable) -> pd.DataFrame:
    """``benchmarks/ensemble.py`` on the runs of ``seeds`` seeds under ``root`` at horizon 4, scoring through
    ``cli`` instead of the CLI."""
    script = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(script["main"].__globals__, "cli", cli)
        args = ["--config", "linear.yaml", "--horizons", "4", "--seeds", str(seeds), "--root", str(root / "runs")]
        return script["main"]([*args, "--out", str(root / "e")])


def scores(args: list[str]) -> SimpleNamespace:
    """What the CLI's ``validate`` or ``test`` returns, its MSE and MAE 1."""
    split = "val" if args[0] == "validate" else "test"
    return SimpleNamespace(trainer=SimpleNamespace(callback_metrics={f"{split}/mse": 1.0, f"{split}/mae": 1.0}))


def test_ensemble_script_leaves_out_a_seed_that_fell_back(members, tmp_path):
    """The ltsf configs fall back to a naive forecast where the network loses on validation; combine refuses such
    a checkpoint, so one fallen-back seed stopped the script with a traceback. It is left out of the ensemble, as
    ``ltsf.py --ensemble`` leaves it out, and the table names it."""
    scored = []

    def cli(args: list[str]) -> SimpleNamespace:
        scored.append((args[0], args[args.index("--ckpt_path") + 1]))
        return scores(args)

    fell_back = torch.load(members["segrnn12"], weights_only=True) | {"naive_fallback": 1}
    torch.save(fell_back, tmp_path / "fell_back.ckpt")
    runs = tmp_path / "runs/etth1/linear/H4"
    write_results(runs, [(members["gru24"], 24), (tmp_path / "fell_back.ckpt", 12), (members["lstm16"], 16)])
    table = run_script(tmp_path, 3, cli)
    combined = torch.load(runs / "ensemble/ensemble.ckpt", weights_only=True)
    assert combined["ensemble_members"] == 2 and combined["hyper_parameters"]["lookback"] == 24
    assert combined["ensemble_hyper_parameters"][0]["lookback"] == 16
    assert table["model"].tolist()[-1] == "ensemble of 2 (seeds [1] fell back)"
    ensemble = str(runs / "ensemble/ensemble.ckpt")
    assert scored[-2:] == [("validate", ensemble), ("test", ensemble)]


def test_ensemble_script_refuses_a_seed_that_tested_an_ensemble_before_scoring_any(members, tmp_path):
    """``ltsf.py --ensemble`` may choose the ensemble of a seed's fits; combine takes no ensemble as a member, which
    the script said only after scoring every seed, and with a fix (combine its members) it cannot follow."""
    chosen = combine([members["gru24"], members["lstm16"]], tmp_path / "chosen.ckpt")
    write_results(tmp_path / "runs/etth1/linear/H4", [(chosen, 24), (members["segrnn12"], 12)])
    with pytest.raises(ValueError, match=r"seed0/result.json tested an ensemble, .*chosen.ckpt \(ltsf.py --ensemble"):
        run_script(tmp_path, 2, lambda args: pytest.fail(f"scored {args}"))


@pytest.mark.parametrize("fell_back", [False, True], ids=["one-seed", "one-of-two-fell-back"])
def test_ensemble_script_tables_no_ensemble_where_one_network_is_left(members, tmp_path, capsys, fell_back):
    """One network is no ensemble: combine said so in a traceback, after the seeds had been scored."""
    seeds = [(members["lstm16"], 16)]
    if fell_back:
        torch.save(torch.load(members["gru24"], weights_only=True) | {"naive_fallback": 24}, tmp_path / "fell.ckpt")
        seeds.insert(0, (tmp_path / "fell.ckpt", 24))
    write_results(tmp_path / "runs/etth1/linear/H4", seeds)
    table = run_script(tmp_path, len(seeds), scores)
    assert table["model"].tolist() == [f"seed {seed}" for seed in range(len(seeds))]
    told = " (seeds [0] fell back to a naive forecast)" if fell_back else ""
    assert f"H=4: no ensemble, 1 of {len(seeds)} seeds forecast with their network{told}\n" in capsys.readouterr().out
    assert not (tmp_path / "runs/etth1/linear/H4/ensemble").exists()


def test_an_ensemble_loaded_into_a_model_with_members_of_other_lookbacks_gets_its_own(frame, tmp_path):
    """A model that had as many members as the checkpoint kept them, and so their lookbacks: the checkpoint's
    member of lookback 16 read the last 12 steps, as the model's own member did, with the checkpoint's weights."""
    gru = {"encoder": functools.partial(GRUEncoder, hidden_size=4)}
    lead = write_member(tmp_path / "lead.ckpt", member_data(frame, 24), 0, **gru)
    short = combine(
        [lead, write_member(tmp_path / "m12.ckpt", member_data(frame, 12), 1, **gru)], tmp_path / "short.ckpt"
    )
    long = combine(
        [lead, write_member(tmp_path / "m16.ckpt", member_data(frame, 16), 1, **gru)], tmp_path / "long.ckpt"
    )
    data = TimeSeriesDataModule(frame, 24, HORIZON, split=FractionSplit())
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    into_short = trainer.test(Forecaster.load(short), datamodule=data, ckpt_path=long, verbose=False)[0]
    alone = trainer.test(Forecaster.load(long), datamodule=data, verbose=False)[0]
    assert into_short["test/mse"] == pytest.approx(alone["test/mse"], rel=1e-6)
