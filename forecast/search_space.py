"""The search space of ``forecast tune``: ranges and choices over the CLI's own dotted keys.

Each entry of the ``space`` mapping is a key that ``fit`` takes on its command line, with one of
three forms and two optional modifiers::

    model.encoder.init_args.hidden_size: {int: [64, 512], log: true}
    model.optimizer.init_args.lr: {float: [1.0e-4, 1.0e-2], log: true}
    model.encoder: {choice: [forecast.nn.GRUEncoder, forecast.nn.SRUEncoder]}
    model.encoder.init_args.highway_bias: {float: [-3, 0], when: {model.encoder: forecast.nn.SRUEncoder}}
    model.embedding.init_args.seg_len: {choice: [24, 48], also: [model.head.init_args.seg_len]}

``int`` and ``float`` take ``[low, high]`` (finite, both included), ``log`` (true or false) and ``step``
(a positive grid spacing that divides ``high - low``, an integer for ``int``; with ``log`` only an
``int``'s step 1); ``choice`` takes values (numbers, strings such as class paths, booleans, null).
``when`` makes a key conditional: it is sampled only in trials where each named choice took one of
the given values, which is how a key that exists for one encoder only enters the space. ``also``
gives other keys the same value (SegRNN's segment length on both sides of the model). Values are
sampled by Optuna's ``trial.suggest_*``.
"""

import difflib
import itertools
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import optuna
from jsonargparse import get_loader

__all__ = ["Param", "SearchSpace"]

_KINDS = ("int", "float", "choice")
_OPTIONS = {"int": {"log", "step"}, "float": {"log", "step"}, "choice": set()}


@dataclass(frozen=True)
class Param:
    """One key of the space: what Optuna samples, and in which trials.

    Args:
        key: the CLI key, e.g. ``model.optimizer.init_args.lr``; also Optuna's parameter name.
        kind: ``int``, ``float`` or ``choice``.
        bounds: ``(low, high)`` for ``int`` and ``float``; empty for ``choice``.
        choices: the values of a ``choice``; empty otherwise.
        log: sample ``int``/``float`` on a log scale.
        step: the grid spacing of an ``int``/``float``, or ``None`` for none.
        when: choice key -> the values for which this key is sampled; empty: always.
        also: other CLI keys that get the same value.
    """

    key: str
    kind: str
    bounds: tuple[float, ...] = ()
    choices: tuple[Any, ...] = ()
    log: bool = False
    step: float | None = None
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    also: tuple[str, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        """This key's value for ``trial``, drawn by Optuna."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        suggest = trial.suggest_int if self.kind == "int" else trial.suggest_float
        return suggest(self.key, *self.bounds, log=self.log, **({"step": self.step} if self.step else {}))

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The distribution that ``suggest`` draws from, as Optuna records it on the trial."""
        if self.kind == "choice":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(*self.bounds, log=self.log, step=self.step or 1)
        return optuna.distributions.FloatDistribution(*self.bounds, log=self.log, step=self.step)

    def may_take(self, value: float) -> bool:
        """Whether a trial may sample ``value``: one of the choices, or a point of the range (on its ``step`` grid)."""
        if self.kind == "choice":
            return value in self.choices
        low, high = self.bounds
        on_grid = self.step is None or (Decimal(str(value)) - Decimal(str(low))) % Decimal(str(self.step)) == 0
        return low <= value <= high and on_grid

    def contexts(self) -> list[dict[str, Any]]:
        """Every combination of condition values under which this key is sampled (``[{}]``: always)."""
        keys = list(self.when)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(self.when[key] for key in keys))]


