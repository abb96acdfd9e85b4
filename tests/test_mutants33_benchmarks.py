"""Hand mutation testing, round 5: tests for the mutants of the benchmark scripts (``benchmarks/ltsf.py``'s
leaderboard, ``benchmarks/ensemble.py``'s seed ensemble, ``benchmarks/least_squares.py``'s closed form) that the
suite let through. Each fails under its mutant and passes on the real code. No test fits a network: the fits and
the CLI runs are stubbed, or the results are written by hand, as the scripts would write them."""

import hashlib
import json
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import forecast.data
from forecast import Columns
from forecast.data import FractionSplit, RowSplit, TimeSeriesDataModule

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/etth1/linear.yaml"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("given", [["--config", "{path}"], ["--config={path}"]])
def test_config_hashes_read_a_config_named_either_way_argparse_takes_it(tmp_path, given):
    """``--config=PATH`` names a config as ``--config PATH`` does: its contents decide whether a fit is read back."""
    config = tmp_path / "mine.yaml"
    config.write_text("data:\n  lookback: 8\n")
    args = [arg.format(path=config) for arg in given]
    assert ltsf["config_hashes"](["--data.horizon", "4", *args]) == {str(config): sha256(config)}


def test_a_finished_fit_of_an_edited_config_is_not_read_back(tmp_path):
    """A ``fit.json`` of the same arguments whose config was edited since (its sha256 differs) is fitted again."""
    config = tmp_path / "mine.yaml"
    config.write_text("data:\n  lookback: 8\n")
    (tmp_path / "b.ckpt").write_bytes(b"")
    args = ["--config", str(config)]
    summary = {"best": str(tmp_path / "b.ckpt"), "val_loss": 0.5}
    (tmp_path / "fit.json").write_text(
        json.dumps({"args": args, "configs": {str(config): sha256(config)}, "fit": summary})
    )
    assert ltsf["fitted"](args, tmp_path) == summary
    config.write_text("data:\n  lookback: 16\n")
    assert ltsf["fitted"](args, tmp_path) is None


def test_the_split_given_twice_is_the_last_one_as_the_cli_takes_it():
    """``--data.split A ... --data.split B`` passed on to the CLI splits by B (jsonargparse's last value wins), so
    the origins and the ensemble take B too."""
    first, last = (
        '{"class_path": "forecast.data.FractionSplit"}',
        '{"class_path": "forecast.data.ETTSplit"}',
    )
    assert ltsf["given_split"](["--data.split", first, "--seed_everything", "1", "--data.split", last]) == last
    assert ltsf["given_split"]([f"--data.split={first}", "--data.split", last]) == last
    assert ltsf["given_split"](["--data.split", last, f"--data.split={first}"]) == first


SCALING = {
    "scaler": {"class_path": "sklearn.preprocessing.StandardScaler"},
    "per_series": False,
}
DATA = {
    "source": "etth1",
    "horizon": 24,
    "split": None,
    "eval_stride": 1,
    "columns": {},
    "scaling": SCALING,
}


def summaries(**changed: dict) -> dict:
    """Two fits' summaries as ``fit`` returns them, ``A`` of ``DATA`` and ``B`` of ``DATA`` with ``changed``."""
    base = {"best": "b.ckpt", "val_loss": 0.5, "lookback": 96, "loss": None}
    return {"A": base | {"data": DATA}, "B": base | {"data": DATA | changed}}


@pytest.mark.parametrize(
    "changed, named",
    [
        ({"eval_stride": 24}, "data.eval_stride 1 vs 24"),
        ({"scaling": SCALING | {"per_series": True}}, "data.scaling {'scaler': "),
        ({"columns": {"targets": ["OT"]}}, "data.columns {'targets': None, "),
    ],
)
def test_fits_scored_on_other_windows_or_scales_are_not_chosen_among(changed, named):
    """A fit validated on every 24th window, or on per-series scales, or on other targets has a score of another
    measure: choosing between it and the config's own is refused, naming the setting."""
    with pytest.raises(
        ValueError,
        match=r"the fits A and B are scored on other validation windows or scales \(",
    ):
        ltsf["check_one_validation"](summaries(**changed), CONFIG)
    with pytest.raises(ValueError, match=named):
        ltsf["check_one_validation"](summaries(**changed), CONFIG)
    ltsf["check_one_validation"](summaries(lookback=336, batch_size=8), CONFIG)  # not scored settings: no refusal


