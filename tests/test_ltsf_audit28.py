"""benchmarks/ltsf.py and benchmarks/ensemble.py against their specification (benchmarks/README.md's accuracy
protocol): which parts a run reads, its statistics and tables, its earlier validation origins, resuming, and the
seed ensemble's score. Most fits here are stubbed; the real ones run on a tiny generated data set."""

import json
import re
import runpy
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, datasets
from forecast.data import RowSplit, TimeSeriesDataModule

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/etth1/linear.yaml"
PRESET = json.dumps(datasets.info("etth1").split)
ROWS = 203  # of the generated data set: FractionSplit 70/10/20 puts validation at [142, 163), test at [163, 203)
# A tiny real run of the linear config on it: lookback 8 (set by --lookbacks where a test chooses), horizon 4.
SMALL = ["--model.head.init_args.moving_average", "3", "--trainer.max_epochs", "1", "--report.num_plots", "0"]
SMALL += ["--data.batch_size", "16", "--naive_comparison.fallback", "false"]


@pytest.fixture
def illness(tmp_path, monkeypatch) -> pd.DataFrame:
    """A generated weekly ``national_illness.csv`` of ``ROWS`` rows and two channels in a data folder of its own:
    the data set ``illness``, which loads by name with its ``FractionSplit`` preset."""
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    steps = np.arange(ROWS)
    frame = pd.DataFrame(
        {"date": pd.date_range("2002-01-01", periods=ROWS, freq="W-TUE"), "a": np.sin(steps / 3)}
        | {"OT": 2 + np.cos(steps / 5) + 0.3 * rng.standard_normal(ROWS)}
    )
    frame.to_csv(tmp_path / "data/national_illness.csv", index=False)
    return frame


def last_value(args: list[str], flag: str) -> str:
    """The value of the last ``flag`` among ``args``: the one the CLI takes."""
    return args[len(args) - 1 - args[::-1].index(flag) + 1]


def stub_run_parts(monkeypatch, scores: dict[tuple[str, str], float], ensemble_score: float) -> list[tuple]:
    """Stubbed fits and CLI runs for ``ltsf.run``: a fit scores ``scores[(setting, split)]`` on validation, an
    ensemble's ``validate`` ``ensemble_score``. Returns the record of what each read, in order: ``("fit", split,
    directory)``, or the CLI's subcommand, split and checkpoint."""
    module = ltsf["run"].__globals__  # the script's own globals (run_path returns a copy)
    read = []
    scaling = {"scaler": {"class_path": "sklearn.preprocessing.StandardScaler"}, "per_series": False}

    def fit(args, directory):
        directory.mkdir(parents=True, exist_ok=True)
        split = last_value(args, "--data.split")
        read.append(("fit", split, directory))
        setting = directory.parent.name if directory.name.startswith("origin") else directory.name
        lookback = int(last_value(args, "--data.lookback")) if "--data.lookback" in args else 96
        data = {"source": "etth1", "horizon": 24, "split": json.loads(split), "columns": {}, "scaling": scaling}
        data["eval_stride"] = 1
        summary = {"best": str(directory / "b.ckpt"), "val_loss": scores[setting, split], "lookback": lookback}
        return summary | {"fit_s": 1.5, "epochs": 1, "val_winner": "model", "data": data, "loss": None}

    class Trainer:
        callback_metrics = {"val/loss": ensemble_score, "test/mse": 0.3, "test/mae": 0.2}
        num_test_batches = [1]
        test_dataloaders = [[None]]  # one loader of one batch, all of it tested

    def cli(args, run=True):
        if run:
            read.append((args[0], last_value(args, "--data.split"), last_value(args, "--ckpt_path")))
        return SimpleNamespace(trainer=Trainer(), datamodule=SimpleNamespace(hparams={}))

    monkeypatch.setitem(module, "fit", fit)
    monkeypatch.setitem(module, "cli", cli)
    monkeypatch.setitem(module, "combine", lambda members, path: path.parent.mkdir(parents=True, exist_ok=True) or path)
    monkeypatch.setitem(module, "fell_back", lambda checkpoint: False)
    return read