class SearchSpace:
    """The parameters of a study, ordered so that every condition is sampled before the keys it gates.

    Args:
        space: CLI key -> its spec, as in the module docstring (the ``space`` mapping of a search YAML).
        source: where ``space`` came from (a file name), named in every error.

    Raises:
        ValueError: ``space`` is empty or no mapping, a spec names no kind or two, a bad range or
            option, a ``when`` key that is not an unconditional ``choice`` of the space or a value that
            choice does not offer, or a key that two entries set (one's own key or ``also``) in the same trial.
    """

    def __init__(self, space: Mapping[str, Mapping[str, Any]], source: str = "the search space"):
        if space and not isinstance(space, Mapping):
            raise ValueError(f"{source}: `space` takes a mapping of CLI keys to specs, got {space!r}; e.g. "
                             "`model.optimizer.init_args.lr: {float: [1.0e-4, 1.0e-2], log: true}`")  # fmt: skip
        if not space:
            raise ValueError(f"{source}: `space` is empty; give at least one key, e.g. "
                             "`model.optimizer.init_args.lr: {float: [1.0e-4, 1.0e-2], log: true}`")  # fmt: skip
        self.source = source
        params = [_parse_param(key, spec, source) for key, spec in space.items()]
        by_key = {param.key: param for param in params}
        for param in params:
            for key, values in param.when.items():
                parent = by_key.get(key)
                if parent is None or parent.kind != "choice" or parent.when:
                    raise ValueError(
                        f"{source}: {param.key}: `when` names {key!r}, which is not an unconditional "
                        "`choice` of the space; add it as `{choice: [...]}` without `when`"
                    )
                if missing := [value for value in values if not _among(value, parent.choices)]:
                    raise ValueError(
                        f"{source}: {param.key}: `when` value(s) {missing} are not choices of {key}; give values "
                        f"among its choices {list(parent.choices)}"
                    )
        setters: dict[str, list[Param]] = {}  # every key the space sets, with the entries that set it
        for param in params:
            for key in (param.key, *param.also):
                clash = [other.key for other in setters.setdefault(key, []) if not _exclusive(param, other)]
                if clash:
                    raise ValueError(
                        f"{source}: {param.key}: {key!r} is also set by {clash[0]!r}, and a key takes one value a "
                        "trial; drop it from one of them (or give them `when` conditions that exclude each other)"
                    )
                setters[key].append(param)
        self.params = sorted(params, key=lambda param: bool(param.when))  # conditions first, stable otherwise

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SearchSpace":
        """The ``space`` mapping of a search YAML file (the file may hold other tune options too), read as
        ``tune --search`` reads it (``1e-4`` is a number, which PyYAML alone reads as text)."""
        document = get_loader("yaml")(Path(path).read_text()) or {}
        if not isinstance(document, Mapping):
            raise ValueError(f"{path}: expected a mapping with a `space` key, got {document!r}")
        return cls(document.get("space", {}), source=str(path))

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's values of the keys active in it (a conditional key only when its condition holds)."""
        values: dict[str, Any] = {}
        for param in self.params:
            if all(key in values and _among(values[key], allowed) for key, allowed in param.when.items()):
                values[param.key] = param.suggest(trial)
        return values

    def overrides(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """CLI key -> value for sampled ``values``, with each ``also`` key set as its parameter (a key
        the space no longer has, from an older trial of a study, is set alone)."""
        also = {param.key: param.also for param in self.params}
        return {key: value for name, value in values.items() for key in (name, *also.get(name, ()))}

    def check_keys(self, config_keys: Callable[[dict[str, Any]], Collection[str]]) -> None:
        """Checks every key against the config's keys before a trial runs.

        A conditional key is checked in the config where its condition holds; every string choice
        (a class path, say) is checked by parsing the config with it, under its key's condition too
        (a key that exists for one class only takes its values in that class's config), and so are the
        keys sampled along with that choice (an unconditional ``init_args`` key that one class lacks).

        Args:
            config_keys: CLI key -> value overrides to the dotted keys of the config they give; it
                raises ValueError (naming the override) when the config does not parse.

        Raises:
            ValueError: naming the key, the file and the nearest valid key.
        """
        checks: dict[tuple[tuple[str, Any], ...], list[str]] = {}
        for param in self.params:
            for context in param.contexts():
                checks.setdefault(tuple(context.items()), []).extend([param.key, *param.also])
                for value in param.choices:
                    if isinstance(value, str):
                        chosen = context | {param.key: value}
                        checks.setdefault(tuple(chosen.items()), []).extend(self._active_keys(chosen, param))
        for context, keys in checks.items():
            valid = config_keys(dict(context))
            for key in keys:
                if key not in valid:
                    raise ValueError(_unknown_key_message(key, valid, dict(context), self.source))

    def check_study(self, study: optuna.Study) -> None:
        """Checks that the study's earlier trials sampled every key of the space as the space samples it.

        Optuna samples a key of one study as one kind, with one set of choices and one scale (a range may change),
        and fails every trial that samples it otherwise; a resumed study whose space changed so would fail all its
        new trials.

        Raises:
            ValueError: naming the key, how the study sampled it, and the fix.
        """
        earlier: dict[str, optuna.distributions.BaseDistribution] = {}
        for trial in study.get_trials(deepcopy=False):
            earlier |= trial.distributions
        for param in self.params:
            if param.key not in earlier:
                continue
            try:
                optuna.distributions.check_distribution_compatibility(earlier[param.key], param.distribution())
            except ValueError as error:
                raise ValueError(
                    f"{self.source}: {param.key}: the earlier trials of study {study.study_name!r} sampled it as "
                    f"{_spec(earlier[param.key])}, and Optuna samples a key of one study as one kind, with the same "
                    f"choices and log scale ({error}); give it that spec again (a range may change), or pass a "
                    "new --study_name"
                ) from None

    def _active_keys(self, context: Mapping[str, Any], chosen: Param) -> list[str]:
        """The keys, ``chosen``'s own aside, that every trial sampling ``context``'s values sets: the
        unconditional ones, and those whose conditions ``context`` meets."""
        active = [
            param
            for param in self.params
            if param is not chosen
            and all(key in context and _among(context[key], values) for key, values in param.when.items())
        ]
        return [key for param in active for key in (param.key, *param.also)]


def _parse_param(key: str, spec: Any, source: str) -> Param:
    """One ``space`` entry as a Param; every error names the key, the file and the expected form."""
    where = f"{source}: {key}"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected a mapping like {{int: [1, 8]}}, got {spec!r}")
    kinds = [kind for kind in _KINDS if kind in spec]
    if len(kinds) != 1:
        raise ValueError(f"{where}: give exactly one of {', '.join(_KINDS)}, got {sorted(spec)}")
    kind = kinds[0]
    unknown = set(spec) - {kind, "when", "also"} - _OPTIONS[kind]
    if unknown:
        allowed = sorted({"when", "also"} | _OPTIONS[kind])
        raise ValueError(f"{where}: unknown option(s) {sorted(unknown)} for {kind}; allowed: {allowed}")
    when, also = _parse_when(spec.get("when") or {}, where), _parse_also(spec.get("also") or [], key, where)
    if kind == "choice":
        return Param(key, kind, choices=_parse_choices(spec["choice"], where), when=when, also=also)
    bounds, log, step = _parse_range(kind, spec, where)
    return Param(key, kind, bounds=bounds, log=log, step=step, when=when, also=also)


def _parse_when(when: Any, where: str) -> dict[str, tuple[Any, ...]]:
    """A ``when`` option as choice key -> the values under which the key is sampled (a value alone: one)."""
    if not isinstance(when, Mapping):
        raise ValueError(f"{where}: `when` takes a mapping {{choice_key: value or [values]}}, got {when!r}")
    if empty := [name for name, values in when.items() if values == []]:
        raise ValueError(f"{where}: `when` gives {empty[0]} no value, so the key would never be sampled; list them")
    return {name: tuple(values if isinstance(values, list) else [values]) for name, values in when.items()}


def _parse_also(also: Any, key: str, where: str) -> tuple[str, ...]:
    """An ``also`` option: the other keys that take this key's value."""
    if not (isinstance(also, list) and all(isinstance(other, str) for other in also)):
        raise ValueError(f"{where}: `also` takes a list of keys [key, ...], got {also!r}")
    if key in also:
        raise ValueError(f"{where}: `also` names the key itself; list only the other keys that take its value")
    return tuple(also)


def _parse_choices(choices: Any, where: str) -> tuple[Any, ...]:
    """The values of a ``choice``: plain ones, each listed once."""
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"{where}: `choice` takes a non-empty list of values, got {choices!r}")
    plain = [choice for choice in choices if not (choice is None or isinstance(choice, bool | int | float | str))]
    if plain:  # Optuna records a choice as one of these; a class's settings go on keys of their own
        raise ValueError(
            f"{where}: `choice` takes plain values (numbers, text, true/false, null), got {plain[0]!r}; choose "
            "the class path and give its init_args keys their own entries (with `when`)"
        )
    for i, choice in enumerate(choices):
        equal = [other for other in choices[:i] if other == choice]
        if equal and type(equal[0]) is type(choice):  # a repeat weighs its value twice in random sampling; a typo?
            raise ValueError(f"{where}: `choice` lists {choice!r} more than once; list each value once")
        if equal:  # 1 == 1.0 == true: Optuna records a choice by the index of the first equal one (1.0 as 1)
            raise ValueError(
                f"{where}: `choice` lists {equal[0]!r} and {choice!r}, which Optuna records as one value (they are "
                "equal in Python), though they may set other things (limit_train_batches 1 is one batch, 1.0 the "
                "whole epoch); keep one of them"
            )
    return tuple(choices)


