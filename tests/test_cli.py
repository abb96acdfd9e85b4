import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.preprocessing import MinMaxScaler

from forecast import Calendar, Columns, Forecaster, Scaling, TimeSeriesDataModule
from forecast.cli import ForecastCLI, main
from forecast.cli_parser import _parser_keys
from forecast.data import FractionSplit
from forecast.runs import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# Trainer presets hold no model (tests/test_trainer_presets.py parses them composed with one); tune/ holds
# search spaces (tests/test_tune.py checks them against their configs).
CONFIGS = sorted(path for path in ROOT.glob("configs/**/*.yaml") if path.parent.name not in ("trainer", "tune"))


@pytest.fixture(scope="module")
def built_cli(tmp_path_factory, tiny_cli) -> ForecastCLI:
    """One ``fit`` of the CLI (the quickstart config, one batch of a small frame), whose parser the configs' parses
    of ``fit`` share: the CLI builds the same parser whatever the config (that of the subcommand named first, the
    others bare), and building it is most of the cost of a parse."""
    root = tmp_path_factory.mktemp("parser")
    steps = np.arange(60)
    frame = pd.DataFrame({"a": np.sin(steps / 4)}, index=pd.date_range("2024-01-01", periods=60, freq="h", name="date"))
    frame.to_csv(root / "small.csv")
    config = str(ROOT / "configs/quickstart.yaml")
    one_batch = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    return main(["fit", "--config", config, *tiny_cli(root / "small.csv", root), *one_batch])


