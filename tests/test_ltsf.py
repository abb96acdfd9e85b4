import itertools
import json
import re
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecast import datasets

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2"]
TINY += ["--trainer.limit_test_batches", "2", "--report.num_plots", "0"]


def test_ltsf_summary_is_mean_and_std_over_seeds_beside_the_published_cell():
    runs = pd.DataFrame(
        {
            "dataset": ["etth1"] * 3 + ["ettm1"],
            "config": ["gru"] * 4,
            "horizon": [96, 96, 96, 96],
            "seed": [0, 1, 2, 0],
            "mse": [0.36, 0.37, 0.38, 0.30],
            "mae": [0.39, 0.40, 0.41, 0.35],
            "fit_s": [10.0, 12.0, 14.0, 50.0],
            "epochs": [5, 6, 7, 8],
            "val_winner": ["model", "last value", "model", None],  # None: a run from before it was recorded
            "lookback": [96, 336, 96, None],
            "protocol": [True] * 4,
        }
    )
    table = ltsf["summarize"](runs).set_index("dataset")
    assert table.loc["etth1", "seeds"] == 3
    assert table.loc["etth1", "mse_mean"] == pytest.approx(0.37)
    assert table.loc["etth1", "mse_std"] == pytest.approx(np.std([0.36, 0.37, 0.38], ddof=1))
    assert table.loc["etth1", "fit_s_std"] == pytest.approx(2.0)
    assert (table.loc["etth1", "naive_wins"], table.loc["ettm1", "naive_wins"]) == (1, 0)
    assert (table.loc["etth1", "SegRNN mse"], table.loc["etth1", "SegRNN mae"]) == (0.368, 0.395)
    assert pd.isna(table.loc["ettm1", "SegRNN mse"]) and pd.isna(table.loc["ettm1", "mse_std"])
    markdown = ltsf["to_markdown"](table.reset_index())
    assert (
        "| etth1 | gru | 96 | 3 | 96 336 96 | - | - | 0.3700 ± 0.0100 | 0.4000 ± 0.0100 | 12 ± 2 | 1 | 0.368 / 0.395 |"
        in markdown
    )
    assert "| ettm1 | gru | 96 | 1 | - | - | - | 0.3000 | 0.3500 | 50 | 0 | - / - |" in markdown


def test_ltsf_tiny_run_writes_the_tables_of_the_cli_test(tmp_path):
    out = tmp_path / "board"
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "96", "--seeds", "1"]
    table = ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(out), *TINY])
    written = pd.read_csv(out.with_suffix(".csv"))
    assert written[["dataset", "config", "horizon", "seeds"]].values.tolist() == [["etth1", "linear", 96, 1]]
    assert written["mse_mean"].iloc[0] == pytest.approx(table["mse_mean"].iloc[0])
    metrics = pd.read_csv(next((tmp_path / "runs").glob("etth1/linear/H96/seed0/**/version_1/metrics.csv")))
    assert written["mse_mean"].iloc[0] == pytest.approx(metrics["test/mse"].dropna().iloc[-1])
    assert "| etth1 | linear | 96 | 1 |" in out.with_suffix(".md").read_text()
    run = tmp_path / "runs/etth1/linear/H96/seed0"
    comparison = json.loads(next(run.glob("**/version_0/naive_comparison.json")).read_text())
    assert json.loads((run / "result.json").read_text())["result"]["val_winner"] == comparison["winner"]
    assert written["naive_wins"].iloc[0] == int(comparison["winner"] != "model")

    def versions() -> list[str]:
        return sorted(path.name for path in (tmp_path / "runs").glob("etth1/linear/H96/seed0/**/version_*"))

    again = ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(out), *TINY])  # read back, not rerun
    assert versions() == ["version_0", "version_1"]
    pd.testing.assert_frame_equal(again, table)
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(out), *TINY, "--data.batch_size", "8"])
    assert versions() == ["version_0", "version_1", "version_2", "version_3"]  # other arguments: run again


def test_ltsf_reads_back_a_result_only_of_the_same_ensemble_setting(tmp_path):
    def run(ensemble: bool) -> dict:  # without a test: the check is of which saved result is read back
        return ltsf["run"]("etth1", ROOT / "configs/etth1/linear.yaml", 24, 0, tmp_path, TINY, None, 1, False, ensemble)

    first = run(False)
    saved = tmp_path / "etth1/linear/H24/seed0/result.json"
    written = json.loads(saved.read_text())
    # What an --ensemble run that chose the ensemble leaves: not the answer to a run without it.
    saved.write_text(json.dumps({**written, "ensemble": True, "result": {**first, "chosen": "ensemble"}}))
    assert run(False)["chosen"] is None
    # A result written before the key was: a run without --ensemble, read back.
    older = {key: value for key, value in written.items() if key != "ensemble"}
    saved.write_text(json.dumps({**older, "result": {**first, "chosen": "older"}}))
    assert run(False)["chosen"] == "older"


