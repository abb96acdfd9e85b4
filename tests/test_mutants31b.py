"""Tests that fail under small, realistic mutations of the metrics, callbacks, report, tuning, data set and partition
code that the rest of the default suite let pass (hand mutation testing, round 3)."""

import functools
import json
import os
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import optuna
import pytest
import torch
from lightning.fabric.utilities.seed import max_seed_value
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from forecast import callbacks
from forecast.callbacks import RandomStateCheckpoint, ResumableModelCheckpoint, SameCheckpointCheck
from forecast.checkpointing import read_checkpoint
from forecast.datasets.download import record, recorded_sha256
from forecast.metrics import HorizonMetrics, IntervalCoverage, interval_coverage
from forecast.model import Forecaster
from forecast.monitors import check_monitors
from forecast.optimization import optimization
from forecast.partition import checkpoint_path
from forecast.reports import EvaluationReport, _json_safe, _spaced
from forecast.search_space import SearchSpace
from forecast.study_results import trials_table
from forecast.study_scoring import scored_on
from forecast.study_trials import TrialFits, check_keeps_checkpoint, check_tune_sets, trial_seed


def test_interval_coverage_refuses_one_column_as_both_bounds():
    """An interval needs two columns: the same column as both bounds (by two spellings too) is refused, not scored
    as the share of targets equal to that quantile."""
    preds = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    target = torch.tensor([1.0, 1.0])
    for lower, upper in [(1, 1), (2, -1), (0, -3)]:
        with pytest.raises(ValueError, match="must come before"):
            interval_coverage(preds, target, lower_index=lower, upper_index=upper)


def test_interval_coverage_takes_the_lowest_column_by_its_negative_index():
    """``-Q`` names the lowest of Q columns, as in Python's indexing: it gives the coverage of column 0."""
    preds = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    target = torch.tensor([-1.0, 0.0, 0.5, 1.5])
    expected = torch.tensor(0.5)  # 0.0 and 0.5 lie in [0, 1]
    torch.testing.assert_close(interval_coverage(preds, target, lower_index=-3, upper_index=1), expected)
    metric = IntervalCoverage(lower_index=-3, upper_index=-2)
    metric.update(preds, target)
    torch.testing.assert_close(metric.compute(), expected)


def test_horizon_metrics_of_one_quantile_level_give_its_pinball_loss_and_no_coverage():
    """A median alone (one level) has no interval: no coverage, and the pinball loss is half the absolute error."""
    forecast = torch.tensor([[[1.0], [2.0]], [[0.0], [4.0]]])  # (B=2, H=2, C=1)
    target = torch.tensor([[[2.0], [2.0]], [[1.0], [1.0]]])
    metric = HorizonMetrics(horizon=2, target_size=1, levels=[0.5])
    metric.update(forecast, target, quantiles=forecast.unsqueeze(-1))
    overall = metric.overall()
    assert "coverage" not in overall
    expected = 0.5 * (forecast - target).abs().mean().item()  # 0.5 * (1 + 0 + 1 + 3) / 4
    assert overall["pinball"].item() == pytest.approx(expected)
    assert overall["crps"].item() == pytest.approx(2 * expected)


def test_random_state_of_an_unseeded_run_clears_the_seed_of_the_resuming_process(monkeypatch):
    """A run that was not seeded resumes unseeded: the resuming process's own seed (``seed_everything`` sets
    ``PL_GLOBAL_SEED``) would otherwise seed the resumed samplers as the saved run's never were."""
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    saved = RandomStateCheckpoint().state_dict()
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    RandomStateCheckpoint().load_state_dict(saved)
    assert "PL_GLOBAL_SEED" not in os.environ


class _Scored(L.LightningModule):
    """One linear layer under SGD whose ``val/loss`` at epoch e is ``scores[e]``; with ``plateau_every`` a per-epoch
    ReduceLROnPlateau (patience 0) steps on it every that many epochs."""

    def __init__(self, scores: list[float], plateau_every: int = 0):
        super().__init__()
        self.layer, self.scores, self.plateau_every = torch.nn.Linear(2, 1), scores, plateau_every

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", self.scores[self.current_epoch])

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        if not self.plateau_every:
            return optimizer
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
        schedule = {"scheduler": plateau, "monitor": "val/loss", "frequency": self.plateau_every}
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def _fit_scored(model: L.LightningModule, max_epochs: int, ckpt_path: Path | None = None, **options) -> L.Trainer:
    """A fit of ``model`` on two batches an epoch under a ResumableModelCheckpoint of ``val/loss``."""
    checkpoint = ResumableModelCheckpoint(monitor="val/loss", save_last=True)
    trainer = L.Trainer(max_epochs=max_epochs, callbacks=[checkpoint], enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, **options)  # fmt: skip
    loader = torch.utils.data.DataLoader(torch.ones(4, 2), batch_size=2)
    trainer.fit(model, loader, loader, ckpt_path=ckpt_path)
    return trainer