def print_config(cli: ForecastCLI, args: list[str], capsys) -> dict:
    """What ``--print_config`` prints after ``args``, parsed as the CLI parses its arguments (its own checks
    included) with the parser that ``cli`` built."""
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_arguments(cli.parser, [*args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: str(path.relative_to(ROOT / "configs")))
def test_config_parses_with_the_real_cli_and_reprints_itself(config, built_cli, capsys, tmp_path):
    printed = print_config(built_cli, ["fit", "--config", str(config)], capsys)
    assert printed["model"]["encoder"]["class_path"].startswith("forecast.nn.")
    assert "lookback" not in printed["model"]  # linked from data, never written twice
    again = tmp_path / "printed.yaml"
    again.write_text(yaml.safe_dump(printed))
    assert print_config(built_cli, ["fit", "--config", str(again)], capsys) == printed


def test_a_run_builds_the_whole_parser_of_its_own_subcommand_alone(built_cli):
    """Lightning builds every subcommand's parser on each run, about half of a small run's time; the subcommands not
    named stay choices whose parsers hold no settings."""
    parsers = built_cli._subcommand_parsers
    assert set(parsers) == {"fit", "validate", "test", "predict", "backtest"}
    assert {"trainer.max_epochs", "data.lookback", "checkpoint.monitor", "ckpt_path"} <= _parser_keys(parsers["fit"])
    assert all(_parser_keys(parsers[name]) == {"config", "print_config"} for name in parsers.keys() - {"fit"})


def test_help_lists_every_subcommand_and_a_subcommands_help_its_own_settings(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "{fit,validate,test,predict,backtest}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    shown = capsys.readouterr().out
    assert "--refit_every" in shown and "--trainer.max_epochs" in shown and "--data.lookback" in shown


def test_a_config_of_the_subcommands_settings_given_before_it_builds_every_parser(tmp_path, capsys):
    """``--config x.yaml fit``: the arguments do not begin with the subcommand, whose settings the file holds under
    its name, so its parser is built in full as every other's."""
    settings = yaml.safe_load((ROOT / "configs/quickstart.yaml").read_text())
    (tmp_path / "runs.yaml").write_text(yaml.safe_dump({"fit": settings | {"seed_everything": 7}}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(tmp_path / "runs.yaml"), "fit", "--data.lookback", "12", "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["seed_everything"] == 7 and printed["data"]["lookback"] == 12
    encoder = settings["model"]["encoder"]
    assert printed["model"]["encoder"]["class_path"] == encoder["class_path"]
    assert printed["model"]["encoder"]["init_args"].items() >= encoder["init_args"].items()


def test_unknown_config_key_is_named(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(ROOT / "configs/quickstart.yaml"), "--model.encoder.init_args.hiden_size", "8"])
    assert exit_info.value.code != 0
    assert "hiden_size" in capsys.readouterr().err


def test_best_and_last_need_an_earlier_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `fit` first"):
        resolve_checkpoint("last", tmp_path)
    assert resolve_checkpoint("some/file.ckpt", tmp_path) == "some/file.ckpt"


@pytest.mark.parametrize(
    ("flags", "max_epochs"),
    [
        ([], 10),  # no config: the defaults fit ETTh1, at Lightning's default for hours
        # None: left to Lightning, whose fit lifts the epoch limit under max_steps alone, and
        # runs up to 1000 epochs under an EarlyStopping, which ends the run on its own.
        (["--trainer.max_steps", "50"], None),
        (["--trainer.callbacks+", "EarlyStopping", "--trainer.callbacks.monitor", "val/loss"], None),
    ],
    ids=["nothing", "max_steps", "early_stopping"],
)
def test_a_fit_that_sets_no_limit_trains_ten_epochs_not_lightnings_thousand(flags, max_epochs, tmp_path):
    cli = main(["--trainer.default_root_dir", str(tmp_path), *flags], run=False)
    assert cli.trainer.max_epochs == max_epochs


@pytest.mark.parametrize(("given", "limit"), [("1", 1), ("3", 3), ("1.0", 1.0), ("0.25", 0.25)])
def test_a_whole_number_of_batches_is_a_count_and_a_fraction_a_share(given, limit, tmp_path):
    """Lightning types ``limit_*_batches`` ``float | int``, so the CLI read ``1`` as 1.0: every batch, where
    Lightning promises one batch for ``1`` (so a test run "of one validation batch" validated them all)."""
    flags = [f"--trainer.{name}_batches" for name in ("limit_train", "limit_val", "limit_test", "limit_predict")]
    cli = main(["--trainer.default_root_dir", str(tmp_path), *(x for flag in flags for x in (flag, given))], run=False)
    for name in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches"):
        value = getattr(cli.trainer, name)
        assert value == limit and type(value) is type(limit), name


@pytest.fixture(scope="module")
def run_cli(tiny_cli):
    """``run_cli(subcommand, *args, root, csv)``: one subcommand in a fresh process, on a tiny frame, as a
    user would run it; ``args`` come last."""

    def run(subcommand: str, *args: str, root: Path, csv: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "forecast", subcommand, "--config", str(ROOT / "configs/quickstart.yaml")]
        command += [*tiny_cli(csv, root, batch_size=32), *args]
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return run


def in_process(subcommand: str, *args: str, root: Path, csv: str, tiny_cli) -> None:
    """``subcommand`` in this process with the arguments of ``run_cli``: for checks that need no fresh process."""
    main([subcommand, "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(csv, root, batch_size=32), *args])


def metrics_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "metrics.csv")


@contextlib.contextmanager
def lightning_output() -> Iterator[io.StringIO]:
    """What Lightning's loggers print (on stderr) while the block runs: the lines a user reads after a run."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield output
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_cli):
    """A two-epoch fit on a 200-row frame, in this process (``test`` runs in a new one below); shared by the
    round-trip tests, with what the fit printed."""
    root = tmp_path_factory.mktemp("runs")
    steps = np.arange(200)
    frame = pd.DataFrame(
        {"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)},
        index=pd.date_range("2024-01-01", periods=200, freq="h", name="date"),
    )
    csv = str(root / "wide.csv")
    frame.to_csv(csv)
    with lightning_output() as output:
        in_process("fit", root=root, csv=csv, tiny_cli=tiny_cli)
    return root, csv, frame, output.getvalue()


def independent_forecast(checkpoint: str, csv: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts and targets (original units) computed outside the CLI from the checkpoint file."""
    model = Forecaster.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    data = TimeSeriesDataModule(csv, lookback=24, horizon=6)
    data.setup("test")
    batch = data.dataset(part).__getitems__(list(range(len(data.dataset(part)))))
    with torch.no_grad():
        forecast = model.loss.point(model(batch.past, batch.future, batch.static))
    return batch.to_original(forecast).numpy(), batch.to_original(batch.target).numpy()


def test_fit_writes_best_and_last_checkpoints(fitted):
    root, _, _, printed = fitted
    checkpoints = sorted(path.name for path in root.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert len(checkpoints) == 2 and "last.ckpt" in checkpoints
    assert f"run directory: {root / 'lightning_logs/version_0'}" in printed
    assert metrics_of(root / "lightning_logs/version_0")["val/loss"].notna().sum() == 2


def test_test_in_a_new_process_uses_the_best_checkpoint(fitted, run_cli):
    root, csv, _, _ = fitted
    result = run_cli("test", "--ckpt_path", "best", "--report.num_plots", "0", root=root, csv=csv)
    best = resolve_checkpoint("best", root)
    assert Path(best).name != "last.ckpt" and best in result.stderr + result.stdout
    run_dir = max(root.glob("lightning_logs/version_*"), key=lambda path: int(path.name.split("_")[1]))
    logged = metrics_of(run_dir).iloc[-1]
    forecast, target = independent_forecast(best, csv, "test")
    assert logged["test/mse_orig"] == pytest.approx(np.mean((forecast - target) ** 2), rel=1e-4)
    assert logged["test/mae_orig"] == pytest.approx(np.mean(np.abs(forecast - target)), rel=1e-4)


def test_predict_writes_the_forecast_after_the_data(fitted, tiny_cli):
    root, csv, frame, _ = fitted
    output = root / "forecast.csv"
    in_process("predict", "--ckpt_path", "last", "--prediction_writer.output", str(output), root=root, csv=csv,
               tiny_cli=tiny_cli)  # fmt: skip
    table = pd.read_csv(output, parse_dates=["time"])
    assert list(table.columns) == ["id", "time", "a", "b"]
    expected_times = pd.date_range(frame.index[-1] + pd.Timedelta(hours=1), periods=6, freq="h")
    assert list(table["time"]) == list(expected_times)
    forecast, _ = independent_forecast(resolve_checkpoint("last", root), csv, "predict")
    np.testing.assert_allclose(table[["a", "b"]].to_numpy(), forecast[0], rtol=1e-4)


def test_predict_needs_only_the_lookback_of_history_whatever_the_split(fitted, tiny_cli):
    """The recent rows of the data, fewer than a split's parts would need, forecast as the library does."""
    root, _, frame, _ = fitted
    recent = root / "recent.csv"
    frame.iloc[-24:].to_csv(recent)  # the lookback: no room for a horizon, let alone validation and test parts
    output = root / "recent_forecast.csv"
    in_process("predict", "--ckpt_path", "last", "--prediction_writer.output", str(output), root=root,
               csv=str(recent), tiny_cli=tiny_cli)  # fmt: skip
    table = pd.read_csv(output, parse_dates=["time"])
    expected = Forecaster.load(resolve_checkpoint("last", root)).predict(frame.iloc[-24:])
    assert list(table["time"]) == list(expected["time"])
    np.testing.assert_allclose(table[["a", "b"]].to_numpy(), expected[["a", "b"]].to_numpy(), rtol=1e-5)


def test_a_resumed_fit_keeps_the_best_epoch_before_the_resume(tmp_path, tiny_cli):
    """The resumed fit logs to a new run folder; an epoch after the resume, far worse on validation (its
    validation rows are noise here), is neither the best checkpoint nor what the naive comparison reports."""
    steps = np.arange(300)
    frame = pd.DataFrame(
        {"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)},
        index=pd.date_range("2024-01-01", periods=300, freq="h", name="date"),
    )
    calm, noisy = tmp_path / "calm.csv", tmp_path / "noisy.csv"
    frame.to_csv(calm)
    frame.iloc[210:] += 100 * np.random.default_rng(0).standard_normal((90, 2))  # validation and test rows
    frame.to_csv(noisy)
    in_process("fit", "--trainer.max_epochs", "1", root=tmp_path, csv=str(calm), tiny_cli=tiny_cli)
    in_process("fit", "--ckpt_path", "last", "--trainer.max_epochs", "2", root=tmp_path, csv=str(noisy),
               tiny_cli=tiny_cli)  # fmt: skip
    first, resumed = (tmp_path / "lightning_logs" / f"version_{n}" for n in (0, 1))
    before, after = (metrics_of(run)["val/mse"].dropna().iloc[-1] for run in (first, resumed))
    assert after > 100 * before  # the epoch after the resume is far worse
    assert Path(resolve_checkpoint("best", tmp_path)).parent == first / "checkpoints"
    comparison = json.loads((resumed / "naive_comparison.json").read_text())
    assert comparison["val_mse"]["model"] == pytest.approx(before, rel=1e-5)


def test_fit_resumes_from_last_and_continues_the_epoch_count(fitted, tiny_cli):
    root, csv, _, _ = fitted
    in_process("fit", "--ckpt_path", "last", "--trainer.max_epochs", "3", root=root, csv=csv, tiny_cli=tiny_cli)
    resumed = torch.load(resolve_checkpoint("last", root), map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 2  # zero-based: the third epoch, after two done in the first run
    run_dir = Path(resolve_checkpoint("last", root)).parents[1]
    assert set(metrics_of(run_dir)["epoch"].dropna()) == {2}


def test_runs_log_to_csv_by_default(wide_csv, tmp_path, tiny_cli):
    args = ["test", "--config", str(ROOT / "configs/etth1/last_value.yaml"), *tiny_cli(wide_csv, tmp_path)]
    cli = main([*args, "--report.num_plots", "0"])
    assert type(cli.trainer.logger).__name__ == "CSVLogger"
    assert (tmp_path / "lightning_logs/version_0/metrics.csv").is_file()
    assert (tmp_path / "lightning_logs/version_0/metrics.json").is_file()


def test_yaml_chooses_tensorboard(wide_csv, tmp_path, tiny_cli):
    pytest.importorskip("tensorboard")
    logger = tmp_path / "tensorboard.yaml"
    logger.write_text(
        "trainer:\n  logger:\n    class_path: lightning.pytorch.loggers.TensorBoardLogger\n"
        f"    init_args:\n      save_dir: {tmp_path}\n"
    )
    args = ["test", "--config", str(ROOT / "configs/etth1/last_value.yaml"), "--config", str(logger),
            *tiny_cli(wide_csv)]  # fmt: skip
    assert type(main(args).trainer.logger).__name__ == "TensorBoardLogger"


def test_best_and_last_after_a_backtest_with_refits_are_the_fits_own_checkpoints(wide_csv, tmp_path, tiny_cli):
    args = ["--config", str(ROOT / "configs/etth1/linear.yaml"), *tiny_cli(wide_csv, tmp_path),
            "--trainer.max_epochs", "1", "--report.num_plots", "0"]  # fmt: skip
    main(["fit", *args])
    fit_checkpoints = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    main(["backtest", *args, "--start", "2024-01-06 00:00", "--num_windows", "2", "--refit_every", "1"])
    refits = list((tmp_path / "lightning_logs" / "version_1" / "refits").glob("origin_*/checkpoints/last.ckpt"))
    assert len(refits) == 2  # newer last.ckpt files than the fit's, trained on other borders
    tested = main(["test", *args, "--ckpt_path", "last"])
    assert tested.trainer.ckpt_path == str(fit_checkpoints / "last.ckpt")
    assert Path(resolve_checkpoint("best", tmp_path)).parent == fit_checkpoints


def test_best_and_last_read_the_checkpoints_model_settings_as_its_path_does(wide_csv, tmp_path, tiny_cli):
    args = ["--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(wide_csv, tmp_path, batch_size=32)]
    main(["fit", *args, "--trainer.max_epochs", "1", "--model.encoder.init_args.hidden_size", "8"])
    fit_checkpoints = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    # A tune trial's checkpoint, newer than the fit's, is no run of this config.
    trial = tmp_path / "tune" / "study" / "trials" / "0" / "lightning_logs" / "version_0" / "checkpoints"
    trial.mkdir(parents=True)
    (trial / "last.ckpt").write_bytes((fit_checkpoints / "last.ckpt").read_bytes())
    for ckpt_path in ("best", "last"):  # the config's hidden_size is 32; the checkpoint's 8
        tested = main(["test", *args, "--ckpt_path", ckpt_path, "--report.num_plots", "0"])
        assert Path(tested.trainer.ckpt_path).parent == fit_checkpoints
        assert tested.model.encoder.output_size == 8
    with pytest.raises(ValueError, match="trained on windows of lookback 24, not lookback 12: pass --data.lookback 24"):
        main(["test", *args, "--data.lookback", "12", "--ckpt_path", "best"])


def test_static_cardinalities_are_linked_into_the_model(long_frame, tmp_path, tiny_cli):
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    args = ["validate", "--config", str(ROOT / "configs/quickstart.yaml"),
            *tiny_cli(tmp_path / "long.csv", tmp_path, lookback=12, horizon=4), "--data.columns.targets", "[y]",
            "--data.columns.static_covariates", "[region, size]", "--model.static_embedding_size", "3"]  # fmt: skip
    model = main(args).model
    assert model.hparams["static_cardinalities"] == [2, 0]  # region: north, south; size: a number
    assert [embedding.num_embeddings for embedding in model.static_embedding.embeddings] == [2]
    assert model.dims.static_size == 3 + 1


NESTED_DATA = """
data:
  columns:
    targets: [y]
    past_covariates: [load]
    future_covariates: [price]
    static_covariates: [region, size]
  calendar:
    features: [hour, dayofweek]
    encoding: integer
  scaling:
    scaler:
      class_path: sklearn.preprocessing.MinMaxScaler
    covariate_scaler: null
    per_series: true
"""


def test_nested_data_keys_build_the_data_module_of_the_constructor(long_frame, tmp_path, tiny_cli):
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    (tmp_path / "data.yaml").write_text(NESTED_DATA)
    args = ["--config", str(ROOT / "configs/quickstart.yaml"), "--config", str(tmp_path / "data.yaml"),
            *tiny_cli(tmp_path / "long.csv", tmp_path, lookback=12, horizon=4)]  # fmt: skip
    from_yaml = main(args, run=False).datamodule
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"],
                      static_covariates=["region", "size"])  # fmt: skip
    calendar = Calendar(features=["hour", "dayofweek"], encoding="integer")
    scaling = Scaling(scaler=MinMaxScaler, covariate_scaler=None, per_series=True)
    built = TimeSeriesDataModule(
        str(tmp_path / "long.csv"), 12, 4, columns=columns, calendar=calendar, split=FractionSplit(), scaling=scaling
    )
    assert (from_yaml.columns, from_yaml.scaling.per_series) == (columns, True)
    for data in (from_yaml, built):
        data.setup("fit")
    assert from_yaml.state_dict() == built.state_dict()  # roles, calendar, MinMax scalers per series
    assert from_yaml.hparams["columns"] == built.hparams["columns"]
    assert from_yaml.hparams["calendar"] == built.hparams["calendar"]
    for part in ("train", "val"):
        first, second = (data.dataset(part) for data in (from_yaml, built))
        first, second = (dataset.__getitems__(list(range(len(first)))) for dataset in (first, second))
        for field in ("past", "future", "static", "target"):
            torch.testing.assert_close(getattr(first, field), getattr(second, field), equal_nan=True)


def test_flat_data_keys_of_before_the_groups_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(ROOT / "configs/quickstart.yaml"), "--data.targets", "[OT]"])
    assert exit_info.value.code != 0
    assert "data.targets" in capsys.readouterr().err


def untrusted_copy(source: Path, target: Path) -> Path:
    """A copy naming a function that jsonargparse would call, and that would create ``{target}.ran``."""
    contents = torch.load(source, weights_only=True)
    command = {"command": f"touch {target}.ran"}
    contents["hyper_parameters"]["encoder"] = {"class_path": "os.system", "init_args": command}
    torch.save(contents, target)
    return target


def truncated_copy(source: Path, target: Path) -> Path:
    whole = source.read_bytes()
    target.write_bytes(whole[: len(whole) // 2])
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (untrusted_copy, r"its hyperparameter 'encoder' names os.system, .*forecast.nn.encoders.Encoder are built"),
        (truncated_copy, r"is not a forecast checkpoint .*: it is truncated"),
    ],
    ids=["untrusted", "truncated"],
)
def test_test_refuses_a_checkpoint_file_it_cannot_trust(fitted, tmp_path, damage, message, tiny_cli):
    root, csv, _, _ = fitted
    path = damage(root / "lightning_logs/version_0/checkpoints/last.ckpt", tmp_path / "given.ckpt")
    args = ["test", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(csv, tmp_path),
            "--ckpt_path", str(path)]  # fmt: skip
    with pytest.raises(ValueError, match=message) as refused:
        main(args)
    assert str(refused.value).startswith(str(path))
    assert not Path(f"{path}.ran").exists()


def test_best_of_a_run_directory_copied_to_another_root_is_the_copys_file(fitted, tmp_path):
    # The copy's checkpoints record the original's paths; the original's files may since be another run's.
    root, _, _, _ = fitted
    copy = tmp_path / "copied"
    shutil.copytree(root / "lightning_logs", copy / "lightning_logs")  # keeps the files' times
    best = Path(resolve_checkpoint("best", copy))
    assert best.is_relative_to(copy) and best.name != "last.ckpt"
    assert best.name == Path(resolve_checkpoint("best", root)).name


def test_a_checkpoint_path_that_names_no_file_is_refused_naming_the_flag_before_anything_is_built(
    wide_csv, tmp_path, tiny_cli
):
    args = ["test", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(wide_csv, tmp_path),
            "--ckpt_path", "bestt"]  # fmt: skip
    with pytest.raises(FileNotFoundError, match=r"ckpt_path='bestt' names no checkpoint file.*`best` / `last`"):
        main(args)
    assert not (tmp_path / "lightning_logs").exists()


def test_best_without_a_last_checkpoint_names_the_save_last_setting(tmp_path):
    # A fit with --checkpoint.save_last false leaves best files that `best` cannot tell apart by run.
    (tmp_path / "lightning_logs/version_0/checkpoints").mkdir(parents=True)
    (tmp_path / "lightning_logs/version_0/checkpoints/epoch=0-step=6.ckpt").touch()
    with pytest.raises(FileNotFoundError, match="checkpoint.save_last true"):
        resolve_checkpoint("best", tmp_path)


def test_the_help_names_tune_which_the_lightning_cli_does_not_list(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "python -m forecast tune --help" in capsys.readouterr().out


def test_checkpointing_turned_off_names_the_checkpoint_keys_that_save_none(wide_csv, tmp_path, tiny_cli):
    """``--trainer.enable_checkpointing false`` failed, after reading the data, with Lightning's complaint about a
    ModelCheckpoint in the callbacks, which the CLI itself adds (``checkpoint.*``); the keys it names save none."""
    args = ["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(tmp_path / "no.csv", tmp_path)]
    with pytest.raises(
        ValueError, match=r"trainer.enable_checkpointing.*--checkpoint.save_top_k 0 --checkpoint.save_last false"
    ):
        main([*args, "--trainer.enable_checkpointing", "false"])
    quick = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.logger", "false"]
    args = ["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(wide_csv, tmp_path), *quick]
    main([*args, "--checkpoint.save_top_k", "0", "--checkpoint.save_last", "false"])
    assert not list(tmp_path.glob("**/*.ckpt"))
