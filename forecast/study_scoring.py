"""What the trials of a study must share to rank: the settings that decide what a validation score measures,
the checks of a search space against them, and of a resumed study against the settings it was scored on."""

import json
from typing import Any

import optuna

__all__ = [
    "BATCHED", "SCORED", "TARGET_SCALING", "UNRANKED", "check_ranked", "check_scored_on", "cli_value", "scored_on",
]  # fmt: skip

# The settings that decide which windows validation scores, in which units, and when (the steps the pruner compares):
# the trials of a study compare only under one value of each (and of --metric), so a rerun with another is refused.
SCORED = ("data.source", "data.horizon", "data.split", "data.columns", "data.series", "data.scaling",
          "data.eval_stride", "trainer.limit_val_batches", "trainer.val_check_interval",
          "trainer.check_val_every_n_epoch")  # fmt: skip
# Under a count of validation batches (an int ``trainer.limit_val_batches``), the windows a batch holds decide which
# windows are scored too.
BATCHED = ("data.batch_size", "data.batch_channels")
# The SCORED settings a space may not search, as the values of trials that differ in one do not rank: why not.
_OTHER_WINDOWS = "it changes which validation windows a trial is scored on, and scores of other windows do not rank"
_OTHER_SCHEDULE = (
    "it changes when a trial validates: one validated more often has more chances at a best score, and the "
    "pruner compares trials validation by validation"
)
UNRANKED = {
    "data.source": "trials of other data score other windows, whose errors do not rank; run one study per "
    "--data.source",
    "data.horizon": "trials of other horizons forecast other lengths, whose errors do not rank (a longer horizon "
    "scores worse); run one study per --data.horizon",
    "data.split": _OTHER_WINDOWS,
    "data.eval_stride": _OTHER_WINDOWS,
    "data.series": _OTHER_WINDOWS,
    "data.columns.targets": "trials forecasting other targets have errors that do not rank",
    "trainer.limit_val_batches": _OTHER_WINDOWS,
    "trainer.val_check_interval": _OTHER_SCHEDULE,
    "trainer.check_val_every_n_epoch": _OTHER_SCHEDULE,
}
# The SCORED settings that scale the targets: searchable only with a metric in original units (``val/..._orig``),
# since they change the units of every other metric.
TARGET_SCALING = ("data.scaling.scaler", "data.scaling.per_series")


def check_ranked(searched: set[str], metric: str, source: str, config: dict[str, Any] | None = None) -> None:
    """Refuses a search of a setting under which the trials' ``metric`` values do not rank (``UNRANKED``; under a
    count of validation batches in ``config``, also ``BATCHED``), of the loss with ``--metric val/loss`` (each loss's
    value is in its own units), or of the targets' scaling (``TARGET_SCALING``) unless ``metric`` is in original units.

    Raises:
        ValueError: naming the key, why its trials do not rank, and what to do instead.
    """
    for key in sorted(searched):
        unranked = [setting for setting in UNRANKED if _under(key, (setting,))]
        if unranked:
            raise ValueError(f"{source}: {key!r} may not be searched: {UNRANKED[unranked[0]]}")
        if _under(key, BATCHED) and _counted_batches(config):
            raise ValueError(
                f"{source}: {key!r} may not be searched with trainer.limit_val_batches="
                f"{_counted_batches(config)}: a count of batches scores as many windows as they hold, so "
                f"{_OTHER_WINDOWS}; give trainer.limit_val_batches as a fraction (1.0: every window)"
            )
        if _under(key, ("model.loss",)) and metric == "val/loss":
            raise ValueError(
                f"{source}: {key!r} may not be searched with --metric val/loss: each loss's val/loss is in its own "
                "units (a pinball loss against a squared error) and the values do not rank; search it with a metric "
                "every loss logs alike, e.g. --metric val/mse or val/mae"
            )
        if _under(key, TARGET_SCALING) and not metric.endswith("_orig"):
            raise ValueError(
                f"{source}: {key!r} may not be searched with --metric {metric}: it scales the targets, so each trial's "
                f"{metric} is in its own units and the values do not rank; search it with a metric in original "
                "units, e.g. --metric val/mse_orig"
            )


def _under(key: str, settings: tuple[str, ...]) -> bool:
    """Whether dotted ``key`` is one of ``settings`` or lies under one."""
    return any(key == setting or key.startswith(f"{setting}.") for setting in settings)


def _counted_batches(config: dict[str, Any] | None) -> int | None:
    """``config``'s ``trainer.limit_val_batches`` where it is a count of batches (an int), else ``None``."""
    limit = ((config or {}).get("trainer") or {}).get("limit_val_batches")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def scored_on(metric: str, config: dict[str, Any], searched: set[str]) -> dict[str, Any]:
    """What a trial's value measures: ``metric`` and each ``SCORED`` setting of ``config`` (dotted key ->
    value, as the storage keeps it) that no ``searched`` key sets; under a count of validation batches also
    ``BATCHED``, and under ``val/loss`` the loss, whose units it is in."""
    settings = {"metric": metric}
    scored = SCORED + (BATCHED if _counted_batches(config) else ()) + (("model.loss",) if metric == "val/loss" else ())
    for key in scored:
        group, name = key.split(".")
        settings |= _leaves((config.get(group) or {}).get(name), key)
    unsearched = {
        key: value
        for key, value in settings.items()
        if not any(key == other or key.startswith(f"{other}.") for other in searched)
    }
    return json.loads(json.dumps(unsearched, default=str))


def check_scored_on(study: optuna.Study, scored: dict[str, Any], url: str) -> None:
    """Records what the trials of a new study are scored by (``scored_on``), and refuses to run trials of a
    study on other settings: a rerun with another ``--data.horizon`` would rank two horizons' losses together.

    Raises:
        ValueError: ``scored`` differs from the study's record, naming the setting and the flag that resumes it.
    """
    recorded = study.user_attrs.get("scored_on")
    if recorded is None:  # a new study (or one of an older version, which recorded none)
        study.set_user_attr("scored_on", scored)
        return
    for key, value in recorded.items():
        # this run's value of the setting: its own key, or one above or below it where the setting changed shape
        # (a scaler of null where the study's had a class_path)
        ours = [(other, scored[other]) for other in scored if _related(key, other)]
        # as JSON: 1 and 1.0 are equal in Python, yet Lightning reads one as a count of batches, the other a share
        if ours and (ours[0][0], json.dumps(ours[0][1])) != (key, json.dumps(value)):
            flag = "--metric" if key == "metric" else f"--{key}"
            this_run = f"{ours[0][1]!r}" if ours[0][0] == key else f"{ours[0][0]}={ours[0][1]!r}"
            raise ValueError(
                f"study {study.study_name!r} in {url} scores its trials with {key}={value!r}, this run with "
                f"{this_run}, and their values do not compare; pass {flag} {cli_value(value)} to resume it, or a new "
                "--study_name for these settings"
            )


def _related(key: str, other: str) -> bool:
    """Whether dotted keys ``key`` and ``other`` are one, or one lies under the other."""
    return key == other or other.startswith(f"{key}.") or key.startswith(f"{other}.")


def _leaves(node: Any, path: str) -> dict[str, Any]:
    """The dotted paths under ``path`` of every value of ``node`` that is no mapping (or an empty one)."""
    if not isinstance(node, dict) or not node:
        return {path: node}
    return {leaf: value for key, child in node.items() for leaf, value in _leaves(child, f"{path}.{key}").items()}


def cli_value(value: Any) -> str:
    """A value as the CLI reads it: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