def test_ltsf_fit_that_fell_back_is_scored_by_the_naive_forecast_it_forecasts(tmp_path):
    args = ["--config", str(ROOT / "configs/etth1/linear.yaml"), "--data.horizon", "24"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar", "false", *TINY]
    args += ["--trainer.limit_train_batches", "1", "--model.optimizer.init_args.lr", "1e-6"]  # loses to a naive
    summary = ltsf["fit"]([*args, "--naive_comparison.fallback", "true"], tmp_path)
    comparison = json.loads(next(tmp_path.glob("lightning_logs/version_0/naive_comparison.json")).read_text())
    assert ltsf["fell_back"](summary["best"]) and comparison["fallback"] is not None
    scores = comparison["val_mse"]  # the network's and the naive forecasts', on the same validation windows
    assert summary["val_loss"] == pytest.approx(scores[comparison["fallback"]], rel=1e-5)
    assert summary["val_loss"] < scores["model"]


def test_ltsf_candidates_name_and_cross_the_settings_to_choose_among():
    assert ltsf["candidates"]() == {}
    assert ltsf["candidates"]([96, 336]) == {"L96": ["--data.lookback", "96"], "L336": ["--data.lookback", "336"]}
    crossed = ltsf["candidates"]([96], [["model.channel_embedding_size", "0", "256"], ["data.split", '{"a": 1}']])
    assert crossed == {
        'L96,model.channel_embedding_size=0,data.split=__a___1_': [
            "--data.lookback", "96", "--model.channel_embedding_size", "0", "--data.split", '{"a": 1}'],
        'L96,model.channel_embedding_size=256,data.split=__a___1_': [
            "--data.lookback", "96", "--model.channel_embedding_size", "256", "--data.split", '{"a": 1}'],
    }  # fmt: skip
    with pytest.raises(ValueError, match="give the values to choose among"):
        ltsf["candidates"]([], [["model.channel_embedding_size"]])
    with pytest.raises(ValueError, match="would share a directory name"):
        ltsf["candidates"]([], [["data.split", "a/b", "a:b"]])


def test_ltsf_choices_fit_each_setting_and_test_only_the_best_on_validation(tmp_path):
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "96", "--choose", "model.head.init_args.moving_average", "5", "25"]
    args += ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board"), *TINY]
    table = ltsf["main"](args)
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    names = [f"L{lookback},model.head.init_args.moving_average={window}" for lookback in (48, 96) for window in (5, 25)]
    fits = {name: json.loads((run / name / "fit.json").read_text())["fit"] for name in names}
    chosen = min(fits, key=lambda name: fits[name]["val_loss"])
    assert len({fit["val_loss"] for fit in fits.values()}) == 4 and table["chosen"].tolist() == [chosen]
    assert table["lookbacks"].tolist() == [chosen.split(",")[0][1:]]
    tests = [path for path in run.glob("**/metrics.csv") if "test/mse" in pd.read_csv(path)]
    assert len(tests) == 1 and tests[0].relative_to(run).parts[0] == "lightning_logs"  # one test, of one setting
    hparams = (tests[0].parent / "hparams.yaml").read_text()
    assert f"lookback: {chosen.split(',')[0][1:]}" in hparams and f"moving_average: {chosen.split('=')[1]}" in hparams
    assert table["mse_mean"].iloc[0] == pytest.approx(pd.read_csv(tests[0])["test/mse"].dropna().iloc[-1])
    assert table["fit_s_mean"].iloc[0] == pytest.approx(sum(fit["fit_s"] for fit in fits.values()))
    assert f"| {chosen} |" in (tmp_path / "board.md").read_text()
    again = ltsf["main"](args)  # read back: no fit and no test runs again
    pd.testing.assert_frame_equal(again, table)
    assert len([path for path in run.glob("**/metrics.csv") if "test/mse" in pd.read_csv(path)]) == 1


def test_ltsf_origin_splits_move_the_presets_borders_back_by_half_a_validation_part():
    splits = [json.loads(split) for split in ltsf["origin_splits"]("etth1", 3)]
    assert splits[0] == datasets.info("etth1").split  # the preset itself: the leaderboard's own fits
    assert [split["init_args"] for split in splits[1:]] == [
        {"val_start": 7200, "test_start": 10080, "test_end": 12960},  # ETT: validation [8640, 11520), 2880 rows
        {"val_start": 5760, "test_start": 8640, "test_end": 11520},
    ]
    assert ltsf["origin_splits"]("etth1", 1) == [json.dumps(datasets.info("etth1").split)]
    with pytest.raises(ValueError, match="too early to move it back 6 times by 1440 rows"):
        ltsf["origin_splits"]("etth1", 7)


