"""Guards for README claims checked by hand (fast)."""

import functools
import importlib
import inspect
import re
from pathlib import Path

import lightning as L
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from forecast import Calendar, Columns, Forecaster, Scaling, TimeSeriesDataModule
from forecast.batch import ModelDims
from forecast.cli import main
from forecast.ensemble import combine
from forecast.nn import GRUEncoder, LinearHead
from forecast.nn.encoders import EncoderOutput
from forecast.search_space import SearchSpace
from forecast.study_results import trials_table, write_results

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCHMARKS = (ROOT / "benchmarks" / "README.md").read_text()


def test_trials_csv_names_the_naive_fallback_column_as_the_readme_says():
    """README, Tuning: a trial scored by its naive fallback is named in trials.csv's `user_attrs_naive_fallback`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("naive_fallback", "last_value")
    study.tell(trial, 0.5)
    assert trials_table(study)["user_attrs_naive_fallback"].tolist() == ["last_value"]


def test_under_nan_policy_zero_inputs_before_a_channels_first_value_are_the_repaired_zero_scaled():
    """README, Your own data: only under ffill and interpolate do inputs before a channel's first value read the
    scaled zero; under `zero` they read the repaired 0 in the data's units, scaled."""
    rows = 300
    y = 50 + np.arange(rows, dtype=float) ** 2 / 100
    y[:20] = np.nan
    frame = pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))
    data = TimeSeriesDataModule(frame, 12, 4, columns=Columns(targets=["y"]), nan_policy="zero")
    data.setup("fit")
    dataset = data.dataset("train")
    batch = dataset.__getitems__([int(i) for i in dataset.index_of(np.array([0]), np.array([12]))])
    original = batch.to_original(batch.past[:, :, :1])[0, :, 0].numpy()
    np.testing.assert_allclose(original, 0.0, atol=1e-4)
    assert (batch.past[0, :, 0] != 0).all()


def test_every_file_the_readme_names_is_there():
    """README: every config, benchmark, test, notebook and package file it names (`configs/etth1/{rnn,gru}.yaml`
    naming each of the braces' files) exists, so that its commands do not fail on a renamed file."""
    root = Path(__file__).resolve().parents[1]
    named = set(re.findall(r"(?<![\w/.$])((?:configs|benchmarks|tests|notebooks|forecast)/[\w/.{},-]*\w)", README))
    paths = set()
    for name in named:
        braces = re.search(r"\{(.*?)\}", name)
        choices = braces.group(1).split(",") if braces else [""]
        paths |= {name.replace(braces.group(0), choice) if braces else name for choice in choices}
    assert len(paths) > 40
    assert sorted(path for path in paths if not (root / path).exists()) == []


def test_every_forecast_name_the_readme_gives_imports():
    """README: each dotted name under `forecast.` (a class path for a config, a function to call) is there."""
    names = set(re.findall(r"\bforecast(?:\.[A-Za-z_]\w*)+", README)) - {"forecast.png"}  # a file of the report
    missing = []
    for name in sorted(names):
        module, _, attribute = name.rpartition(".")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            if not hasattr(importlib.import_module(module), attribute):
                missing.append(name)
    assert len(names) > 20 and missing == []


def test_the_readmes_search_space_reads_as_tune_reads_it():
    """README, Tuning: the search YAML's sampler and pruner are Optuna classes and its space parses, `when` and
    `also` included."""
    block = next(block for block in re.findall(r"```yaml\n(.*?)```", README, flags=re.S) if "space:" in block)
    spec = yaml.safe_load(block)
    for key in ("sampler", "pruner"):
        module, _, name = spec[key]["class_path"].rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type)
    space = SearchSpace(spec["space"])
    assert {param.key for param in space.params} == set(spec["space"])