def test_fits_of_one_loss_class_with_other_arguments_are_not_chosen_among():
    """Pinball losses of other quantiles score other measures; the same loss given alike passes."""
    fits = summaries()
    quantiles = [{"class_path": "forecast.losses.QuantileLoss", "init_args": {"quantiles": q}} for q in ([0.5], [0.9])]
    fits["A"]["loss"], fits["B"]["loss"] = quantiles
    with pytest.raises(
        ValueError,
        match=r"QuantileLoss \{'quantiles': \[0.5\]\} vs forecast.losses.QuantileLoss \{",
    ):
        ltsf["check_one_loss"](fits, CONFIG)
    fits["B"]["loss"] = quantiles[0]
    ltsf["check_one_loss"](fits, CONFIG)


def stub_run(monkeypatch, scores: dict[str, float]) -> list[str]:
    """``ltsf.run``'s fits and CLI stubbed: the fit of setting ``NAME`` (its directory) scores ``scores[NAME]`` on
    validation, a test scores MSE 0.3 and MAE 0.2. Returns what ran, in order: ``fit NAME`` and ``test CHECKPOINT``."""
    module = ltsf["run"].__globals__
    ran = []

    def fit(args, directory):
        directory.mkdir(parents=True, exist_ok=True)
        ran.append(f"fit {directory.name}")
        lookback = (
            int(args[len(args) - 1 - args[::-1].index("--data.lookback") + 1]) if "--data.lookback" in args else 96
        )
        summary = {
            "best": str(directory / "b.ckpt"),
            "val_loss": scores[directory.name],
            "lookback": lookback,
        }
        return summary | {
            "fit_s": 2.0,
            "epochs": 3,
            "val_winner": "model",
            "data": DATA,
            "loss": None,
        }

    trainer = SimpleNamespace(callback_metrics={"test/mse": 0.3, "test/mae": 0.2})
    trainer.num_test_batches, trainer.test_dataloaders = [1], [[None]]  # one loader of one batch, all of it tested

    def cli(args, run=True):
        ran.append(f"{args[0]} {args[-1]}")
        return SimpleNamespace(trainer=trainer)

    monkeypatch.setitem(module, "fit", fit)
    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "fell_back", lambda checkpoint: False)
    return ran


def test_a_result_written_before_the_ensemble_and_members_keys_is_read_back_for_a_run_without_them(
    tmp_path, monkeypatch
):
    """A ``result.json`` of a run from before ``ltsf.py`` recorded ``ensemble`` and ``members`` is a run without
    either: the same command reads it back, fitting and testing nothing again."""
    ran = stub_run(monkeypatch, {"L96": 0.5, "L48": 0.4})
    choices = ltsf["candidates"]([96, 48])
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], choices)
    assert (result["chosen"], ran[-1]) == (
        "L48",
        f"test {tmp_path / 'etth1/linear/H24/seed0/L48/b.ckpt'}",
    )
    saved = tmp_path / "etth1/linear/H24/seed0/result.json"
    old = {key: value for key, value in json.loads(saved.read_text()).items() if key not in ("ensemble", "members")}
    saved.write_text(json.dumps(old))
    ran.clear()
    assert ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], choices) == result
    assert ran == []