def test_a_fit_resumed_after_a_validating_epoch_takes_its_plateau_step_every_other_epoch(tmp_path):
    """Validating every other epoch, the plateau scheduler steps after epochs 1, 3, 5; a fit resumed from the
    checkpoint of epoch 3 (written before that epoch's step) takes the step, and ends at the learning rate of one
    never stopped: cut after epochs 3 and 5, to 1e-3."""
    scores = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    options = {"logger": False, "check_val_every_n_epoch": 2}
    whole = _fit_scored(_Scored(scores, 2), 6, default_root_dir=tmp_path / "whole", **options)
    _fit_scored(_Scored(scores, 2), 4, default_root_dir=tmp_path / "parts", **options)
    last = tmp_path / "parts" / "checkpoints" / "last.ckpt"
    parts = _fit_scored(_Scored(scores, 2), 6, last, default_root_dir=tmp_path / "parts", **options)
    assert whole.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3)
    assert parts.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3)


def test_a_fit_resumed_into_a_new_run_folder_keeps_the_best_score_of_the_epochs_before(tmp_path):
    """Resumed under a logger, the fit writes into version_1; its best checkpoint is still epoch 0's (the lowest
    val/loss), not the first epoch after the resume, whose score is worse."""
    scores = [1.0, 2.0, 3.0, 4.0]
    _fit_scored(_Scored(scores), 2, logger=CSVLogger(tmp_path, name="run"))
    last = tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt"
    trainer = _fit_scored(_Scored(scores), 4, last, logger=CSVLogger(tmp_path, name="run"))
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "run" / "version_1" / "checkpoints")
    assert trainer.checkpoint_callback.best_model_score.item() == pytest.approx(1.0)
    assert Path(trainer.checkpoint_callback.best_model_path).name == "epoch=0-step=2.ckpt"


def test_same_checkpoint_check_of_one_process_raises_why_it_found_no_checkpoint():
    """Alone, a process that found no ``--ckpt_path`` file has no other to wait for: it raises its own error."""
    check = SameCheckpointCheck(None, missing="checkpoint 'runs/last.ckpt' does not exist")
    with pytest.raises(FileNotFoundError, match="checkpoint 'runs/last.ckpt' does not exist"):
        check.setup(L.Trainer(logger=False, enable_progress_bar=False), None, "fit")


def test_a_checkpoint_of_another_minor_version_of_the_same_major_reads(tmp_path):
    """Only the major version must match: a checkpoint of major.7.3 reads in this forecast, one of major + 1 does
    not."""
    ours = version("forecast").split(".")[0]
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "forecast_version": f"{ours}.7.3"}, path)
    assert read_checkpoint(path, Forecaster)["hyper_parameters"] == {}
    torch.save({"state_dict": {}, "hyper_parameters": {}, "forecast_version": f"{int(ours) + 1}.0.0"}, path)
    with pytest.raises(ValueError, match=f"incompatible with this forecast {version('forecast')}"):
        read_checkpoint(path, Forecaster)


def test_a_seed_ensembles_checkpoint_reads_with_one_record_per_other_member(tmp_path):
    """An ensemble of 3 keeps the hyperparameters of its 2 other members: that reads, a third record is refused."""
    path = tmp_path / "ensemble.ckpt"
    checkpoint = {"state_dict": {}, "hyper_parameters": {}, "forecast_version": version("forecast")}
    torch.save(checkpoint | {"ensemble_members": 3, "ensemble_hyper_parameters": [{}, {}]}, path)
    assert read_checkpoint(path, Forecaster)["ensemble_members"] == 3
    torch.save(checkpoint | {"ensemble_members": 3, "ensemble_hyper_parameters": [{}, {}, {}]}, path)
    with pytest.raises(ValueError, match="not those of its 2 other members"):
        read_checkpoint(path, Forecaster)