def test_ltsf_chooses_on_validation_only_and_tests_the_chosen_fit_once_at_the_end(tmp_path, monkeypatch):
    """Two lookbacks at two origins, and their ensemble: every fit and ``validate`` comes first, then one ``test``,
    of the preset's split and the checkpoint of the setting whose mean validation score is least (L48: 0.4)."""
    moved = ltsf["origin_splits"]("etth1", 2)[1]
    scores = {("L96", PRESET): 0.5, ("L96", moved): 0.5, ("L48", PRESET): 0.3, ("L48", moved): 0.5}
    read = stub_run_parts(monkeypatch, scores, ensemble_score=0.45)
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"]([96, 48]), 2, ensemble=True)
    run = tmp_path / "etth1/linear/H24/seed0"
    assert [(kind, split) for kind, split, _ in read[:4]] == [("fit", PRESET), ("fit", moved)] * 2
    assert [(kind, split) for kind, split, _ in read[4:6]] == [("validate", PRESET), ("validate", moved)]
    assert read[6:] == [("test", PRESET, str(run / "L48/b.ckpt"))]
    assert (result["chosen"], result["lookback"], result["val_loss"]) == ("L48", 48, pytest.approx(0.4))
    assert result["mse"] == 0.3 and result["fit_s"] == pytest.approx(4 * 1.5)  # every fit's seconds, no ensemble's


@pytest.mark.parametrize("order", [[96, 48], [48, 96]])
def test_ltsf_ties_on_validation_go_to_the_first_setting_given_then_to_fits_before_ensembles(
    tmp_path, monkeypatch, order
):
    scores = {(f"L{lookback}", PRESET): 0.5 for lookback in order}
    read = stub_run_parts(monkeypatch, scores, ensemble_score=0.5)
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"](order), ensemble=True)
    assert result["chosen"] == f"L{order[0]}"
    assert read[-1] == ("test", PRESET, str(tmp_path / f"etth1/linear/H24/seed0/L{order[0]}/b.ckpt"))


@pytest.mark.slow
def test_ltsf_real_run_reads_the_test_part_once_for_the_chosen_lookback(illness, tmp_path, monkeypatch):
    """The same, with real fits, ``validate`` and ``test`` through the CLI, reading the data module's parts: the
    test part is read once, at the preset's split and the chosen lookback; no fit nor ``validate`` reads it."""
    read = []
    dataset = TimeSeriesDataModule.dataset

    def recorded(self, part):
        read.append((part, self.split.__class__.__name__, self.lookback))
        return dataset(self, part)

    monkeypatch.setattr(TimeSeriesDataModule, "dataset", recorded)
    choices = ltsf["candidates"]([8, 12])
    result = ltsf["run"]("illness", CONFIG, 4, 0, tmp_path / "runs", SMALL, choices, origins=2, ensemble=True)
    tests = [each for each in read if each[0] == "test"]
    assert tests == [("test", "FractionSplit", result["lookback"])] and read[-1] == tests[0]
    assert {part for part, _, _ in read} == {"train", "val", "test"}


def published_table() -> dict[int, dict[str, tuple[float, float | None]]]:
    """The published MSE / MAE of ETTh1 by horizon and model, as benchmarks/README.md tables them."""
    text = (ROOT / "benchmarks/README.md").read_text()
    header = re.search(r"^\| H \| (.*) \|$", text, re.M).group(1).split(" | ")
    models = [name.removesuffix(" L=96") for name in header]
    table = {}
    for horizon, cells in re.findall(
        r"^\| (96|192|336|720) \| (.*) \|$", text[: text.index("### The leaderboard")], re.M
    ):
        figures = [re.match(r"([\d.]+)(?: / ([\d.]+))?", cell).groups() for cell in cells.split(" | ")]
        table[int(horizon)] = {
            model: (float(mse), float(mae) if mae else None) for model, (mse, mae) in zip(models, figures, strict=True)
        }
    return table