def test_the_seed_ensemble_table_is_the_seeds_mean_beside_the_ensemble_of_the_longest_lookbacks_arguments(
    tmp_path, monkeypatch
):
    """Three seeds of other scores and lookbacks, as ``ltsf.py`` recorded them: each seed's test figures are the
    recorded ones (MSE and MAE apart), the table's "mean of seeds" is their mean (numpy), and the ensemble is
    scored with the arguments of the seed of the longest lookback (combine's leader), on validation and test."""
    script = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    runs = tmp_path / "runs/etth1/linear/H4"
    val = {
        "s0.ckpt": (0.1, 0.2),
        "s1.ckpt": (0.2, 0.4),
        "s2.ckpt": (0.9, 1.0),
        "ensemble.ckpt": (0.15, 0.3),
    }
    tests = {0: (0.3, 0.5), 1: (0.4, 0.6), 2: (1.4, 0.9)}
    for seed, lookback in enumerate([16, 48, 24]):
        result = {
            "best": str(tmp_path / f"s{seed}.ckpt"),
            "args": ["--seed_everything", str(seed)],
        }
        result |= {"lookback": lookback, "mse": tests[seed][0], "mae": tests[seed][1]}
        (runs / f"seed{seed}").mkdir(parents=True)
        (runs / f"seed{seed}/result.json").write_text(
            json.dumps({"args": ["--config", "linear.yaml"], "result": result})
        )
    scored = []

    def cli(args):
        checkpoint = Path(args[-1]).name
        scored.append((args[0], checkpoint, args[2]))  # args[2]: the seed its arguments are of
        mse, mae = val[checkpoint] if args[0] == "validate" else (0.25, 0.45)
        split = "val" if args[0] == "validate" else "test"
        return SimpleNamespace(trainer=SimpleNamespace(callback_metrics={f"{split}/mse": mse, f"{split}/mae": mae}))

    module = script["main"].__globals__
    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "read_checkpoint", lambda path, cls: {})
    monkeypatch.setitem(module, "combine", lambda members, path: path)
    out = tmp_path / "e"
    args = [
        "--config",
        "linear.yaml",
        "--horizons",
        "4",
        "--seeds",
        "3",
        "--root",
        str(tmp_path / "runs"),
    ]
    table = script["main"]([*args, "--out", str(out)])
    seeds = table[table["model"].str.startswith("seed")]
    assert seeds[["test_mse", "test_mae"]].to_numpy().tolist() == [list(tests[seed]) for seed in range(3)]
    assert scored == [("validate", f"s{seed}.ckpt", str(seed)) for seed in range(3)] + [
        ("validate", "ensemble.ckpt", "1"),
        ("test", "ensemble.ckpt", "1"),
    ]  # the seeds on validation only; the ensemble with the arguments of seed 1, of lookback 48
    means = [
        sum(val[f"s{s}.ckpt"][0] for s in range(3)) / 3,
        sum(val[f"s{s}.ckpt"][1] for s in range(3)) / 3,
    ]
    means += [
        sum(tests[s][0] for s in range(3)) / 3,
        sum(tests[s][1] for s in range(3)) / 3,
    ]
    summary = out.with_suffix(".md").read_text().split("\n\n")[0]
    assert f"| 4 | mean of seeds | {' | '.join(f'{value:.4f}' for value in means)} |" in summary
    assert "| 4 | ensemble of 3 | 0.1500 | 0.3000 | 0.2500 | 0.4500 |" in summary