def test_best_yaml_names_the_directory_its_trial_ran_in_in_its_first_lines(tmp_path):
    """README, Tuning: `best.yaml` runs in the directory the trial ran in, named in its first lines; a study
    without a complete trial writes `trials.csv` and no `best.yaml`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="demo")
    trial = study.ask()
    trial.set_user_attr("cwd", "/data/project")
    study.tell(trial, 0.25)
    write_results(study, tmp_path, study.best_trial, "seed_everything: 0\n")
    lines = (tmp_path / "best.yaml").read_text().splitlines()
    assert lines[1] == f"#   cd /data/project && python -m forecast fit --config {tmp_path / 'best.yaml'}"
    assert lines[-1] == "seed_everything: 0"

    failed = optuna.create_study()
    failed.tell(failed.ask(), state=optuna.trial.TrialState.FAIL)
    write_results(failed, tmp_path / "failed", None, None)
    assert sorted(path.name for path in (tmp_path / "failed").iterdir()) == ["trials.csv"]


def test_the_readmes_data_and_model_keys_are_the_options_of_the_data_module_and_the_model():
    """README, Your own data and Config layout: the YAML's data keys build a data module as written, and the
    model keys are the Forecaster's arguments."""
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)]
    data = next(block["data"] for block in blocks if "data" in block and block["data"])
    split = data["split"]
    split_module, _, split_class = split["class_path"].rpartition(".")
    times = pd.date_range("2023-12-25", "2024-04-10", freq="h")
    frame = pd.concat(
        pd.DataFrame({"id": store, "time": times, "units": 1.0, "price": 2.0, "promo": 0.0, "store_type": kind})
        for store, kind in [("s1", "mall"), ("s2", "street")]
    )
    options = {key: value for key, value in data.items() if key not in ("source", "columns", "calendar", "split")}
    datamodule = TimeSeriesDataModule(
        frame,
        lookback=4,
        horizon=2,
        columns=Columns(**data["columns"]),
        calendar=Calendar(**data["calendar"]),
        split=getattr(importlib.import_module(split_module), split_class)(**split["init_args"]),
        scaling=Scaling(**options.pop("scaling")),
        **options,
    )
    assert datamodule.columns.static_covariates == ["store_type"] and datamodule.scaling.per_series
    layout = next(block for block in blocks if "seed_everything" in block)
    assert set(layout["model"]) <= set(inspect.signature(Forecaster).parameters)


def test_every_figure_in_a_configs_comments_is_one_the_readmes_measured():
    """configs/: a figure a comment quotes (an MSE, a validation score) stands in README.md or
    benchmarks/README.md, where its measurement is described, so that no config cites an unmeasured number."""
    unbacked = []
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        for line in path.read_text().splitlines():
            comment = line.partition("#")[2]
            for figure in re.findall(r"(?<![\w.])\d+\.\d{2,}(?![\w.])", comment):
                if figure not in README and figure not in BENCHMARKS:
                    unbacked.append(f"{path.relative_to(ROOT)}: {figure}")
    assert unbacked == []


def test_the_main_jobs_figures_are_its_configs_leaderboard_row_ahead_of_segrnn_and_dlinear_in_mse():
    """README, first command and its paragraph: the config it fits is the one of benchmarks/README.md's
    lookback-336 leaderboard row at H=96, whose MSE, MAE and fit seconds (mean ± std of the three fits it
    lists) the paragraph quotes, and whose MSE is below SegRNN's and DLinear's published 0.368 and 0.386."""
    first = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[0]
    assert (
        "fit --config configs/ltsf/segrnn_l336.yaml" in first and "test --config configs/ltsf/segrnn_l336.yaml" in first
    )
    row = re.search(
        r"\| etth1 \| segrnn_l336 \| 96 \| 3 \| 336 336 336 \| "
        r"([\d.]+ ± [\d.]+) \| ([\d.]+ ± [\d.]+) \| (\d+) ± (\d+) \|",
        BENCHMARKS,
    )
    mse, mae, fit_mean, fit_std = row.groups()
    assert f"MSE {mse} and MAE {mae}" in README
    fits = [float(s) for s in re.search(r"\(fits\s+of\s+(\d+),\s+(\d+)\s+and\s+(\d+)\s+s\)", README).groups()]
    assert abs(np.mean(fits) - float(fit_mean)) <= 1 and abs(np.std(fits, ddof=1) - float(fit_std)) <= 1
    lines = BENCHMARKS.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| H | SegRNN L=96 |"))
    names, h96 = ([cell.strip() for cell in lines[i].strip("|").split("|")] for i in (header, header + 2))
    published = dict(zip(names, h96, strict=True))
    assert published["SegRNN L=96"] == "0.368 / 0.395" and published["DLinear L=96"] == "0.386 / 0.400"
    assert "SegRNN 0.368 / 0.395" in README and "DLinear 0.386 / 0.400" in README
    assert float(mse.split()[0]) < 0.368 < 0.386