def test_ltsf_origins_score_the_mean_over_origins_and_validation_only_tests_nothing(tmp_path):
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--origins", "2", "--validation-only", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b")]
    table = ltsf["main"]([*args, *TINY])
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    fits = [json.loads((where / "fit.json").read_text()) for where in (run, run / "origin1")]
    splits = [fits[1]["args"][i + 1] for i, arg in enumerate(fits[1]["args"]) if arg == "--data.split"]
    assert "RowSplit" in splits[-1]  # the moved split, last
    scores = [saved["fit"]["val_loss"] for saved in fits]
    assert scores[0] != scores[1]
    assert table["val_mean"].iloc[0] == pytest.approx(sum(scores) / 2)
    tests = [path for path in run.glob("**/metrics.csv") if "test/mse" in pd.read_csv(path)]
    assert table["mse_mean"].isna().all() and not tests
    row = f"| etth1 | linear | 24 | 1 | 96 | - | {sum(scores) / 2:.4f} | - | - |"
    assert row in (tmp_path / "b.md").read_text()


def test_ltsf_ensemble_of_the_lookbacks_is_one_more_setting_chosen_on_validation(tmp_path):
    """``--ensemble`` validates the mean forecast of the lookbacks' fits on their validation windows, at no
    further fit, and tests it (at the longer lookback) when it beats each of them there."""
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "96", "--ensemble", "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b")]
    table = ltsf["main"]([*args, *TINY])
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    fits = {name: json.loads((run / name / "fit.json").read_text())["fit"] for name in ("L48", "L96")}
    result = json.loads((run / "result.json").read_text())["result"]
    scores = [fit["val_loss"] for fit in fits.values()]
    validated = pd.read_csv(next((run / "ensemble").glob("**/metrics.csv")))["val/loss"].dropna().iloc[-1]
    assert validated < min(scores)  # the mean forecast's MSE, below each member's on the same windows
    assert result["chosen"] == "ensemble" and result["val_loss"] == pytest.approx(validated)
    assert table["chosen"].tolist() == ["ensemble"] and table["lookbacks"].tolist() == ["96"]
    tests = [path for path in run.glob("**/metrics.csv") if "test/mse" in pd.read_csv(path)]
    assert len(tests) == 1 and "lookback: 96" in (tests[0].parent / "hparams.yaml").read_text()
    assert json.loads(next(run.glob("lightning_logs/**/metrics.json")).read_text())["ensemble_members"] == 2
    assert table["fit_s_mean"].iloc[0] == pytest.approx(sum(fit["fit_s"] for fit in fits.values()))


def test_ltsf_ensemble_at_two_origins_scores_the_mean_of_its_validations(tmp_path):
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "96", "--ensemble", "--origins", "2", "--validation-only"]
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b"), *TINY])
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    validated = []
    for where in (run / "ensemble", run / "ensemble/origin1"):
        (metrics,) = where.glob("lightning_logs/*/metrics.csv")  # one validate per split, each in its own place
        validated.append(pd.read_csv(metrics)["val/loss"].dropna().iloc[-1])
    assert validated[0] != validated[1]
    fits = [json.loads((run / name / "origin1/fit.json").read_text())["fit"] for name in ("L48", "L96")]
    assert {Path(fit["best"]).parents[3].name for fit in fits} == {"origin1"}  # members of the moved split's fits
    ensemble = json.loads((run / "ensemble/ensemble.json").read_text())
    assert ensemble["val_loss"] == pytest.approx(np.mean(validated)) and ensemble["members"] == ["L96", "L48"]
    scores = {  # each fit's mean over both origins, as the ensemble's
        name: np.mean([json.loads((place / "fit.json").read_text())["fit"]["val_loss"] for place in places])
        for name in ("L48", "L96")
        for places in [(run / name, run / name / "origin1")]
    }
    scores["ensemble"] = ensemble["val_loss"]
    assert json.loads((run / "result.json").read_text())["result"]["chosen"] == min(scores, key=scores.get)