def test_a_checkpoint_with_a_flipped_byte_in_a_weight_is_refused_not_loaded(tmp_path):
    """torch's reader skips the archive's checksums and would load the damaged weight; the checksums refuse it."""
    path = tmp_path / "model.ckpt"
    weight = torch.full((64,), 1.5)
    torch.save({"state_dict": {"w": weight}, "hyper_parameters": {}, "forecast_version": version("forecast")}, path)
    data = bytearray(path.read_bytes())
    start = data.index(weight.numpy().tobytes())
    data[start + 2] ^= 0x01  # 1.5 -> 1.5000076
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="fails its checksum"):
        read_checkpoint(path, Forecaster)


@pytest.mark.parametrize(("total", "count", "expected"), [(10, 3, {0, 4, 9}), (5, 5, {0, 1, 2, 3, 4}), (2, 3, {0, 1})])
def test_plotted_windows_run_from_the_first_to_the_last_window(total, count, expected):
    """``forecast.png`` draws ``num_plots`` windows spread over the test windows, the first and the last among them;
    never a window number past the last, which would draw one window fewer."""
    assert _spaced(total, count) == expected


def test_metrics_json_writes_an_infinite_metric_as_null():
    """A diverged model's MSE is inf, which Python's json writes as ``Infinity``: no standard JSON reader (jq,
    JavaScript) reads that, so it is null as a NaN is."""
    report = {"metrics": {"mse": float("inf"), "mae": float("-inf"), "rmse": 2.0}, "by_target": [{"mse": float("nan")}]}
    text = json.dumps(_json_safe(report), allow_nan=False)
    assert json.loads(text) == {"metrics": {"mse": None, "mae": None, "rmse": 2.0}, "by_target": [{"mse": None}]}


def test_a_report_after_a_failed_test_counts_its_passes_afresh():
    """A report of two passes (a backtest's two refits) whose test failed after one pass: the next test writes after
    both of its own passes, with their windows only, not after its first pass with the failed test's windows."""
    report = EvaluationReport(num_plots=0, passes=2)
    written = []
    report._write = lambda trainer, module: written.append(int(report.tables["scaled"].windows))
    trainer = SimpleNamespace(datamodule=None, test_dataloaders=SimpleNamespace(dataset=[0] * 4))
    module = SimpleNamespace(loss=SimpleNamespace(levels=()))

    def test_pass(windows: int) -> None:
        module.metrics = {name: HorizonMetrics(1, 1) for name in ("test", "test_orig")}
        for metric in module.metrics.values():
            metric.update(torch.zeros(windows, 1, 1), torch.ones(windows, 1, 1))
        report.on_test_start(trainer, module)
        report.on_test_end(trainer, module)

    test_pass(3)
    report.on_exception(trainer, module, RuntimeError("the second refit failed"))
    test_pass(5)
    assert written == []
    test_pass(7)
    assert written == [12]


