"""Hand mutation testing, round 5: tests for the mutants of the parts no round had mutated (a pass's metrics,
``forecast.model_metrics``; the published figures' standing, ``forecast.datasets.published``; the parts' range
checks, ``forecast.nn.checks``; the CLI's refusal of linked keys, ``forecast.linked_keys``; its parser's hints,
``forecast.cli_parser``; and ``forecast tune``'s command line, storage and MLflow run) that the suite let through.
Each fails under its mutant and passes on the real code."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from forecast import TimeSeriesDataModule
from forecast.batch import Batch
from forecast.datasets import published
from forecast.linked_keys import check_linked_keys
from forecast.model_metrics import PassMetrics
from forecast.nn import GRUEncoder

BENCHMARKS_README = Path(__file__).resolve().parents[1] / "benchmarks/README.md"


def _batch(target: torch.Tensor, scale: float, offset: float) -> Batch:
    """A batch of ``target`` (B, H, 1) whose original units are ``scaled * scale + offset``."""
    rows = target.shape[0]
    ones = torch.ones(rows, 1, dtype=torch.float64)
    return Batch(
        past=torch.zeros(rows, 4, 1), future=torch.zeros(rows, target.shape[1], 0), static=torch.zeros(rows, 0),
        target=target, series=torch.zeros(rows, dtype=torch.long), time=torch.arange(rows),
        target_scale=scale * ones, target_offset=offset * ones, naive_scale=torch.ones(rows, 1),
    )  # fmt: skip


def test_a_second_validation_pass_reports_its_own_errors_in_original_units_too():
    """Two passes of the same metrics: the second's means, scaled and in original units, are of its batch alone."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    target = torch.zeros(2, 3, 1)
    for error in (5.0, 1.0):
        metrics.start("val")
        metrics.add(
            "val",
            _batch(target, scale=10.0, offset=3.0),
            torch.tensor(0.0),
            target + error,
            None,
        )
    means = metrics.overall_means("val")
    assert means["val/mae"].item() == pytest.approx(1.0)
    assert means["val/mae_orig"].item() == pytest.approx(10.0)  # |error| x scale of the second pass alone
    assert means["val/mse_orig"].item() == pytest.approx(100.0)


def test_a_bfloat16_models_metrics_are_float32_means_of_its_forecasts():
    """A bfloat16 model's forecasts: its logged means are float32, exact to float32 digits (not rounded to bfloat16's
    8 significant bits)."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    forecast = torch.tensor([[1.0, 1.0, 2.0]], dtype=torch.bfloat16)[..., None]
    target = torch.zeros_like(forecast)
    metrics.start("test")
    metrics.add(
        "test",
        _batch(target, scale=1.0, offset=0.0),
        torch.tensor(0.0, dtype=torch.bfloat16),
        forecast,
        None,
    )
    means = metrics.overall_means("test")
    values = np.array([1.0, 1.0, 2.0])  # a mean of 4/3, which bfloat16 holds as 1.336
    assert means["test/mae"].dtype == torch.float32
    assert means["test/mae"].item() == pytest.approx(values.mean(), rel=1e-6)
    assert means["test/mse"].item() == pytest.approx((values**2).mean(), rel=1e-6)


def test_a_resumed_epochs_mean_training_loss_starts_at_the_checkpoints_sums_alone():
    """The sums of a checkpoint written after one batch (loss 2, 6 targets) resume into metrics that hold a stale epoch
    (loss 5): the next batch (loss 1, 6 targets) makes the mean of the two batches of the resumed epoch alone."""
    target = torch.zeros(2, 3, 1)
    written = PassMetrics(horizon=3, target_size=1, levels=())
    written.add_loss("train", torch.tensor(2.0), _batch(target, 1.0, 0.0))
    resumed = PassMetrics(horizon=3, target_size=1, levels=())
    resumed.add_loss("train", torch.tensor(5.0), _batch(target, 1.0, 0.0))
    resumed.resume_train_loss(written.train_loss_sums())
    resumed.add_loss("train", torch.tensor(1.0), _batch(target, 1.0, 0.0))
    assert resumed.mean_loss("train").compute().item() == pytest.approx(np.average([2.0, 1.0], weights=[6, 6]))


def test_the_published_figures_are_those_of_the_benchmarks_readme_table():
    """Every cell of the README's ETTh1 table, MSE / MAE (FITS gives no MAE), in the order of its columns."""
    rows = re.findall(
        r"^\| (96|192|336|720) \| (0\.\d{3} .*) \|$",
        BENCHMARKS_README.read_text(),
        re.MULTILINE,
    )
    table = {
        int(horizon): [
            (float(mse), None if mae is None else float(mae))
            for mse, mae in (
                re.match(r"(0\.\d{3})(?: / (0\.\d{3}))?", cell.strip()).groups() for cell in cells.split("|")
            )
        ]
        for horizon, cells in rows
    }
    assert table == {horizon: list(models.values()) for horizon, models in published.PUBLISHED["etth1"].items()}