def test_ltsf_split_of_ones_own_replaces_the_preset_in_every_fit_validation_and_test(tmp_path, monkeypatch):
    """The ensemble's ``validate`` and the test set the split whole: they must set the user's, never the
    preset's (whose validation rows may be the user's test rows)."""
    user = json.dumps({"class_path": "forecast.data.RowSplit", "init_args": {"val_start": 4000, "test_start": 5000}})
    seen = []

    def fit(args, directory):
        seen.append(args[len(args) - 1 - args[::-1].index("--data.split") + 1])  # the last one: what the CLI takes
        scaling = {"scaler": {"class_path": "sklearn.preprocessing.StandardScaler"}}  # what the data module says
        data = {"split": json.loads(seen[-1]), "columns": {}, "eval_stride": 1, "scaling": scaling}
        summary = {"best": "b.ckpt", "val_loss": 0.5, "lookback": 96, "fit_s": 1.0, "epochs": 1, "val_winner": "model"}
        return summary | {"data": data}

    class Run:
        trainer = type("Trainer", (), {"callback_metrics": {"val/loss": 0.4, "test/mse": 0.3, "test/mae": 0.2}})
        datamodule = type("DataModule", (), {"hparams": {}})

    def cli(args, run=True):
        seen.append(args[len(args) - 1 - args[::-1].index("--data.split") + 1])
        return Run()

    module = ltsf["run"].__globals__  # the script's own globals (run_path returns a copy)
    monkeypatch.setitem(module, "fit", fit)
    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "combine", lambda members, path: path.parent.mkdir(parents=True) or path)
    monkeypatch.setitem(module, "fell_back", lambda checkpoint: False)
    choices = ltsf["candidates"]([48, 96])
    result = ltsf["run"]("etth1", ROOT / "configs/etth1/linear.yaml", 24, 0, tmp_path, ["--data.split", user], choices,
                         ensemble=True)  # fmt: skip
    # Two data modules built to compare the settings, two fits, the ensemble's validate, one test.
    assert result["chosen"] == "ensemble" and seen == [user] * 6
    assert not result["protocol"]  # not the split of the published figures
    with pytest.raises(ValueError, match="--origins 3 moves the preset split of etth1 back; with --data.split use"):
        ltsf["run"]("etth1", ROOT / "configs/etth1/linear.yaml", 24, 0, tmp_path, [f"--data.split={user}"], origins=3)
    with pytest.raises(ValueError, match="--data.split.init_args.val_start: give the split whole"):
        ltsf["given_split"](["--data.split.init_args.val_start", "4000"])