def test_ltsf_tables_stand_the_readmes_published_figures_beside_their_own_cells_in_markdown_and_csv(
    tmp_path, monkeypatch
):
    """Each ETTh1 horizon's row shows the README's published MSE / MAE of that horizon, in the Markdown and the CSV
    alike; a horizon or data set without published figures shows none."""
    readme = published_table()
    assert set(readme) == {96, 192, 336, 720} and "best at any L <= 720" in readme[96]

    def run(dataset, config, horizon, seed, *rest):
        row = {"dataset": dataset, "config": config.stem, "horizon": horizon, "seed": seed, "val_loss": 0.6 + seed}
        row |= {"mse": horizon / 1000 + seed / 100, "mae": 0.2, "fit_s": 10.0 + seed, "lookback": 96, "chosen": None}
        return row | {"epochs": 1, "val_winner": "model", "protocol": True}

    monkeypatch.setitem(ltsf["main"].__globals__, "run", run)
    horizons = ["24", "96", "192", "336", "720"]
    out = tmp_path / "board"
    args = ["--datasets", "etth1", "ettm1", "--configs", str(CONFIG), "--horizons", *horizons, "--seeds", "2"]
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(out)])
    csv = pd.read_csv(out.with_suffix(".csv"))
    rows = out.with_suffix(".md").read_text().splitlines()
    header = rows[0].strip("| ").split(" | ")
    published = [name for name in header[header.index("naive wins val") + 1 :]]
    assert published == ["SegRNN", "TQNet", "CycleNet", "iTransformer", "DLinear", "best L<=720"]
    assert len(rows) == 2 + len(csv) == 12
    for (_, row), line in zip(csv.iterrows(), rows[2:], strict=True):
        cells = dict(zip(header, line.strip("| ").split(" | "), strict=True))
        assert [cells["dataset"], cells["H"]] == [row["dataset"], str(row["horizon"])]
        mse = row["horizon"] / 1000 + 0.005
        assert row["mse_mean"] == pytest.approx(mse) and row["mse_std"] == pytest.approx(np.std([0, 0.01], ddof=1))
        assert cells["MSE"] == f"{row['mse_mean']:.4f} ± {row['mse_std']:.4f}" and cells["fit s"] == "10 ± 1"
        for model in published:
            figures = readme.get(row["horizon"], {}).get(model.replace("best L<=720", "best at any L <= 720"))
            expected = figures if row["dataset"] == "etth1" and figures else (None, None)
            assert [None if pd.isna(row[f"{model} {m}"]) else row[f"{model} {m}"] for m in ("mse", "mae")] == list(
                expected
            )
            shown = [f"{value:.3f}" if value is not None else "-" for value in expected]
            assert cells[model] == " / ".join(shown)


def test_ltsf_standard_deviation_is_the_one_of_the_readmes_tables(tmp_path):
    """The README's table of segrnn_l336 gives "mean ± std" of the per-seed MSE it lists: the sample standard
    deviation (ddof 1), which ``summarize`` computes."""
    text = (ROOT / "benchmarks/README.md").read_text()
    per_seed = re.search(r"Per seed \(MSE\): (H=96 .*?)\. In MSE", text, re.S).group(1).replace("\n", " ")
    seeds = {
        int(h): [float(v) for v in values.split(", ")] for h, values in re.findall(r"H=(\d+) ([\d., ]+\d)", per_seed)
    }
    runs = pd.DataFrame(
        [
            {"dataset": "etth1", "config": "segrnn_l336", "horizon": h, "seed": s, "mse": v, "mae": 0.4, "fit_s": 1.0}
            for h, values in seeds.items()
            for s, v in enumerate(values)
        ]
    )
    markdown = ltsf["to_markdown"](ltsf["summarize"](runs))
    for horizon, values in seeds.items():
        readme = re.search(rf"^\| etth1 \| segrnn_l336 \| {horizon} \| 3 \| ([\d.]+ ± [\d.]+) \|", text, re.M).group(1)
        ours = re.search(rf"^\| etth1 \| segrnn_l336 \| {horizon} \| 3 \| .*? \| .*? \| .*? \| ([\d.]+ ± [\d.]+) \|",
                         markdown, re.M).group(1)  # fmt: skip
        mean, std = (float(part) for part in readme.split(" ± "))
        assert float(ours.split(" ± ")[1]) == pytest.approx(std, abs=1.5e-4)  # per-seed figures are rounded
        assert float(ours.split(" ± ")[1]) == pytest.approx(np.std(values, ddof=1), abs=5e-5)
        assert abs(np.std(values, ddof=0) - std) > 2e-4 and float(ours.split(" ± ")[0]) == pytest.approx(mean, abs=2e-4)