def test_an_optimizer_given_numpy_numbers_in_a_tuple_saves_a_checkpoint_that_loads_without_code(tmp_path):
    """``betas=(np.float64(0.9), 0.999)`` (from a NumPy grid): the optimizer's state keeps Python numbers, which
    ``torch.load(weights_only=True)`` reads, not NumPy objects it refuses."""
    factory = functools.partial(torch.optim.Adam, lr=np.float64(1e-3), betas=(np.float64(0.9), np.float64(0.999)))
    optimizer = optimization(factory, None, torch.nn.Linear(2, 1).parameters(), "epoch", "val/loss", None)
    assert [type(beta) for beta in optimizer.param_groups[0]["betas"]] == [float, float]
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    loaded = torch.load(tmp_path / "optimizer.pt", weights_only=True)
    assert loaded["param_groups"][0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("monitor", ["epoch", "step"])
def test_a_checkpoint_may_monitor_the_epoch_or_step_that_lightning_adds(monitor):
    """Lightning's ModelCheckpoint adds ``epoch`` and ``step`` to what it may monitor (keep the newest files): not
    refused as a metric the fit never logs."""
    checkpoint = ModelCheckpoint(monitor=monitor, mode="max")
    check_monitors([checkpoint], Forecaster(4, 2, 1, 1), checkpoint)
    typo = ModelCheckpoint(monitor="val/mse_typo")
    with pytest.raises(ValueError, match="checkpoint.monitor 'val/mse_typo' is no metric"):
        check_monitors([typo], Forecaster(4, 2, 1, 1), typo)


class _TwoProcesses:
    """``torch.distributed`` as rank 0 of two processes sees it, the other process holding ``other``."""

    def __init__(self, other):
        self.other = other

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def get_world_size(self):
        return 2

    def get_rank(self):
        return 0

    def gather_object(self, obj, object_gather_list, dst=0):
        object_gather_list[:] = [obj, self.other]


def test_gathered_windows_are_each_kept_once_in_key_order(monkeypatch):
    """A window two processes hold (DistributedSampler pads a share by repeating windows) is written once, and the
    windows come in (series, time) order, whatever process held them."""
    mine = {"series": np.array([1, 0]), "time": np.array([5, 3]), "forecast": np.array([10.0, 20.0])}
    other = {"series": np.array([0, 2]), "time": np.array([3, 1]), "forecast": np.array([20.0, 30.0])}
    monkeypatch.setattr(callbacks, "dist", _TwoProcesses(other))
    gathered = callbacks.gather_windows(mine, ("series", "time"))
    np.testing.assert_array_equal(gathered["series"], [0, 1, 2])
    np.testing.assert_array_equal(gathered["time"], [3, 5, 1])
    np.testing.assert_array_equal(gathered["forecast"], [20.0, 10.0, 30.0])


def test_trial_seeds_count_up_from_the_study_seed_and_wrap_to_zero_past_the_largest():
    """Trial N of a study of seed s fits with seed s + N; past Lightning's largest seed it goes on from 0, so the
    largest seed itself is a trial's seed and no two of the next trials share one."""
    assert [trial_seed(5, number) for number in range(3)] == [5, 6, 7]
    assert [trial_seed(max_seed_value - 1, number) for number in range(3)] == [max_seed_value - 1, max_seed_value, 0]


def test_trials_failed_from_this_runs_first_trial_on_count_towards_n_trials():
    """A rerun of a study whose trials 0 and 1 failed in an earlier run starts at trial 2: its own failures, from
    trial 2 itself on, count towards n_trials; the earlier run's do not."""
    study = optuna.create_study()
    for _ in range(4):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    fits = TrialFits(space=None, args=None, fit_args=[], run_dir=Path("run"), tracking=None, run_start=2)
    assert fits.spent(study.trials) == 2


def test_a_fit_flag_may_give_the_root_of_tunes_run_directories_but_not_a_key_tune_sets():
    """``--trainer.default_root_dir`` on tune's command line is the root its trials' folders go under: not refused
    as a key tune sets, as ``--seed_everything`` is."""
    check_tune_sets(set(), ["--trainer.default_root_dir", "runs", "--trainer.max_epochs=2"], "tune")
    with pytest.raises(ValueError, match="--seed_everything is set by tune in every trial; drop it and use --seed"):
        check_tune_sets(set(), ["--seed_everything=3"], "tune")


def test_a_config_keeping_no_checkpoint_is_refused_where_the_space_leaves_save_top_k_unset():
    """A space that does not search ``checkpoint.save_top_k`` leaves every trial the config's 0: no checkpoint of
    the validation its score is, so refused before any trial runs."""
    space = SearchSpace({"model.optimizer.init_args.lr": {"float": [1e-4, 1e-2], "log": True}})
    check_keeps_checkpoint(space, {"checkpoint": {"save_top_k": 1}}, "search.yaml")
    with pytest.raises(ValueError, match="checkpoint.save_top_k is 0 in the config .* so every trial keeps no"):
        check_keeps_checkpoint(space, {"checkpoint": {"save_top_k": 0}}, "search.yaml")


def test_a_study_with_a_trial_still_running_elsewhere_is_not_reported_as_tuning_nothing(tmp_path):
    """Another process's trial may still complete: a failed trial here is no reason to say nothing was tuned."""
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    fits = TrialFits(space=None, args=None, fit_args=[], run_dir=tmp_path, tracking=None)
    study.ask()  # running, in another process
    fits.check_completed(study)
    study.tell(1, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(ValueError, match="no trial of study .* completed \\(2 failed\\): nothing was tuned"):
        fits.check_completed(study)


def test_what_a_trial_is_scored_on_leaves_out_the_settings_under_a_searched_key():
    """A searched scaler (``data.scaling.scaler``) differs between trials: its class path and arguments, the leaves
    under it, are no setting a rerun must keep, while the unsearched ``per_series`` is."""
    config = {"data": {"horizon": 6, "scaling": {"scaler": {"class_path": "sklearn.preprocessing.RobustScaler",
              "init_args": {"with_centering": True}}, "per_series": True}}}  # fmt: skip
    scored = scored_on("val/mse_orig", config, {"data.scaling.scaler"})
    assert scored["data.horizon"] == 6 and scored["data.scaling.per_series"] is True
    assert [key for key in scored if key.startswith("data.scaling.scaler")] == []


def test_an_empty_setting_is_recorded_as_what_a_trial_is_scored_on():
    """An empty ``data.scaling`` (no scaler options) is a setting too: recorded, so that a rerun with a scaler is
    compared with it rather than finding nothing recorded."""
    scored = scored_on("val/loss", {"data": {"horizon": 6, "scaling": {}}}, set())
    assert scored["data.scaling"] == {} and scored["data.horizon"] == 6


def test_trials_csv_gives_a_trial_that_has_not_finished_a_fit_zero_epochs():
    """A running trial has recorded no epochs yet: 0 in ``trials.csv``, not an empty cell."""
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs={"epochs": 2.5}))
    study.ask()
    assert trials_table(study)["epochs"].tolist() == [2.5, 0.0]