def _parse_range(kind: str, spec: Mapping[str, Any], where: str) -> tuple[tuple[float, float], bool, float | None]:
    """The ``(low, high)``, ``log`` and ``step`` of an ``int`` or ``float``, as Optuna takes them together."""
    bounds = spec[kind]
    number = int if kind == "int" else (int, float)
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b, number) for b in bounds)):
        raise ValueError(f"{where}: `{kind}` takes [low, high] as finite {kind}s, got {bounds!r}")
    low, high = bounds
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise ValueError(f"{where}: `log` takes true or false, got {log!r}")
    if low > high or (log and low <= 0):
        raise ValueError(f"{where}: need low <= high{' and low > 0 for log' if log else ''}, got {bounds}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, number) or step <= 0):
        raise ValueError(f"{where}: `step` takes a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
    if log and step is not None and (kind == "float" or step != 1):
        allowed = "no `step` (or step 1)" if kind == "int" else "no `step`"
        raise ValueError(f"{where}: with `log: true` Optuna takes {allowed}, got step {step!r}; drop one of them")
    if step is not None and (span := Decimal(str(high)) - Decimal(str(low))) % (grid := Decimal(str(step))):
        below = Decimal(str(low)) + span // grid * grid  # the high Optuna would quietly put in its place
        raise ValueError(
            f"{where}: `step` {step} does not divide the range {bounds}, so {high} could never be sampled; "
            f"make high - low a multiple of it, e.g. [{low}, {below}] or [{low}, {below + grid}]"
        )
    return (low, high), log, step


def _is_number(value: Any, number: type | tuple[type, ...]) -> bool:
    """Whether ``value`` is a finite ``number`` (YAML's ``true`` is a bool, not 1; ``.inf`` is no bound)."""
    return isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)


def _spec(distribution: optuna.distributions.BaseDistribution) -> str:
    """An Optuna distribution as the space's spec of it, e.g. ``{int: [1, 9], step: 2}``."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return f"{{choice: {list(distribution.choices)}}}"
    kind = "int" if isinstance(distribution, optuna.distributions.IntDistribution) else "float"
    log = ", log: true" if distribution.log else ""
    step = "" if distribution.step == (1 if kind == "int" else None) else f", step: {distribution.step}"
    return f"{{{kind}: [{distribution.low}, {distribution.high}]{log}{step}}}"


def _exclusive(param: Param, other: Param) -> bool:
    """Whether no trial samples both: a choice key both are conditional on, with no value in common."""
    return any(
        not any(_among(value, other.when[key]) for value in values)
        for key, values in param.when.items()
        if key in other.when
    )


def _among(value: Any, values: Collection[Any]) -> bool:
    """Whether ``value`` is one of ``values`` of its own type: a condition on the choice 1 is none on true, which
    Python's ``==`` takes for 1."""
    return any(type(value) is type(other) and value == other for other in values)


def _unknown_key_message(key: str, valid: Collection[str], context: dict[str, Any], source: str) -> str:
    """The error for a key the config lacks, with the nearest key the config has."""
    condition = f" when {', '.join(f'{k}={v}' for k, v in context.items())}" if context else ""
    nearest = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    hint = f"did you mean {nearest[0]!r}?" if nearest else "`fit --print_config` lists the keys"
    return f"{source}: {key!r} is not a key of the config{condition}; {hint}"