def test_the_ensembles_score_the_mean_over_origins_with_the_leaders_arguments_and_leave_out_any_fallback(
    tmp_path, monkeypatch
):
    """Fits A (lookback 96), B and C (336), C fallen back to a naive forecast at its second origin only: C is in no
    ensemble; the one of A and B combines their fits of each origin and is validated there with the arguments of B
    (the first of the longest lookback, combine's leader, listed first), its score the mean over the origins, 0.2
    and 0.4."""
    module = ltsf["ensembles"].__globals__
    validated = []

    def cli(args, run=True):
        validated.append((args[1], args[args.index("--data.split") + 1], args[-1]))
        return SimpleNamespace(trainer=SimpleNamespace(callback_metrics={"val/loss": 0.2 * len(validated)}))

    combined = []

    def combine(members, path):
        combined.append((members, path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "combine", combine)
    monkeypatch.setitem(module, "fell_back", lambda checkpoint: checkpoint == "C1.ckpt")
    fits = {name: {"bests": [f"{name}0.ckpt", f"{name}1.ckpt"], "epochs": 2} for name in "ABC"}
    for name, lookback in zip("ABC", [96, 336, 336], strict=True):
        fits[name]["lookback"] = lookback
    settings = {name: [f"args-of-{name}"] for name in "ABC"}
    found = ltsf["ensembles"](fits, settings, tmp_path, ["split0", "split1"])
    assert list(found) == ["ensemble"]
    assert found["ensemble"]["members"] == ["B", "A"] and found["ensemble"]["lookback"] == 336
    assert found["ensemble"]["val_loss"] == pytest.approx((0.2 + 0.4) / 2)
    assert validated == [
        ("args-of-B", "split0", str(tmp_path / "ensemble/ensemble.ckpt")),
        ("args-of-B", "split1", str(tmp_path / "ensemble/origin1/ensemble.ckpt")),
    ]
    assert combined == [
        (["A0.ckpt", "B0.ckpt"], tmp_path / "ensemble/ensemble.ckpt"),
        (["A1.ckpt", "B1.ckpt"], tmp_path / "ensemble/origin1/ensemble.ckpt"),
    ]  # at each origin the fits of that origin's split


def test_origins_are_checked_at_the_earliest_split_where_a_fit_has_the_fewest_training_rows(
    monkeypatch,
):
    """``--origins 3``: the fits' windows are looked for at the split moved back twice, whose training part is the
    shortest; where that one has none the refusal names the most origins that work (here 2)."""
    module = ltsf["check_origins"].__globals__
    splits = ltsf["origin_splits"]("etth1", 3)
    looked = []

    def windowless(args, split):
        looked.append(splits.index(split))
        return "no training window" if split == splits[2] else None

    monkeypatch.setitem(module, "windowless", windowless)
    with pytest.raises(
        ValueError,
        match=r"--origins 3: .* would have no window: no training window; use --origins 2 ",
    ):
        ltsf["check_origins"]("etth1", CONFIG, 24, [], {}, 3)
    assert looked[0] == 2


def test_the_baselines_benchmark_takes_a_period_as_long_as_the_lookback(wide_frame, monkeypatch, capsys):
    """``--period`` equal to ``--lookback``: the last season is the whole window, which lies in it; the script prints
    the seasonal naive and last-value errors of every test window (numpy's, on the data module's windows). Its data
    module is the small frame's, split by fractions, in place of ETTh1's."""

    def small(source, lookback, horizon, split):
        return TimeSeriesDataModule(wide_frame, lookback=lookback, horizon=horizon, split=FractionSplit())

    monkeypatch.setattr(forecast.data, "TimeSeriesDataModule", small)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "--lookback", "8", "--horizon", "12", "--period", "8"])
    runpy.run_path(str(ROOT / "benchmarks" / "baselines.py"), run_name="__main__")
    printed = capsys.readouterr().out.splitlines()
    data = small("etth1", 8, 12, None)
    data.setup("test")
    test = data.dataset("test")
    batch = test.__getitems__(list(range(len(test))))
    past, target = batch.past.numpy(), batch.target.numpy()
    for name, period in [("seasonal naive (8)", 8), ("last value", 1)]:
        error = past[:, 8 - period + np.arange(12) % period] - target  # the last season, repeated
        assert f"{name:<24}{np.square(error).mean():>8.3f}{np.abs(error).mean():>8.3f}" in printed


least_squares = runpy.run_path(str(ROOT / "benchmarks" / "least_squares.py"), run_name="least_squares")


def test_the_least_squares_windows_are_the_targets_alone_beside_a_covariate(wide_frame):
    """Targets a and b with c a past covariate: each window gives one row per target channel, its lookback of that
    target, and no row of the covariate, whose future the map could not forecast."""
    columns = Columns(targets=["a", "b"], past_covariates=["c"])
    data = TimeSeriesDataModule(wide_frame, 6, 3, columns=columns, split=FractionSplit())
    data.setup("fit")
    inputs, targets = least_squares["windows"](data, "train")
    batch = data.dataset("train").__getitems__(list(range(len(data.dataset("train")))))
    past = batch.past.double().numpy()
    assert past.shape[2] == 3  # a, b and the covariate c
    assert inputs.shape == (2 * len(past), 6) and targets.shape == (2 * len(past), 3)
    np.testing.assert_allclose(inputs[1::2], past[:, :, 1])  # window by window, channel b's lookback


def test_the_least_squares_table_has_a_row_per_origin_by_its_first_validation_row_then_their_mean(monkeypatch, capsys):
    """Three origins: each row is named by the row its validation part starts at, and the last row is the mean of
    the three (numpy's), the preset's origin among them. The scores are stubbed, one per origin and map."""
    module = least_squares["main"].__globals__
    origins = [RowSplit(val_start, val_start + 10, val_start + 20) for val_start in (300, 250, 200)]
    monkeypatch.setitem(module, "splits", lambda dataset, count: origins[:count])
    monkeypatch.setitem(
        module,
        "TimeSeriesDataModule",
        lambda *args, split, **kwargs: SimpleNamespace(split=split, setup=lambda stage: None),
    )
    maps = {"none": 1.0, "last": 2.0, "instance": 3.0}
    monkeypatch.setitem(module, "validation_mse", lambda data, name, ridge: maps[name] * data.split.val_start / 100)
    least_squares["main"](["--horizons", "4", "--origins", "3"])
    printed = capsys.readouterr().out.splitlines()
    scores = np.array([[maps[name] * split.val_start / 100 for name in maps] for split in origins])
    rows = [
        f"| 4 | {split.val_start} | {' | '.join(f'{s:.4f}' for s in score)} |"
        for split, score in zip(origins, scores, strict=True)
    ]
    assert [line for line in printed if line.startswith("| 4 |")] == [
        *rows,
        f"| 4 | mean | {' | '.join(f'{s:.4f}' for s in scores.mean(axis=0))} |",
    ]