def test_ltsf_origins_of_a_fraction_split_by_hand(illness):
    """203 rows, FractionSplit 70/10/20: training [0, 142), validation [142, 163) (21 rows), test [163, 203).
    Each origin moves the three borders back by 21 // 2 = 10 rows; its training windows end where its validation
    begins, and its scaler is fitted on those training rows only."""
    splits = [json.loads(split) for split in ltsf["origin_splits"]("illness", 3)]
    assert splits[0] == datasets.info("illness").split
    assert [split["init_args"] for split in splits[1:]] == [
        {"val_start": 132, "test_start": 153, "test_end": 193},
        {"val_start": 122, "test_start": 143, "test_end": 183},
    ]
    data = TimeSeriesDataModule("illness", lookback=8, horizon=4, split=RowSplit(**splits[2]["init_args"]))
    data.setup("fit")
    train, val = data.dataset("train"), data.dataset("val")
    assert (len(train), len(val)) == (122 - 8 - 4 + 1, 143 - 122 - 4 + 1)
    last = train.__getitems__([len(train) - 1])
    assert int(last.time[0]) + 4 == 122  # the last training target is row 121
    np.testing.assert_allclose(last.target_offset[0], illness[["a", "OT"]].iloc[:122].mean(), rtol=1e-5)
    assert len(ltsf["origin_splits"]("illness", 15)) == 15  # validation from row 2: training rows [0, 2)
    with pytest.raises(ValueError, match=r"--origins 16: .* starts at row 142, .*; use --origins 15 or fewer"):
        ltsf["origin_splits"]("illness", 16)


def test_ltsf_refuses_origins_that_leave_no_training_rows_naming_the_most_that_work():
    """ETTh1: validation from row 8640, moved by 1440 rows: six origins start it at row 1440, seven at row 0."""
    assert json.loads(ltsf["origin_splits"]("etth1", 6)[-1])["init_args"]["val_start"] == 1440
    with pytest.raises(
        ValueError, match=r"--origins 7: .*too early to move it back 6 times by 1440 rows; use --origin"
    ):
        ltsf["origin_splits"]("etth1", 7)
    with pytest.raises(ValueError, match="; use --origins 6 or fewer$"):
        ltsf["origin_splits"]("etth1", 7)


@pytest.mark.parametrize("flag", ["--seeds", "--origins", "--jobs"])
def test_ltsf_refuses_a_count_below_one_naming_the_option(tmp_path, monkeypatch, capsys, flag):
    """``--seeds 0`` ran nothing and stopped in a pandas ``KeyError``; ``--origins 0`` was taken as one origin."""
    monkeypatch.setitem(ltsf["main"].__globals__, "run", lambda *args: pytest.fail("ran"))
    args = ["--configs", str(CONFIG), "--horizons", "24", flag, "0"]
    with pytest.raises(SystemExit):
        ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    assert f"argument {flag}: '0' is not a whole number of 1 or more" in capsys.readouterr().err


def stub_fit_of_cli(monkeypatch, tmp_path) -> list[str]:
    """``ltsf.fit``'s CLI stubbed: each ``fit`` leaves a checkpoint and scores 0.5. Returns the subcommands run."""
    ran = []

    def cli(args, run=True):
        ran.extend([args[0]] * run)  # not the check of its checkpoint's monitor (run=False)
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs/naive_comparison.json").write_text('{"winner": "model"}')
        (tmp_path / "b.ckpt").write_bytes(b"")
        checkpoint = SimpleNamespace(best_model_path=str(tmp_path / "b.ckpt"), best_model_score=torch.tensor(0.5))
        checkpoint.monitor, checkpoint.mode = "val/loss", "min"
        trainer = SimpleNamespace(checkpoint_callback=checkpoint, log_dir=str(tmp_path / "logs"), current_epoch=1)
        data = SimpleNamespace(lookback=8, horizon=2, hparams={}, borders=np.array([[20, 30, 40]]), strides={"val": 1})
        data.table = SimpleNamespace(observed=np.array([40]))
        data.windows_of = partial(TimeSeriesDataModule.windows_of, data)  # the data module's own, on these borders
        return SimpleNamespace(trainer=trainer, datamodule=data, model=SimpleNamespace(hparams={"loss": None}))

    monkeypatch.setitem(ltsf["fit"].__globals__, "cli", cli)
    monkeypatch.setitem(ltsf["fit"].__globals__, "fell_back", lambda checkpoint: False)
    return ran