def test_combine_takes_members_that_differ_in_mases_seasonal_period(wide_frame, tmp_path):
    """README, ensembles: the period of MASE's scale scores a forecast and changes none, so `combine` takes
    members that differ in it, as in the lookback and the batching settings."""
    data = TimeSeriesDataModule(wide_frame, lookback=12, horizon=4, columns=Columns(targets=["a"]))
    model = Forecaster(
        lookback=12,
        horizon=4,
        input_size=data.input_size,
        target_size=1,
        encoder=functools.partial(GRUEncoder, hidden_size=4),
    )
    trainer = L.Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "hourly.ckpt")
    daily = torch.load(tmp_path / "hourly.ckpt", weights_only=True)
    daily["datamodule_hyper_parameters"]["seasonal_period"] = 24
    daily["state_dict"] = {name: weight + 0.01 for name, weight in daily["state_dict"].items()}  # another network
    torch.save(daily, tmp_path / "daily.ckpt")
    path = combine([tmp_path / "hourly.ckpt", tmp_path / "daily.ckpt"], tmp_path / "ensemble.ckpt")
    assert torch.load(path, weights_only=True)["ensemble_members"] == 2


def test_a_timer_like_an_early_stopping_leaves_the_cli_fits_epochs_to_lightning(wide_csv, tmp_path, tiny_cli):
    """README, Config layout: only a fit without max_epochs, max_steps, max_time, an EarlyStopping or a Timer
    trains 10 epochs; a Timer ends a fit on its own, so the epochs stay unlimited, as Lightning leaves them."""
    timer = ["--trainer.callbacks+", "Timer", "--trainer.callbacks.duration", "00:00:01:00"]
    cli = main([*tiny_cli(wide_csv, tmp_path), *timer, "--trainer.callbacks.interval", "epoch"], run=False)
    assert cli.trainer.max_epochs is None


def test_a_linear_head_from_the_sequence_reads_every_step_of_the_window_not_only_the_last():
    """README, Encoders: `LinearHead` reads `last`, or with `from_sequence: true` the whole `sequence`."""
    dims = ModelDims(lookback=5, horizon=2, input_size=1, target_size=1, future_size=0, static_size=0,
                     encoder_steps=5, encoder_size=3, num_params=1)  # fmt: skip
    sequence, last = torch.randn(1, 5, 3), torch.randn(1, 3)
    earlier = sequence.clone()
    earlier[:, 0] += 1.0  # another first step, the same end of the window
    no_inputs = (torch.zeros(1, 5, 1), torch.zeros(1, 2, 0), torch.zeros(1, 0))
    for from_sequence, changes in [(False, False), (True, True)]:
        head = LinearHead(dims, from_sequence=from_sequence)
        before = head(EncoderOutput(sequence, last, None), *no_inputs)
        after = head(EncoderOutput(earlier, last, None), *no_inputs)
        assert (not torch.equal(before, after)) is changes


def test_the_readmes_inline_model_setting_of_the_lookback_is_refused_naming_its_data_flag(capsys):
    """README, Config layout: model settings that set a size the CLI links (`--model '{"lookback": 48}'`) are
    refused, also under `--print_config`, naming the flag to give instead (`--data.lookback 48`)."""
    claim = re.search(r"inline: `--model '(\{.*?\})'`\) are refused, also under\s+`--print_config`, naming the "
                      r"flag to give instead \(`(--data\.lookback \d+)`", README)  # fmt: skip
    settings, flag = claim.groups()
    config = str(ROOT / "configs" / "quickstart.yaml")
    try:
        main(["fit", "--config", config, "--model", settings, "--print_config"])
    except (SystemExit, ValueError) as error:
        message = str(error) + capsys.readouterr().err
    else:
        message = "printed: " + capsys.readouterr().out[:200]
    assert "sets model.lookback" in message and flag in message


def test_a_lightning_trainer_refuses_a_model_of_another_lookback_than_its_data_modules(wide_frame):
    """README, Your own data: a `Trainer` refuses a model of another lookback than its data module's, naming the
    setting, before any batch (the model's setup)."""
    assert "a\n`Trainer` refuses a model of another lookback, horizon or channel count" in README
    data = TimeSeriesDataModule(wide_frame, lookback=12, horizon=4)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    model = Forecaster(lookback=24, horizon=4, input_size=data.input_size, target_size=data.target_size)
    with pytest.raises(ValueError, match=r"lookback=24, but the data module gives lookback=12"):
        trainer.fit(model, data)
    assert trainer.global_step == 0