@pytest.fixture(scope="module")
def etth1_settings():
    return dict(TimeSeriesDataModule("etth1", 96, 96).hparams)


@pytest.mark.parametrize("role", ["targets", "past_covariates", "future_covariates", "static_covariates"])
def test_the_protocol_is_not_followed_where_a_column_has_a_role(role, etth1_settings):
    columns = etth1_settings["columns"] | {role: ["OT"]}
    assert published.standard_protocol("etth1", etth1_settings | {"columns": columns}) is False


@pytest.mark.parametrize(("batches", "every"), [([5], True), ([2], False), ([3, 2], False)])
def test_a_test_scored_every_window_only_where_it_ran_every_batch_of_its_loaders(batches, every):
    """A test loader of 5 batches (and one of 2 beside it): a limit of 2 batches ran some of them, not every one."""
    loaders = [range(5)] if len(batches) == 1 else [range(5), range(2)]
    trainer = SimpleNamespace(
        test_dataloaders=loaders,
        num_test_batches=batches if len(batches) == 1 else [2, 2],
    )
    assert published.tested_every_window(trainer) is every


def test_a_bfloat16_cast_of_the_metrics_keeps_their_sums_exact():
    """Metrics cast with their model to bfloat16: 256 windows off by 1 and one off by 3 make an MAE of 259 / 257; a
    bfloat16 sum holds 259 as 260."""
    metrics = PassMetrics(horizon=1, target_size=1, levels=()).to(torch.bfloat16)
    target = torch.zeros(257, 1, 1, dtype=torch.bfloat16)
    forecast = torch.ones_like(target)
    forecast[0] = 3.0
    metrics.start("test")
    metrics.add(
        "test",
        _batch(target, 1.0, 0.0),
        torch.tensor(0.0, dtype=torch.bfloat16),
        forecast,
        None,
    )
    assert metrics.overall_means("test")["test/mae"].item() == pytest.approx(259 / 257, rel=1e-6)


def test_set_dtype_casts_the_sums_of_the_metrics_as_asked():
    """torchmetrics' ``set_dtype`` is the one cast the sums follow: to float32, a mean loss sums in float32."""
    mean_loss = PassMetrics(horizon=1, target_size=1, levels=()).mean_loss("val")
    mean_loss.set_dtype(torch.float32)
    assert {value.dtype for value in mean_loss.metric_state.values()} == {torch.float32}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"hidden_size": True},
            "model.encoder.init_args.hidden_size=True is not a number; give one",
        ),
        (
            {"hidden_size": 4, "dropout": False},
            "model.encoder.init_args.dropout=False is not a number; give one",
        ),
        (
            {"hidden_size": 4, "bidirectional": 1},
            "model.encoder.init_args.bidirectional=1 is not a bool; give true or false",
        ),
        (
            {"hidden_size": 4, "layer_norm": 0},
            "model.encoder.init_args.layer_norm=0 is not a bool; give true or false",
        ),
    ],
)
def test_an_encoder_refuses_a_bool_for_a_number_and_a_number_for_a_flag_naming_the_key(options, message):
    """A YAML ``true`` is no size (it would build a hidden size of 1), and the CLI's ``1`` is no flag."""
    with pytest.raises(TypeError, match=re.escape(message)):
        GRUEncoder(input_size=2, **options)


def test_a_short_config_flag_and_its_value_apart_are_checked_for_linked_keys(tmp_path, monkeypatch):
    """``-c config.yaml`` (the value as the next argument, not joined as ``-cconfig.yaml``) is read as argparse reads
    it: its model's lookback is refused, naming the file and the data key to set, and nothing else."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("model:\n  lookback: 48\n")
    message = (
        "config.yaml sets model.lookback, which the CLI takes from the data: "
        "set data.lookback instead (--data.lookback 48)"
    )
    with pytest.raises(ValueError, match=re.escape(message) + "$"):  # no word of sizes it does not set
        check_linked_keys(["fit", "-c", "config.yaml"], ["fit"])