def test_ltsf_reads_a_finished_fit_back_and_fits_again_one_half_written_or_without_its_checkpoint(
    tmp_path, monkeypatch, capsys
):
    """A run killed while writing ``fit.json`` left a half-written file, which stopped every later run in a
    ``JSONDecodeError``; a fit whose checkpoint is gone was read back, and its test failed. Each is fitted again,
    named; a whole one is read back."""
    ran = stub_fit_of_cli(monkeypatch, tmp_path)
    args = ["--config", str(CONFIG), "--trainer.default_root_dir", str(tmp_path)]
    ltsf["fit"](args, tmp_path)
    assert ltsf["fit"](args, tmp_path)["val_loss"] == 0.5 and ran == ["fit"]  # read back
    whole = (tmp_path / "fit.json").read_text()
    (tmp_path / "fit.json").write_text(whole[: len(whole) // 2])
    assert ltsf["fitted"](args, tmp_path) is None
    assert f"{tmp_path / 'fit.json'} is not whole" in capsys.readouterr().out
    ltsf["fit"](args, tmp_path)
    assert ran == ["fit", "fit"] and ltsf["fitted"](args, tmp_path) is not None
    (tmp_path / "b.ckpt").unlink()
    assert ltsf["fitted"](args, tmp_path) is None
    assert f"its checkpoint {tmp_path / 'b.ckpt'} is gone: fitting again" in capsys.readouterr().out


def test_ltsf_runs_again_a_result_json_half_written(tmp_path, monkeypatch):
    """A half-written ``result.json`` is run again (its fits read back), not a traceback that stops the board."""
    read = stub_run_parts(monkeypatch, {("seed0", PRESET): 0.5}, ensemble_score=0.5)
    first = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [])
    saved = tmp_path / "etth1/linear/H24/seed0/result.json"
    assert ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, []) == first and len(read) == 2  # read back: fit, test
    saved.write_text(saved.read_text()[:100])
    assert ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, []) == first and len(read) == 4
    assert json.loads(saved.read_text())["result"] == first


@pytest.fixture
def ensemble_script():
    return runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")


@pytest.mark.parametrize("written", [None, '{"args": ["--config", "linear.yaml"], "res'], ids=["missing", "half"])
def test_ensemble_script_names_a_seed_whose_result_json_is_missing_or_half_written(
    tmp_path, monkeypatch, ensemble_script, written
):
    """Before: a raw ``FileNotFoundError`` or ``JSONDecodeError``. Now the file, and the command that finishes it."""
    monkeypatch.setitem(ensemble_script["main"].__globals__, "cli", lambda args, run=True: pytest.fail("scored"))
    runs = tmp_path / "runs/etth1/linear/H4/seed0"
    runs.mkdir(parents=True)
    if written is not None:
        (runs / "result.json").write_text(written)
    argv = ["--config", str(CONFIG), "--horizons", "4", "--seeds", "1", "--root", str(tmp_path / "runs")]
    with pytest.raises(ValueError, match=f"{runs / 'result.json'}: .*leaderboard run is unfinished; run the ltsf.py"):
        ensemble_script["main"]([*argv, "--out", str(tmp_path / "e")])


def test_ensemble_script_refuses_the_result_of_a_validation_only_run(tmp_path, monkeypatch, ensemble_script):
    """A ``--validation-only`` run tested no seed (its MSE is NaN): the script would have tabled NaN for the seeds
    and read the test part for their ensemble during what was a choice on validation."""
    monkeypatch.setitem(ensemble_script["main"].__globals__, "cli", lambda args, run=True: pytest.fail("scored"))
    runs = tmp_path / "runs/etth1/linear/H4/seed0"
    runs.mkdir(parents=True)
    result = {"best": "b.ckpt", "args": ["--config", str(CONFIG)], "mse": float("nan"), "mae": float("nan")}
    (runs / "result.json").write_text(json.dumps({"args": result["args"], "test": False, "result": result}))
    argv = ["--config", str(CONFIG), "--horizons", "4", "--seeds", "1", "--root", str(tmp_path / "runs")]
    with pytest.raises(ValueError, match="is of a --validation-only run, which tested nothing; rerun the ltsf.py"):
        ensemble_script["main"]([*argv, "--out", str(tmp_path / "e")])