def test_the_published_figures_stand_beside_a_cell_only_where_every_seed_followed_their_protocol():
    """Two seeds of ETTh1 at 96, the second of a split of one's own: the cell is not the published protocol's, and
    SegRNN's figures are left out of its row."""
    runs = pd.DataFrame(
        {
            "dataset": ["etth1", "etth1"],
            "config": ["gru", "gru"],
            "horizon": [96, 96],
            "seed": [0, 1],
            "mse": [0.36, 0.38],
            "mae": [0.39, 0.41],
            "fit_s": [10.0, 12.0],
            "protocol": [True, False],
        }
    )
    table = ltsf["summarize"](runs)
    assert not table["protocol"].iloc[0]
    assert pd.isna(table["SegRNN mse"].iloc[0]) and pd.isna(table["SegRNN mae"].iloc[0])
    markdown = ltsf["to_markdown"](table)
    assert "| etth1 | gru | 96 | 2 | - | - | - | 0.3700 ± 0.0141 | 0.4000 ± 0.0141 | 11 ± 1 | 0 | - / - |" in markdown


def test_the_leaderboard_runs_the_seeds_from_0_and_tables_each_cell_once(tmp_path, monkeypatch):
    """``--seeds 2`` runs seeds 0 and 1 of each horizon (``benchmarks/ensemble.py`` reads ``seed0``, ``seed1``, ...),
    and the table has a row of 2 seeds per horizon, their mean MSE (the runs stubbed)."""
    module = ltsf["main"].__globals__
    ran = []

    def run(dataset, config, horizon, seed, *rest):
        ran.append((horizon, seed))
        cell = {"dataset": dataset, "config": config.stem, "horizon": horizon, "seed": seed}
        return cell | {"mse": 0.1 * (seed + 1), "mae": 0.5, "fit_s": 1.0}

    monkeypatch.setitem(module, "run", run)
    args = ["--configs", str(CONFIG), "--horizons", "24", "48", "--seeds", "2", "--out", str(tmp_path / "board")]
    table = ltsf["main"](args)
    assert ran == [(24, 0), (24, 1), (48, 0), (48, 1)]
    assert table[["horizon", "seeds"]].to_numpy().tolist() == [[24, 2], [48, 2]]
    assert table["mse_mean"].tolist() == pytest.approx([0.15, 0.15])


def test_crossed_choices_are_fitted_and_tie_broken_in_the_order_given_the_last_ones_values_fastest():
    """``--lookbacks 96 336 --choose model.x a b``: the settings in ``itertools.product``'s order of the options as
    given, the order in which ``run`` fits them and keeps the first of equal validation scores."""
    settings = ltsf["candidates"]([96, 336], [["model.x", "a", "b"]])
    assert list(settings) == ["L96,model.x=a", "L96,model.x=b", "L336,model.x=a", "L336,model.x=b"]


def stub_run_ensemble(monkeypatch, scores: dict[str, float], hparams: dict[str, dict]) -> list[tuple]:
    """``stub_run``, with the ensembles' ``combine`` and ``validate`` stubbed too (every ensemble validates at 0.1),
    and a data module of ``hparams[lookback]`` for ``check_alike``. Returns what ran, ``(subcommand, args)`` each."""
    stub_run(monkeypatch, scores)
    module = ltsf["run"].__globals__
    ran = []

    def cli(args, run=True):
        lookback = args[len(args) - 1 - args[::-1].index("--data.lookback") + 1] if "--data.lookback" in args else "96"
        if not run:
            return SimpleNamespace(datamodule=SimpleNamespace(hparams=hparams[lookback]))
        ran.append((args[0], args))
        metrics = {"val/loss": 0.1, "test/mse": 0.3, "test/mae": 0.2}
        return SimpleNamespace(
            trainer=SimpleNamespace(callback_metrics=metrics, num_test_batches=[1], test_dataloaders=[[None]])
        )

    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "combine", lambda members, path: path.parent.mkdir(parents=True, exist_ok=True) or path)
    return ran