def test_a_range_searching_save_top_k_from_zero_is_refused():
    """``{int: [0, 3]}`` may draw its low end, 0: a trial that keeps no checkpoint of its score."""
    space = SearchSpace({"checkpoint.save_top_k": {"int": [0, 3]}})
    with pytest.raises(ValueError, match="'checkpoint.save_top_k' may be 0 in a trial"):
        check_keeps_checkpoint(space, {}, "search.yaml")


def test_a_log_range_from_zero_is_refused_naming_the_key():
    """A log scale has no 0: refused when the space is read, not by Optuna in the first trial."""
    with pytest.raises(ValueError, match=r"search.yaml: model.optimizer.init_args.lr: need low <= high and low > 0"):
        SearchSpace({"model.optimizer.init_args.lr": {"float": [0, 0.1], "log": True}}, "search.yaml")


def test_two_entries_may_set_one_key_only_under_conditions_that_exclude_each_other():
    """Entries gated on different encoders never meet in a trial, so both may set ``shared``; gated on the same
    encoder they would give it two values, and are refused."""

    def space(b_when: str) -> SearchSpace:
        return SearchSpace({
            "model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.SRUEncoder"]},
            "a": {"int": [1, 4], "when": {"model.encoder": "forecast.nn.GRUEncoder"}, "also": ["shared"]},
            "b": {"int": [1, 4], "when": {"model.encoder": b_when}, "also": ["shared"]},
        })  # fmt: skip

    space("forecast.nn.SRUEncoder")  # no trial samples both
    with pytest.raises(ValueError, match="'shared' is also set by 'a'"):
        space("forecast.nn.GRUEncoder")


def test_a_sampled_value_overrides_its_also_keys_too():
    """SegRNN's segment length on both sides of the model: one sampled value, two CLI keys."""
    space = SearchSpace(
        {"model.embedding.init_args.seg_len": {"choice": [24, 48], "also": ["model.head.init_args.seg_len"]}}
    )
    overrides = space.overrides({"model.embedding.init_args.seg_len": 48})
    assert overrides == {"model.embedding.init_args.seg_len": 48, "model.head.init_args.seg_len": 48}


def test_the_registrys_hash_of_a_data_set_outranks_one_recorded_beside_its_file(tmp_path):
    """A file whose hash the project records is checked against that, whatever a record beside it says; a file
    without one is checked against its record."""
    path = tmp_path / "ETTh1.csv"
    record(path, "https://example.org/ETTh1.csv", "b" * 64)
    assert recorded_sha256(path, "a" * 64) == "a" * 64
    assert recorded_sha256(path, None) == "b" * 64


def test_a_file_url_of_a_checkpoint_not_yet_written_names_its_path():
    """``file:`` URLs are how Spark names files: one of a missing file is its path (whose load then says the file
    does not exist), not refused as a URL of a scheme forecast cannot read."""
    assert checkpoint_path("file:///no/such/folder/model.ckpt") == Path("/no/such/folder/model.ckpt")
    with pytest.raises(ValueError, match="is a s3: URL"):
        checkpoint_path("s3://bucket/model.ckpt")
