import shlex

import optuna
import pytest

from forecast.search_space import SearchSpace
from forecast.study_results import write_results
from forecast.study_scoring import check_scored_on, scored_on
from forecast.study_storage import rdb_storage
from forecast.tune import main as tune_main
from forecast.tune import tune
from forecast.tune_args import TuneArgs, parse_args

HIDDEN = "model.encoder.init_args.hidden_size"


@pytest.mark.slow  # 3 s: it parses the config; test_a_space_that_samples_a_key_otherwise_... checks the same
def test_a_resumed_study_whose_space_adds_a_choice_is_refused_before_any_trial(tune_fit_args, tmp_path):
    """Optuna samples a key of one study one way only: such a rerun failed every new trial in its sampling and
    still exited without an error, as the study had a complete trial."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="resumed")
    distribution = optuna.distributions.CategoricalDistribution([4, 8])
    study.add_trial(optuna.trial.create_trial(params={HIDDEN: 4}, distributions={HIDDEN: distribution}, value=1.0))
    space = {HIDDEN: {"choice": [4, 8, 16]}}
    args = TuneArgs(space=space, n_trials=2, storage=url, study_name="resumed", run_dir=str(tmp_path))
    match = rf"--space: {HIDDEN}: the earlier trials of study 'resumed' sampled it as \{{choice: \[4, 8\]\}}, "
    with pytest.raises(ValueError, match=match + ".* or pass a new --study_name"):
        tune(args, tune_fit_args)
    assert len(study.trials) == 1


@pytest.mark.parametrize(
    "before, after, spec",
    [
        ({"choice": [4, 8]}, {"choice": [4, 8, 16]}, r"\{choice: \[4, 8\]\}"),
        ({"choice": [4, 8]}, {"int": [4, 8]}, r"\{choice: \[4, 8\]\}"),
        ({"int": [4, 8], "step": 2}, {"int": [4, 8], "log": True}, r"\{int: \[4, 8\], step: 2\}"),
        ({"float": [0.1, 1.0], "log": True}, {"float": [0.1, 1.0]}, r"\{float: \[0.1, 1.0\], log: true\}"),
    ],
)
def test_a_space_that_samples_a_key_otherwise_than_the_studys_trials_is_refused(before, after, spec):
    """The message every new trial of the rerun failed with was Optuna's, naming neither the key nor the fix."""
    study = optuna.create_study(study_name="resumed")
    SearchSpace({HIDDEN: before}).suggest(study.ask())
    with pytest.raises(ValueError, match=rf"--space: {HIDDEN}: .* study 'resumed' sampled it as {spec}, .* give it"):
        SearchSpace({HIDDEN: after}, "--space").check_study(study)


def test_a_resumed_study_may_change_a_range_or_its_step():
    study = optuna.create_study()
    SearchSpace({HIDDEN: {"int": [4, 8]}}).suggest(study.ask())
    SearchSpace({HIDDEN: {"int": [2, 32], "step": 2}}).check_study(study)


def draws(sampler: optuna.samplers.BaseSampler) -> list[float]:
    study = optuna.create_study(sampler=sampler)
    return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(4)]


def test_a_sampler_class_without_a_seed_is_seeded_with_the_study_seed():
    """The README's `sampler: {class_path: optuna.samplers.TPESampler}` sampled other trials on every run."""
    args, _, _ = parse_args(["--sampler", "optuna.samplers.RandomSampler", "--seed", "3"])
    assert draws(args.sampler) == draws(optuna.samplers.RandomSampler(seed=3))


def test_a_sampler_class_keeps_the_seed_its_init_args_name():
    args, _, _ = parse_args(["--sampler", "optuna.samplers.RandomSampler", "--sampler.init_args.seed", "5"])
    assert draws(args.sampler) == draws(optuna.samplers.RandomSampler(seed=5))


SCALED = {"class_path": "sklearn.preprocessing.StandardScaler", "init_args": {"with_mean": True}}