def test_an_ensemble_chosen_on_validation_is_tested_with_its_leaders_arguments(tmp_path, monkeypatch):
    """``--lookbacks 48 96 --ensemble``: the ensemble (0.1) beats both fits on validation; its test takes the arguments
    of L96, the longest lookback, which ``combine`` takes its data settings from."""
    same = {"source": "etth1", "horizon": 24}
    ran = stub_run_ensemble(monkeypatch, {"L48": 0.4, "L96": 0.5}, {"48": same, "96": same})
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"]([48, 96]), ensemble=True)
    assert (result["chosen"], result["lookback"]) == ("ensemble", 96)
    tested = [args for subcommand, args in ran if subcommand == "test"]
    assert len(tested) == 1 and tested[0][-1] == str(tmp_path / "etth1/linear/H24/seed0/ensemble/ensemble.ckpt")
    assert tested[0][tested[0].index("--data.lookback") + 1] == "96"
    assert result["args"] == tested[0][1:-2]  # what ensemble.py tests it with again: the arguments it was tested with


def test_settings_of_other_lookbacks_and_batches_are_ensembled_but_not_of_other_scaling(tmp_path, monkeypatch):
    """``check_alike``: fits whose data differ only in the lookback and the batching combine; a scaler per series
    does not, refused before any fit, naming the setting."""
    first = {"source": "etth1", "horizon": 24, "lookback": 48, "batch_size": 32, "per_series": False}
    alike = first | {"lookback": 96, "batch_size": 8, "eval_stride": 24}
    stub_run_ensemble(monkeypatch, {"L48": 0.4, "L96": 0.5}, {"48": first, "96": alike})
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"]([48, 96]), ensemble=True)
    assert result["chosen"] == "ensemble"
    stub_run_ensemble(monkeypatch, {"L48": 0.4, "L96": 0.5}, {"48": first, "96": alike | {"per_series": True}})
    with pytest.raises(ValueError, match=r"would differ in data.per_series False vs True; "):
        ltsf["run"]("etth1", CONFIG, 24, 1, tmp_path, [], ltsf["candidates"]([48, 96]), ensemble=True)
    assert not (tmp_path / "etth1/linear/H24/seed1").exists()  # no fit


def test_members_are_fitted_at_each_lookback_of_the_runs_fits(tmp_path, monkeypatch):
    """``--lookbacks 48 336 --members other.yaml``: the member is fitted twice, after the run's fits, with
    ``--data.lookback 48`` and ``336`` after its config, into ``other/L48`` and ``other/L336``."""
    ran = stub_run(monkeypatch, {"L48": 0.4, "L336": 0.5})
    fitted_args = {}
    module = ltsf["run"].__globals__
    fit = module["fit"]

    def recorded(args, directory):
        fitted_args[directory.relative_to(tmp_path / "etth1/linear/H24/seed0").as_posix()] = args
        return fit(args, directory)

    monkeypatch.setitem(module, "fit", recorded)
    member = tmp_path / "other.yaml"
    member.write_text(CONFIG.read_text())
    ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"]([48, 336]), members=[member])
    assert list(fitted_args) == ["L48", "L336", "other/L48", "other/L336"]
    for lookback in ("48", "336"):
        args = fitted_args[f"other/L{lookback}"]
        assert args[:2] == ["--config", str(member)] and args[args.index("--data.lookback") + 1] == lookback
    assert ran[:4] == ["fit L48", "fit L336", "fit L48", "fit L336"]


def test_the_validation_score_of_a_cell_is_the_mean_and_sample_deviation_over_its_seeds():
    """The ``val`` column, as MSE and MAE beside it: the mean and standard deviation (ddof 1, numpy's) of the seeds'
    validation scores."""
    runs = pd.DataFrame(
        {"dataset": "etth1", "config": "gru", "horizon": 96, "seed": [0, 1, 2], "val_loss": [0.3, 0.5, 0.7]}
        | {"mse": 0.4, "mae": 0.4, "fit_s": 1.0}
    )
    table = ltsf["summarize"](runs)
    assert table["val_std"].iloc[0] == pytest.approx(np.std([0.3, 0.5, 0.7], ddof=1))
    assert "| etth1 | gru | 96 | 3 | - | - | 0.5000 ± 0.2000 | 0.4000 ± 0.0000 |" in ltsf["to_markdown"](table)