def validation_forecasts(checkpoint: str, args: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """A checkpoint's scaled point forecasts of every validation window of the data that ``args`` set, and the
    targets, computed here from the model's forward pass."""
    data = ltsf["run"].__globals__["cli"](args, run=False).datamodule
    data.setup("validate")
    dataset = data.dataset("val")
    batch = dataset.__getitems__(list(range(len(dataset))))
    model = Forecaster.load(checkpoint).eval()
    with torch.no_grad():
        return model.loss.point(model(batch.past, batch.future, batch.static)), batch.target


@pytest.mark.slow
def test_ensemble_script_scores_the_mean_forecast_of_two_seeds_on_validation(illness, tmp_path, ensemble_script):
    """Two seeds of a tiny leaderboard run: the ensemble's validation MSE is that of the hand mean of the two
    seeds' forecasts, and each seed's is its own forecasts'."""
    board = ["--configs", str(CONFIG), "--datasets", "illness", "--horizons", "4", "--seeds", "2"]
    ltsf["main"](
        [*board, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "b"), "--data.lookback", "8", *SMALL]
    )
    argv = ["--config", str(CONFIG), "--dataset", "illness", "--horizons", "4", "--seeds", "2"]
    table = ensemble_script["main"]([*argv, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "e")])
    results = [
        json.loads((tmp_path / f"runs/illness/linear/H4/seed{seed}/result.json").read_text())["result"]
        for seed in (0, 1)
    ]
    forecasts = [validation_forecasts(result["best"], result["args"]) for result in results]
    target = forecasts[0][1]
    scored = table.set_index("model")["val_mse"]
    for seed, (forecast, _) in enumerate(forecasts):
        assert scored[f"seed {seed}"] == pytest.approx(float((forecast - target).square().mean()), rel=1e-5)
    mean = (forecasts[0][0] + forecasts[1][0]) / 2
    assert scored["ensemble of 2"] == pytest.approx(float((mean - target).square().mean()), rel=1e-5)
    assert scored["ensemble of 2"] < min(scored["seed 0"], scored["seed 1"])  # two forecasts that differ


@pytest.mark.parametrize("origins", [0, 7])
def test_least_squares_refuses_origins_that_leave_no_training_rows_naming_the_range_that_works(origins):
    """``ltsf.py --origins``'s validation parts, scored in closed form: seven origins started ETTh1's last validation
    part at row 0 (the data module's "no series has training rows", not naming the option), and none printed an
    empty table."""
    script = runpy.run_path(str(ROOT / "benchmarks/least_squares.py"), run_name="least_squares")
    assert [split.val_start for split in script["splits"]("etth1", 6)] == [8640, 7200, 5760, 4320, 2880, 1440]
    fix = "give 1 or more" if origins == 0 else "too early to move it back 6 times by 1440 rows; use --origins 6"
    with pytest.raises(ValueError, match=rf"--origins {origins}: (.* )?{fix}"):
        script["splits"]("etth1", origins)


def test_origins_refuse_a_validation_part_of_one_row_which_half_of_does_not_move(monkeypatch):
    """Half of one row is 0 rows: every origin was the preset's split again, fitted and averaged as if another
    (``least_squares.py`` takes its origins from the same function)."""
    splits = runpy.run_path(str(ROOT / "benchmarks/ltsf.py"), run_name="ltsf")["origin_splits"]
    one_row = SimpleNamespace(borders=np.array([[50, 51, 60]]))
    monkeypatch.setitem(splits.__globals__, "TimeSeriesDataModule", lambda *args, **kwargs: one_row)
    with pytest.raises(ValueError, match="--origins 2: the validation part of etth1 .*; use --origins 1"):
        splits("etth1", 2)