@pytest.mark.parametrize(
    "before, after, match",
    [
        (SCALED, None, r"data.scaling.scaler.class_path='sklearn.preprocessing.StandardScaler', this run with "
         r"data.scaling.scaler=None, .* pass --data.scaling.scaler.class_path sklearn.preprocessing.StandardScaler"),
        (None, SCALED, r"data.scaling.scaler=None, this run with data.scaling.scaler.class_path=.* pass "
         r"--data.scaling.scaler null"),
    ],
)  # fmt: skip
def test_a_rerun_whose_scaler_is_null_where_the_study_scaled_or_the_other_way_is_refused(before, after, match):
    """A study scored in scaled units resumed without scaling ranked trials of two units together."""
    study = optuna.create_study(study_name="scaled")
    check_scored_on(study, scored_on("val/loss", {"data": {"scaling": {"scaler": before}}}, set()), "memory")
    with pytest.raises(ValueError, match=rf"study 'scaled' in memory scores its trials with {match} to resume it"):
        check_scored_on(study, scored_on("val/loss", {"data": {"scaling": {"scaler": after}}}, set()), "memory")


def test_a_rerun_that_searches_the_scaler_it_held_fixed_is_taken():
    study = optuna.create_study(study_name="scaled")
    check_scored_on(study, scored_on("val/mse_orig", {"data": {"scaling": {"scaler": SCALED}}}, set()), "memory")
    searched = {"data.scaling.scaler"}
    check_scored_on(study, scored_on("val/mse_orig", {"data": {"scaling": {"scaler": None}}}, searched), "memory")


@pytest.mark.parametrize(
    "url, match",
    [
        ("study.db", "--storage 'study.db' is no database URL .* sqlite:///path/to/study.db"),
        ("journal:///study.log", "--storage 'journal:///study.log' is no database URL .* sqlite:///path/to/study.db"),
        ("sqlite:///{tmp}/missing/study.db", "--storage sqlite:///{tmp}/missing/study.db: the directory {tmp}/missing "
         "of the SQLite file does not exist; create it first"),
    ],
)  # fmt: skip
def test_a_storage_that_is_no_database_url_is_refused_naming_the_flag(url, match, tmp_path):
    """These raised SQLAlchemy's ArgumentError, NoSuchModuleError, or (after 6 s of retries) 'unable to open
    database file'."""
    with pytest.raises(ValueError, match=match.format(tmp=tmp_path)):
        rdb_storage(url.format(tmp=tmp_path), 60)


def test_a_when_condition_without_values_is_refused_naming_the_key():
    """The key was never sampled (nor checked against the config), silently."""
    space = {
        "model.encoder": {"choice": ["forecast.nn.GRUEncoder"]},
        "x": {"float": [0, 1], "when": {"model.encoder": []}},
    }
    with pytest.raises(ValueError, match="--space: x: `when` gives model.encoder no value, so the key would never"):
        SearchSpace(space, "--space")


def test_best_yaml_names_a_command_that_runs_from_directories_with_spaces(tmp_path, monkeypatch):
    """The header's `cd` and `--config` split at the spaces when pasted into a shell."""
    monkeypatch.setattr("forecast.study_results._write_plots", lambda study, run_dir: [])  # 1.5 s, not under test
    cwd, run_dir = tmp_path / "my data", tmp_path / "my runs"
    best = optuna.trial.create_trial(value=0.5, user_attrs={"cwd": str(cwd)})
    study = optuna.create_study(study_name="spaces")
    study.add_trial(best)
    write_results(study, run_dir, study.best_trial, "seed_everything: 0\n")
    command = (run_dir / "best.yaml").read_text().splitlines()[1].removeprefix("#")
    assert shlex.split(command) == ["cd", str(cwd), "&&", "python", "-m", "forecast", "fit", "--config",
                                    str(run_dir / "best.yaml")]  # fmt: skip


def test_a_spec_that_is_no_mapping_is_refused_naming_its_key_and_the_form(tmp_path):
    """jsonargparse refused it first, with `Parser key "space": Expected a <class 'dict'>` and exit status 2."""
    search = tmp_path / "search.yaml"
    search.write_text("space:\n  model.optimizer.init_args.lr: [1.0e-4, 1.0e-2]\n")
    match = (
        rf"{search}: model.optimizer.init_args.lr: expected a mapping like \{{int: \[1, 8\]\}}, got \[0.0001, 0.01\]"
    )
    with pytest.raises(ValueError, match=match):
        tune_main(["--search", str(search), "--run_dir", str(tmp_path)])