def test_ltsf_refuses_two_configs_of_one_file_name(tmp_path):
    configs = [str(ROOT / "configs/etth1/linear.yaml"), str(tmp_path / "linear.yaml")]
    with pytest.raises(SystemExit):
        ltsf["main"](["--configs", *configs, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b")])


# Four fits and eleven ensembles; its small form, an ensemble of two lookbacks, is
# test_ltsf_ensemble_of_the_lookbacks_is_one_more_setting_chosen_on_validation.
@pytest.mark.slow
def test_ltsf_members_join_the_run_at_each_lookback_and_every_subset_is_an_ensemble(tmp_path):
    """``--members configs/ltsf/linear.yaml`` fits the linear model at each of the recurrent config's lookbacks
    (the same data settings, so that ``combine`` takes it) and ``--ensemble`` scores the mean forecast of every
    two or more fits; the best of all on validation is the one tested."""
    args = ["--configs", str(ROOT / "configs/ltsf/segrnn_l336.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "96", "--ensemble", "--members", str(ROOT / "configs/ltsf/linear.yaml")]
    args += ["--naive_comparison.fallback", "false"]  # two batches of training lose to the naive forecasts
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b"), *TINY])
    run = tmp_path / "runs/etth1/segrnn_l336/H24/seed0"
    for lookback in (48, 96):
        linear = json.loads((run / f"linear/L{lookback}/fit.json").read_text())
        assert linear["fit"]["lookback"] == lookback
        assert linear["args"][:2] == ["--config", str(ROOT / "configs/ltsf/linear.yaml")]
    fits = {"L48": "L48", "L96": "L96", "linear_L48": "linear/L48", "linear_L96": "linear/L96"}
    ensembles = {path.parent.relative_to(run).as_posix() for path in run.glob("ensemble/**/ensemble.json")}
    subsets = [c for size in (2, 3) for c in itertools.combinations(fits, size)]
    assert ensembles == {"ensemble"} | {f"ensemble/{'+'.join(subset)}" for subset in subsets}
    members = json.loads((run / "ensemble/ensemble.json").read_text())["members"]
    assert members == ["L96", "L48", "linear_L48", "linear_L96"]  # the first of the longest lookback leads
    scores = {
        name: json.loads((run / where / "fit.json").read_text())["fit"]["val_loss"] for name, where in fits.items()
    }
    for where in ensembles:
        scores[where] = json.loads((run / where / "ensemble.json").read_text())["val_loss"]
    result = json.loads((run / "result.json").read_text())["result"]
    assert result["val_loss"] == pytest.approx(min(scores.values()))
    tests = [path for path in run.glob("**/metrics.csv") if "test/mse" in pd.read_csv(path)]
    assert len(tests) == 1


def test_ltsf_fits_a_config_again_when_its_contents_change(tmp_path):
    """A fit or a run done before is read back only while the config files that it reads (``--configs``,
    ``--members``) are unchanged: an edited config is fitted again, and only the fits that read it."""
    config, member = tmp_path / "linear.yaml", tmp_path / "other.yaml"
    for path in (config, member):
        path.write_text((ROOT / "configs/etth1/linear.yaml").read_text())
    args = ["--configs", str(config), "--members", str(member), "--horizons", "24", "--seeds", "1"]
    args += ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b"), "--naive_comparison.fallback", "false"]
    run = tmp_path / "runs/etth1/linear/H24/seed0"

    def versions() -> dict[str, int]:  # a fit or a test each
        return {
            name: len(list(where.glob("lightning_logs/version_*")))
            for name, where in [("run", run), ("member", run / "other")]
        }

    ltsf["main"]([*args, *TINY])
    assert versions() == {"run": 2, "member": 1}  # the config's fit and the test; the member's fit
    ltsf["main"]([*args, *TINY])
    assert versions() == {"run": 2, "member": 1}  # unchanged: read back
    member.write_text(member.read_text().replace("moving_average: 25", "moving_average: 5"))
    ltsf["main"]([*args, *TINY])
    assert versions() == {"run": 3, "member": 2}  # the member fitted again, the config's fit read back, a new test
    config.write_text(config.read_text().replace("moving_average: 25", "moving_average: 5"))
    ltsf["main"]([*args, *TINY])
    assert versions() == {"run": 5, "member": 2}


def test_ltsf_refuses_members_whose_file_names_would_share_a_directory(tmp_path, monkeypatch):
    """A member's fit is kept, and named, by its file's stem: two of one stem, or a stem that the run gives a
    setting or directory of its own, would overwrite another's fit; refused before any fit."""
    monkeypatch.setitem(ltsf["run"].__globals__, "fit", lambda args, directory: pytest.fail("fitted"))
    config = ROOT / "configs/ltsf/segrnn_l336.yaml"
    twins = [tmp_path / "a/linear.yaml", tmp_path / "b/linear.yaml"]
    stems = ("L96", "ensemble", "ensemble_L96+linear", "origin1", "lightning_logs")
    for path in [*twins, *(tmp_path / f"{stem}.yaml" for stem in stems)]:
        path.parent.mkdir(exist_ok=True)
        path.write_text((ROOT / "configs/ltsf/linear.yaml").read_text())
    with pytest.raises(ValueError, match=re.escape(f"--members {twins[0]} {twins[1]}: each is kept under its file")):
        ltsf["run"]("etth1", config, 24, 0, tmp_path, [], members=twins)
    for stem in stems:
        member = tmp_path / f"{stem}.yaml"
        with pytest.raises(ValueError, match=re.escape(f"--members {member}: its file name '{stem}' is one ltsf.py")):
            ltsf["run"]("etth1", config, 24, 0, tmp_path, [], ltsf["candidates"]([96]), members=[member])


def test_ltsf_published_figures_stand_only_beside_runs_of_their_protocol(tmp_path):
    """A univariate run, or one on a split of one's own, is not comparable with the published figures: its row
    says so (``protocol``) and leaves them out."""
    own = json.dumps({"class_path": "forecast.data.RowSplit", "init_args": {"val_start": 4000, "test_start": 5000}})
    runs = []
    for name, extra in [
        ("linear", []),
        ("univariate", ["--data.columns.targets", "[OT]"]),
        ("own", ["--data.split", own]),
    ]:
        config = tmp_path / f"{name}.yaml"
        config.write_text((ROOT / "configs/etth1/linear.yaml").read_text())
        runs.append(ltsf["run"]("etth1", config, 96, 0, tmp_path / "runs", [*TINY, *extra], test=False))
    table = ltsf["summarize"](pd.DataFrame(runs))
    assert table["protocol"].tolist() == [True, False, False]
    assert table["SegRNN mse"].iloc[0] == 0.368 and table[["SegRNN mse", "SegRNN mae"]].iloc[1:].isna().all().all()
    rows = ltsf["to_markdown"](table).splitlines()[2:]
    assert rows[0].endswith(
        "| 0.368 / 0.395 | 0.371 / 0.393 | 0.378 / 0.391 | 0.386 / 0.405 | 0.386 / 0.400 | 0.350 / 0.384 |"
    )
    assert [row.endswith("| - / - | - / - | - / - | - / - | - / - | - / - |") for row in rows[1:]] == [True, True]


def test_ltsf_ensemble_refuses_members_of_other_data_settings_before_any_fit(tmp_path, monkeypatch):
    """A linear config that fills missing values with zeros, where configs/ltsf/ carries them forward: no ensemble could
    combine their fits, which ``--ensemble`` says before fitting either."""
    monkeypatch.setitem(ltsf["run"].__globals__, "fit", lambda args, directory: pytest.fail("fitted"))
    config, member = ROOT / "configs/ltsf/segrnn_l336.yaml", tmp_path / "linear.yaml"
    member.write_text((ROOT / "configs/etth1/linear.yaml").read_text().replace("nan_policy: ffill", "nan_policy: zero"))
    with pytest.raises(ValueError, match="--ensemble: the fits of") as raised:
        ltsf["run"]("etth1", config, 24, 0, tmp_path, [], ltsf["candidates"]([48]), ensemble=True, members=[member])
    assert f"{config} (L48) and {member} (linear) would differ in data.nan_policy 'ffill' vs 'zero';" in str(
        raised.value
    )


def test_ensemble_script_combines_what_each_seed_tested_with_the_arguments_it_was_tested_with(tmp_path):
    """After ``--lookbacks`` a seed's run directory holds a checkpoint per lookback: benchmarks/ensemble.py
    combines the one each seed tested (``result.json``), and scores the seeds and the ensemble with the
    leaderboard's arguments (here a univariate target and the tiny run's limits), not ones rebuilt from the
    config: each seed's validation score is the one it was chosen on."""
    ensemble = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    config = str(ROOT / "configs/etth1/linear.yaml")
    args = ["--horizons", "24", "--seeds", "2", "--root", str(tmp_path / "runs")]
    extra = ["--lookbacks", "48", "96", "--data.columns.targets", "[OT]", "--naive_comparison.fallback", "false"]
    ltsf["main"](["--configs", config, *args, "--out", str(tmp_path / "b"), *extra, *TINY])
    table = ensemble["main"](["--config", config, *args, "--out", str(tmp_path / "e")])
    runs = tmp_path / "runs/etth1/linear/H24"
    results = [json.loads((runs / f"seed{seed}/result.json").read_text())["result"] for seed in (0, 1)]
    seeds = table[table["model"].str.startswith("seed")]
    assert seeds["val_mse"].tolist() == pytest.approx([result["val_loss"] for result in results], rel=1e-5)
    assert seeds["test_mse"].tolist() == [result["mse"] for result in results]
    combined = torch.load(runs / "ensemble/ensemble.ckpt", weights_only=True)
    assert combined["ensemble_members"] == 2 and combined["datamodule_hyper_parameters"]["columns"]["targets"] == ["OT"]
    assert combined["hyper_parameters"]["lookback"] == max(result["lookback"] for result in results)
    assert table.set_index("model").loc["ensemble of 2", ["val_mse", "test_mse"]].notna().all()


def test_ltsf_jobs_fit_side_by_side_in_processes_of_their_own_and_the_runs_read_them_back(tmp_path, capsys):
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "--origins", "2", "--jobs", "2", *TINY]  # a setting's directory, two origins
    table = ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    assert "2 of 2 fits to run, 2 at a time" in capsys.readouterr().out
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    scores = {}
    for name in ("L48",):
        for where in (run / name, run / name / "origin1"):  # each fitted in its own process, then read back
            log = (where / "fit.log").read_text()
            assert "Traceback" not in log and f"{where / 'lightning_logs/version_0'}" in log
            assert [path.name for path in where.glob("lightning_logs/version_*")] == ["version_0"]  # no second fit
            scores.setdefault(name, []).append(json.loads((where / "fit.json").read_text())["fit"]["val_loss"])
    chosen = min(scores, key=lambda name: sum(scores[name]))
    assert table["chosen"].tolist() == [chosen] and table["val_mean"].iloc[0] == pytest.approx(sum(scores[chosen]) / 2)


def test_ltsf_leaves_out_a_lookback_the_data_cannot_train_and_chooses_among_the_others(tmp_path, capsys):
    """On data of a thousand training rows a lookback of 1200 has no training window: the run fitted it, failed,
    and the leaderboard stopped; the data set's choice is now among the lookbacks that train, and it says so."""
    split = json.dumps({"class_path": "forecast.data.RowSplit", "init_args": {"val_start": 1000, "test_start": 1200,
                                                                              "test_end": 1400}})  # fmt: skip
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--lookbacks", "48", "1200", "--data.split", split, "--root", str(tmp_path / "runs")]
    table = ltsf["main"]([*args, "--out", str(tmp_path / "board"), *TINY])
    assert table["chosen"].tolist() == ["L48"] and not (tmp_path / "runs/etth1/linear/H24/seed0/L1200").exists()
    assert "linear.yaml on etth1 at horizon 24: L1200 left out: the train part has no window" in capsys.readouterr().err


def test_ltsf_and_ensemble_take_a_file_of_ones_own_as_a_data_set(tmp_path, capsys):
    """``--datasets`` took built-in names only, so held-out data could not run through the leaderboard: a file runs
    as one, split 70/10/20 as a file's fit is, kept and tabled under its name, beside no published figure."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(0, 0.01, (800, 3)).cumsum(0), columns=["a", "b", "OT"])
    frame.index = pd.date_range("1990-01-01", periods=800, freq="D", name="date")
    source = tmp_path / "walk.csv"
    frame.to_csv(source)
    args = ["--horizons", "24", "--seeds", "2", "--root", str(tmp_path / "runs")]
    config = str(ROOT / "configs/etth1/linear.yaml")
    table = ltsf["main"](["--datasets", str(source), "--configs", config, *args, "--out", str(tmp_path / "b"), *TINY])
    assert table[["dataset", "config", "seeds"]].values.tolist() == [["walk", "linear", 2]]
    assert [ltsf["label"](name) for name in ("etth1", "walk.csv.gz", "my.data.parquet")] == ["etth1", "walk", "my.data"]
    assert table["protocol"].tolist() == [False]  # no published figure beside it
    result = json.loads((tmp_path / "runs/walk/linear/H24/seed1/result.json").read_text())["result"]
    split = result["args"][result["args"].index("--data.split") + 1]
    assert json.loads(split) == {
        "class_path": "forecast.data.splits.FractionSplit",
        "init_args": {"val": 0.1, "test": 0.2},
    }
    assert result["args"][result["args"].index("--data.source") + 1] == str(source)
    ensemble = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    scored = ensemble["main"](["--dataset", str(source), "--config", config, *args, "--out", str(tmp_path / "e")])
    assert scored.set_index("model").loc["ensemble of 2", ["val_mse", "test_mse"]].notna().all()
    with pytest.raises(SystemExit):
        ltsf["main"](["--datasets", str(tmp_path / "missing.csv"), "--configs", config])
    error = capsys.readouterr().err
    assert f"'{tmp_path / 'missing.csv'}' is no built-in data set (" in error and "etth1, " in error
    assert error.rstrip().endswith("and no file")
    (tmp_path / "etth1.csv").write_text(source.read_text())  # kept under runs/etth1 as the built-in one is
    with pytest.raises(SystemExit):
        ltsf["main"](["--datasets", "etth1", str(tmp_path / "etth1.csv"), "--configs", config])
    assert "two are named alike (etth1, etth1); rename one" in capsys.readouterr().err


def test_ltsf_counts_a_seed_whose_checkpoint_falls_back_within_the_margin_as_a_naive_win(tmp_path):
    """A network that leads the better naive forecast by less than ``naive_comparison.margin`` tests as that naive
    forecast; the table said no naive forecast won (the comparison's winner was the network)."""
    args = ["--configs", str(ROOT / "configs/ltsf/linear.yaml"), "--horizons", "24", "--seeds", "1"]
    args += ["--data.lookback", "48", "--trainer.max_epochs", "1", "--report.num_plots", "0"]  # least squares: leads
    args += ["--naive_comparison.margin", "0.99"]
    table = ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    comparison = json.loads(next(run.glob("**/version_0/naive_comparison.json")).read_text())
    assert comparison["winner"] == "model" and comparison["fallback"] in comparison["val_mse"]
    assert json.loads((run / "result.json").read_text())["result"]["val_winner"] == comparison["fallback"]
    assert table["naive_wins"].tolist() == [1]


@pytest.mark.parametrize(
    ("preset", "key", "use"),
    [
        ("data: {horizon: 48}", "data.horizon", "--horizons"),
        ("seed_everything: 0", "seed_everything", "--seeds"),
        ("data.source: etth1", "data.source", "--datasets"),
        ("trainer: {default_root_dir: runs/x}", "trainer.default_root_dir", "--root"),
        ("data: {split: {class_path: forecast.data.FractionSplit}}", "data.split", "--data.split"),
    ],
)
def test_ltsf_refuses_a_preset_that_sets_what_it_sets_for_each_run(preset, key, use, tmp_path, capsys):
    """A preset (``--config FILE`` passed on) came after the run's own arguments: one that set the horizon or the
    seed replaced every run's, so that rows were tabled under horizons and seeds they were not fitted at."""
    path = tmp_path / "preset.yaml"
    path.write_text(preset)
    with pytest.raises(SystemExit):
        ltsf["main"](["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--config", str(path)])
    assert f"--config {path} sets {key}, which ltsf.py sets for each run; use {use} instead" in capsys.readouterr().err


def test_ltsf_composes_a_preset_before_the_runs_own_horizon_and_seed(tmp_path):
    """A preset of other keys composes after the config, and each run keeps its own horizon and seed."""
    preset = tmp_path / "preset.yaml"
    preset.write_text("trainer: {accelerator: cpu}\nmodel: {optimizer: {init_args: {lr: 0.002}}}\n")
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "24", "--seeds", "2"]
    args += ["--config", str(preset), "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b")]
    table = ltsf["main"]([*args, *TINY])
    assert table[["horizon", "seeds"]].values.tolist() == [[24, 2]] and table["mse_std"].iloc[0] > 0
    for seed in (0, 1):
        run = tmp_path / f"runs/etth1/linear/H24/seed{seed}"
        written = yaml.safe_load(next(run.glob("lightning_logs/version_0/config.yaml")).read_text())
        assert (written["seed_everything"], written["data"]["horizon"]) == (seed, 24)
        assert written["model"]["optimizer"]["init_args"]["lr"] == 0.002


def test_ltsf_origins_of_a_long_file_read_its_columns_as_the_run_does(tmp_path):
    """``--origins`` read a file's split borders with the default columns (``id``, ``time``), so a long file of
    other column names, which its runs read by ``--data.columns``, was refused at its second origin."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2020-01-01", periods=600, freq="h")
    frame = pd.concat(
        pd.DataFrame({"series": name, "date": times, "value": rng.normal(size=600).cumsum()}) for name in ("a", "b")
    )
    source = tmp_path / "long.csv"
    frame.to_csv(source, index=False)
    args = ["--datasets", str(source), "--configs", str(ROOT / "configs/etth1/linear.yaml"), "--horizons", "12"]
    args += ["--seeds", "1", "--origins", "2", "--validation-only", "--data.lookback", "24"]
    args += ["--data.columns.id_column", "series", "--data.columns.time_column", "date"]
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b"), *TINY])
    fitted = json.loads((tmp_path / "runs/long/linear/H12/seed0/origin1/fit.json").read_text())
    split = json.loads(fitted["args"][max(i for i, arg in enumerate(fitted["args"]) if arg == "--data.split") + 1])
    assert split["init_args"] == {"val_start": 390, "test_start": 450, "test_end": 570}  # 420/480/600, 30 rows back


def test_ltsf_names_the_configs_own_fit_beside_members_by_its_file(tmp_path):
    """Beside members (and without --lookbacks or --choose), a seed that chose the config's own fit recorded no
    name: the table's ``chosen`` left it out, as if every seed had chosen a member."""
    member = tmp_path / "adam.yaml"
    member.write_text(
        (ROOT / "configs/etth1/linear.yaml").read_text().replace("moving_average: 25", "moving_average: 5")
    )
    args = ["--configs", str(ROOT / "configs/etth1/linear.yaml"), "--members", str(member), "--horizons", "24"]
    args += ["--seeds", "1", "--validation-only", "--ensemble", "--root", str(tmp_path / "runs")]
    table = ltsf["main"]([*args, "--out", str(tmp_path / "b"), *TINY])
    run = tmp_path / "runs/etth1/linear/H24/seed0"
    own = json.loads((run / "fit.json").read_text())["fit"]["val_loss"]
    other = json.loads((run / "adam/fit.json").read_text())["fit"]["val_loss"]
    mean = json.loads((run / "ensemble/ensemble.json").read_text())
    assert mean["members"] == ["linear", "adam"]
    chosen = min([("linear", own), ("adam", other), ("ensemble", mean["val_loss"])], key=lambda pair: pair[1])[0]
    assert table["chosen"].tolist() == [chosen]
    twin = tmp_path / "twin/linear.yaml"
    twin.parent.mkdir()
    twin.write_text(member.read_text())
    with pytest.raises(ValueError, match=re.escape(f"--members {twin}: its file name 'linear' is one ltsf.py")):
        ltsf["run"]("etth1", ROOT / "configs/etth1/linear.yaml", 24, 0, tmp_path, [], members=[twin])
