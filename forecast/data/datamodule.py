"""TimeSeriesDataModule: a pandas frame in (wide or long, many series), windows of scaled float32 series out."""

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, get_args

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ..specs import to_record
from .arguments import check_groups, check_loading, whole_counts
from .buffer import SeriesBuffer, season_means, static_vocabularies
from .calendar import SEASON, calendar_columns, season_steps, series_steps
from .calendar import seasonal_period as steps_per_season  # __init__ has an argument of that name
from .frames import resolve_roles
from .loaders import SAMPLING, evaluation_loader, training_loader
from .options import Calendar, Columns, Scaling, check_choice
from .parts import kept_counts, loader_options, part_dataset, target_maps
from .reading import SeriesReader
from .scaled import ScaledSeries, fit_scalings, warn_unscalable
from .scaling import TRAINING_UNFITTED, AffineScaling
from .sharding import alike
from .shares import check_windowed_shares, own_share, read_shard
from .splits import Split, Windows, check_windows, default_split, part_windows
from .state import check_schema, check_static_numbers, checkpoint_scalings, data_state, in_time_zone, schema
from .validate import NanPolicy, check_history_end, check_naive_scale, repair_missing
from .windows import WindowDataset

__all__ = ["TimeSeriesDataModule"]

Shard = Literal["none", "series"]


class TimeSeriesDataModule(L.LightningDataModule):
    """Windows one or many time series for training, validation, testing and forecasting.

    The frame is read and checked, and its sizes are known, once constructed; ``setup`` fits the
    scalers on the training rows only. All series are stored once in one float32 array, and each
    batch is gathered with one indexing step per field. ``state_dict()`` (column roles, frequency,
    scaler parameters, vocabularies, split borders) travels in every checkpoint.

    Args:
        source: a built-in data set name (``"etth1"``), a CSV/Parquet path, or a DataFrame. Wide:
            a time index (a file's first column), one column per channel of one series. Long: an
            id column, a time column and value columns, many series.
        lookback: L, past steps the model sees.
        horizon: H, future steps it forecasts.
        columns: the columns' roles (targets, past, future and static covariates) and the id and
            time columns of long data (``Columns``).
        calendar: calendar features as future covariates, and their encoding (``Calendar``). With the
            feature ``season`` in integer encoding, ``season_channel`` is its channel of ``future`` and
            ``season_length`` the steps of the season, which the CLI links into the model for its
            residual cycle.
        split: where train, validation and test lie, per series; ``None`` means a built-in data set's own
            preset (the ETT borders for ``etth1``), else ``FractionSplit()``.
        train_stride: rows between consecutive training windows of a series.
        eval_stride: rows between consecutive validation and test windows (1: every window); counted from a
            part's first window, so with more than 1 up to ``eval_stride - 1`` last rows of a part may be in no
            window's targets.
        scaling: the scalers of targets and covariates, and whether each series gets its own (``Scaling``).
        sampling: training windows drawn ``windows`` uniformly, or ``series`` with equal weight per
            series (then with replacement).
        batch_size: windows per batch.
        batch_channels: when set, each batch holds ``batch_channels // C_out`` windows (at least one)
            instead of ``batch_size``: the batch counted in target channels, which is what a step of a
            channel-independent model costs in time and memory. 1792 is 256 windows of ETTh1's 7
            channels, and 5 of electricity's 321; ``batch_size`` alone would make those 82,176 series.
        num_workers: DataLoader worker processes (0 loads in the training process; a batch is a few
            gathers, so workers rarely pay off and compete for CPU cores with the model).
        pin_memory: page-locked batches, for faster copies to a GPU.
        freq: the pandas frequency of the times (e.g. ``"h"``), when it cannot be inferred.
        seasonal_period: m of MASE, whose scale is each series' mean ``|y[t] - y[t - m]|`` over its
            training rows (1: the last value's error; 24: the same hour the day before, for hourly data).
        nan_policy: what to do with NaN or infinite values: ``error``, or repair them by ``ffill``,
            ``interpolate`` or ``zero``, each split part of a series from its own rows and the rows
            before it only (logging how many per part); see ``validate.repair_missing``.
        drop_short: leave out series shorter than ``lookback + horizon``, with a warning naming
            them, instead of refusing the data.
        series: the ids of the series of long data to read; ``None`` reads all. From a file only these
            rows, and (when ``columns.targets`` are named) only the id, time and role columns are read:
            Parquet skips the rest unread.
        shard: ``series``: under distributed training each process reads, checks and buffers only its
            share of the series of long data (see ``forecast.data.sharding``), from ``setup`` on
            (``drop_short`` leaves the short series out before they are shared out); ``none``: every
            process holds all series.

    Raises:
        TypeError: a count (``lookback``, ``horizon``, a stride, a batch size) is no whole number,
            ``columns``, ``calendar``, ``scaling`` or ``split`` is no ``Columns``, ``Calendar``, ``Scaling`` or
            ``Split``, or ``pin_memory`` or ``drop_short`` is no bool.
        ValueError: a count below 1, ``num_workers`` below 0 or no int, or an option outside its choices.
        ForecastDataError: the data cannot be read as the options say (naming the column, series and row).
    """

    def __init__(
        self,
        source: str | Path | pd.DataFrame = "etth1",
        lookback: int = 96,
        horizon: int = 96,
        columns: Columns = Columns(),
        calendar: Calendar = Calendar(),
        split: Split | None = None,
        train_stride: int = 1,
        eval_stride: int = 1,
        scaling: Scaling = Scaling(),
        sampling: Literal["windows", "series"] = "windows",
        batch_size: int = 64,
        batch_channels: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        freq: str | None = None,
        seasonal_period: int = 1,
        nan_policy: NanPolicy = "error",
        drop_short: bool = False,
        series: list[str] | None = None,
        shard: Shard = "none",
    ):
        super().__init__()
        counts = dict(lookback=lookback, horizon=horizon, train_stride=train_stride, eval_stride=eval_stride)
        counts |= dict(seasonal_period=seasonal_period, batch_size=batch_size, batch_channels=batch_channels)
        counts = whole_counts(counts)
        # Python ints from here on, also in the hyperparameters that save_hyperparameters reads from these names.
        lookback, horizon, train_stride, eval_stride, seasonal_period, batch_size, batch_channels = counts.values()
        check_groups(columns, calendar, scaling, split)
        check_loading(num_workers, pin_memory, drop_short)
        check_choice("data.sampling", sampling, SAMPLING)
        check_choice("data.nan_policy", nan_policy, get_args(NanPolicy))
        check_choice("data.shard", shard, get_args(Shard))
        ignore = None if isinstance(source, (str, Path)) else ["source"]  # a frame, or what read_source refuses
        self.save_hyperparameters(ignore=ignore)
        self.save_hyperparameters({name: to_record(value) for name, value in self.hparams.items()}, ignore=ignore)
        self.lookback, self.horizon, self.seasonal_period = lookback, horizon, seasonal_period
        self.split = split or default_split(source)
        self.strides = {"train": train_stride, "val": eval_stride, "test": eval_stride, "predict": 1}
        self.columns, self.scaling = columns, scaling  # the options; ``scalings``: the maps fitted by them
        self.calendar = (list(calendar.features or []), calendar.encoding)
        self.sampling, self.batch_size = sampling, batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.shard, self.nan_policy = shard, nan_policy
        rows_after = horizon if self.split.evaluates else 0  # the rows a series needs after a window's lookback
        self._reader = SeriesReader(source, columns, lookback, rows_after, drop_short)
        if shard == "series":  # every process knows all ids and statics; it reads its own series in setup
            if sampling != "windows":
                raise ValueError("data.sampling: series draws from all series; with data.shard: series use windows")
            self._index = self._reader.index(series)
            longest = self._index.sort_values("rows", ascending=False, kind="stable")
            series = list(longest["id"][:1])  # the longest series tells the columns and the frequency
        frame, rows = self._reader.frame(series)
        self.roles = resolve_roles(list(frame.columns), columns, list(frame.index.names))
        self._read(frame, rows, freq)
        if freq is not None:  # a pandas offset by its name, so that the recorded options build this module again
            self.hparams["freq"] = self.freq
        self.targets = self.roles.targets
        self.target_size = len(self.roles.targets)
        self.input_size = len(self.roles.targets) + len(self.roles.past)
        self.future_size = len(self.roles.future) + len(calendar_columns(*self.calendar))
        features, encoding = self.calendar
        if SEASON in features:
            season_steps(self.freq)  # refuses a frequency without a season
        self.season_channel = (
            len(self.roles.future) + features.index(SEASON) if encoding == "integer" and SEASON in features else None
        )
        self.season_length = steps_per_season(self.freq) or 1
        self.static_size = len(self.roles.static)
        if batch_channels is not None:
            self.batch_size = max(1, batch_channels // self.target_size)
        self.scalings: tuple[AffineScaling, AffineScaling, AffineScaling] | None = None
        self._scaled: ScaledSeries | None = None  # built on first use; None again when the split or scalings change

    def _read(
        self, frame: pd.DataFrame, rows: np.ndarray | None, freq: str | None, share: tuple[int, int] | None = None
    ) -> None:
        """Validate the frame (whose rows are ``rows`` of the frame as given; ``share``: process and number of
        processes, when it holds one process's share of the series) into the series table
        (``SeriesReader.table``), and take what follows from it."""
        table, self.freq = self._reader.table(frame, rows, self.roles, freq, share)
        self.table = table
        self._given = table.values  # as read: repairs are redone from these whenever the borders move
        self.series_names = table.names
        self.start_times = list(table.times[table.offsets[:-1]])
        # Categories: the static columns not of numbers in the data (the table holds them as objects), of all series.
        statics = self._index if self.shard == "series" else table.statics
        categories = [column for column in self.roles.static if table.statics[column].dtype == object]
        self.vocabularies = static_vocabularies({column: statics[column] for column in categories})
        self.borders = self.split.target_borders(table)
        self._repair()

    @property
    def static_cardinalities(self) -> list[int]:
        """Per static column its number of categories (of the checkpoint's, once one is loaded), 0 for a number:
        the model sizes its embeddings by it."""
        return [len(self.vocabularies.get(column, [])) for column in self.roles.static]

    def _repair(self) -> None:
        """Repair missing values part by part for the current borders, from the values as read."""
        given = replace(self.table, values=self._given)
        self.table.values = {**self._given, **repair_missing(given, self.roles, self.nan_policy, self.borders)}

    def setup(self, stage: str) -> None:
        """Fit the scalings on the training rows (once; a checkpoint's take precedence), warning in ``fit`` of
        values they cannot scale well (``scaled.warn_unscalable``), and check the parts.

        ``stage`` is Lightning's (``fit``, ``validate``, ``test``, ``predict``) or ``backtest``, which checks no
        part: a backtest reads windows of its own (``forecast.backtest``), which it checks itself.

        Raises:
            ValueError: ``stage`` is ``predict`` under ``shard: series``.
            ForecastDataError: a part that ``stage`` needs has no window in any series, or (``shard: series``)
                none in one process's series while the others' have some, or some process refused the data of
                its series (on every process alike, quoting the error).
        """
        sharded = self.shard == "series"
        if sharded and stage == "predict":  # also after a fit on this module, which read its share
            raise ValueError("data.shard: series is for fit, validate and test; predict with data.shard: none")
        if stage == "predict":
            check_history_end(self.table, self.roles.past)
        if sharded and not hasattr(self, "_shard"):
            self._shard = read_shard(self._index, self._read_share, self._windowed)
        if self.scalings is None:
            self.scalings = self.fit_scalings()
            if stage == "fit":  # test and predict of a checkpoint take its scalings, which Lightning restores later
                targets = self.scalings[0] if self.scaling.scaler is not None else None
                warn_unscalable(self.table, self._given, self.borders, self.roles, targets)
        for part in {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage, ()):
            if sharded:  # before a process's own check, so that all processes refuse alike
                check_windowed_shares(part, int(np.count_nonzero(self._windows(part, check=False).counts)))
            self._windows(part)
        if stage == "test":  # its report gives MASE, whose scale needs training rows in every series tested
            self.check_mase_scale(np.flatnonzero(self._windows("test").counts))

    def check_mase_scale(self, tested: np.ndarray) -> None:
        """Refuse the series ``tested`` (indices) whose training rows are too few for the scale of MASE, and warn
        of those that have none (``validate.check_naive_scale``)."""
        names = [self.series_names[i] for i in tested]
        scale = self.scaled.naive_scale[tested].numpy()
        sharded = self.shard == "series"
        share = own_share(sharded)  # then warnings name this process's own series

        def check() -> None:
            check_naive_scale(self.borders[tested, 0], self.seasonal_period, names, scale, share, self.roles.targets)

        alike(check) if sharded else check()  # under shard: series, where one process refuses, all refuse alike

    def _read_share(self, ids: list[str], share: tuple[int, int]) -> None:
        """Read and check the series ``ids`` as this process's ``share``: its rank and the number of processes."""
        self._read(*self._reader.frame(ids), self.freq, share)

    def _windowed(self) -> tuple[list[str], np.ndarray]:
        """The series read, and per series whether training keeps one of its windows (one with an observed target:
        ``parts.kept_counts``) and whether it has windows of val and test, shape (N, 3): the parts that the series
        are dealt out by under ``shard: series``."""
        train = self._windows("train", check=False)
        kept = kept_counts(self.table, self._given, self.roles.targets, train, self.horizon) > 0
        evaluated = [self._windows(part, check=False).counts > 0 for part in ("val", "test")]
        return list(self.series_names), np.stack([kept, *evaluated], 1)

    def resplit(
        self, borders: np.ndarray, scalings: tuple[AffineScaling, AffineScaling, AffineScaling] | None = None
    ) -> None:
        """Move the split: per series the first target row of validation, of test, and the end of test.

        Missing values are repaired again for the new parts (a backtest refit's training rows from
        themselves only). The scalings given take effect, or, with none, are fitted again on the new
        training rows at the next ``setup``.
        """
        self.borders, self.scalings, self._scaled = borders, scalings, None
        self._repair()

    def fit_scalings(
        self, series: np.ndarray | None = None, unfitted: str = TRAINING_UNFITTED
    ) -> tuple[AffineScaling, AffineScaling, AffineScaling]:
        """Scalings fitted on the training rows of ``series`` (positions, all by default), as ``scaled.fit_scalings``
        fits them, under ``shard: series`` on every process alike."""
        data = self.table, self._given, self.borders, self.roles, self.vocabularies, self.scaling
        return fit_scalings(*data, sharded=self.shard == "series", series=series, unfitted=unfitted)

    @property
    def scaled(self) -> ScaledSeries:
        """The series as the windows read them: scaled, with statics, MASE scales and the rows given before each
        origin (built on first use, after any checkpoint is loaded).

        Raises:
            RuntimeError: no scalings yet: ``setup`` (or ``load_state_dict``) has not run.
        """
        if self._scaled is None:
            if self.scalings is None:
                raise RuntimeError("call setup() (or load_state_dict) before reading windows")
            data = self.table, self._given, self.roles, self.scalings, self.vocabularies, self.calendar, self.freq
            pad = self.horizon if self.future_size else 0  # the rows of future covariates after each series
            self._scaled = ScaledSeries(*data, self.borders, pad, self.seasonal_period, self.nan_policy)
        return self._scaled

    @property
    def buffer(self) -> SeriesBuffer:
        """All series, scaled, in one float32 array (``ScaledSeries.buffer``)."""
        return self.scaled.buffer

    @property
    def static(self) -> torch.Tensor:
        """Static features per series, categories as vocabulary indices, numbers scaled, shape (N, S)."""
        return self.scaled.static

    def season_means(self) -> torch.Tensor:
        """Each target's seasonal profile on its scaled training rows (``buffer.season_means``), shape
        (season_length, C_out): where a model's residual cycle starts, so that it need not learn it from zero.

        Raises:
            ValueError: the calendar has no feature ``season`` in integer encoding.
        """
        if self.season_channel is None:
            raise ValueError("season_means needs data.calendar: {features: [season], encoding: integer}")
        channel = self.input_size + self.season_channel  # the buffer: [targets | past | future channels]
        return season_means(self.buffer, self.borders[:, 0], self.target_size, channel, self.season_length)

    def windows_of(self, part: str, lookback: int | None = None) -> Windows:
        """The windows of ``part`` at ``lookback`` (the data module's own by default), unchecked: which windows score
        a part at another lookback, as ``forecast tune`` and ``benchmarks/ltsf.py`` compare them before choosing
        among lookbacks (a longer one leaves a series whose part starts shortly after its first row fewer). Set up
        first."""
        lookback = self.lookback if lookback is None else lookback
        return part_windows(self.borders, self.table.observed, part, lookback, self.horizon, self.strides[part])

    def _windows(self, part: str, check: bool = True) -> Windows:
        """The windows of ``part``.

        Raises:
            ForecastDataError: (``check``) a split part has no window in any series.
        """
        windows = self.windows_of(part)
        if check and part != "predict":
            check_windows(windows, part, self.borders, self.table, self.lookback, self.horizon)
        return windows

    def dataset(self, part: str) -> WindowDataset:
        """The windows of ``"train"``, ``"val"``, ``"test"``, or ``"predict"`` (``parts.part_dataset``).

        ``"predict"`` is one window per series whose lookback ends at its last row: it forecasts the
        ``horizon`` steps after the data, so it has no target.

        Raises:
            ForecastDataError: the part has no window, or (predict) a series lacks the future
                covariates of the steps after its data.
        """
        sizes = (self.target_size, self.input_size, self.future_size)
        return part_dataset(self.scaled, self._windows(part), part, self.lookback, self.horizon, sizes)

    def target_maps(self) -> dict[str, torch.Tensor]:
        """Per series, the maps of its scaled targets back to original units and its MASE scale
        (``parts.target_maps``)."""
        return target_maps(self.scaled)

    def loader_options(self) -> dict[str, Any]:
        """The ``DataLoader`` settings of every loader of these data, also of a backtest's
        (``parts.loader_options``)."""
        return loader_options(self.num_workers, self.pin_memory)

    def _loader(self, part: str) -> DataLoader:
        dataset, sharded = self.dataset(part), self.shard == "series"
        options = self.loader_options() | dict(persistent_workers=self.num_workers > 0)
        if part == "train":  # training resumes mid-epoch; evaluation starts over
            return training_loader(dataset, self.batch_size, self.sampling, sharded, self._consumed, **options)
        return evaluation_loader(dataset, self.batch_size, sharded, **options)

    def _consumed(self) -> int:
        """Batches of the current epoch the training loop has taken: Lightning's count, restored on resume."""
        # Lightning's count, not one the loader keeps in its state_dict: Lightning's fetcher draws a batch
        # ahead of the step, so at checkpoint time the loader has yielded one batch more than was trained on.
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.ready if self.trainer else 0

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def forecast_times(self, series: int, time: int) -> pd.DatetimeIndex:
        """The timestamps of the ``horizon`` steps starting at row ``time`` (>= 1) of ``series``, stepped from a row
        before it on the wall clock of the times (``series_steps``, which also steps across a daylight-saving
        change at the time of day of the data)."""
        times = self.table.times[self.table.offsets[series] : self.table.offsets[series + 1]]
        return series_steps(times, self.freq, first=time, count=self.horizon)

    def state_dict(self) -> dict[str, Any]:
        """Plain data that predict needs: column roles, frequency, time zone, scalings, vocabularies, series,
        borders (``state.data_state``); under ``shard: series``, of the series of every process."""
        if self.scalings is None:
            return {}
        data = self.table, self.roles, self.calendar, self.freq, self.borders, self.scalings, self.vocabularies
        return data_state(*data, self.scaling.per_series, (self.lookback, self.horizon), self.shard == "series")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the scalings and vocabularies of a checkpoint, after checking it fits these data, and its
        time zone: times in another are converted to it (``state.in_time_zone``). A frequency named otherwise
        (``data.freq`` ``"1h"`` or ``"60min"`` for the checkpoint's ``"h"``) is the same; the checkpoint's name
        is kept. The split stays this module's own: the checkpoint's borders count the rows of the data it was
        trained on, which predict's history or a backtest's ``--data.split`` need not share (a backtest finds
        its training rows by time, ``backtest.fitted_rows``). Everything is checked before anything changes,
        so a refused state leaves the module as it was.

        Raises:
            ForecastDataError: the checkpoint was trained on other columns, calendar features or
                frequency, on numbers in a static column that these data hold as text (``check_static_numbers``),
                on times with a time zone where these have none or the reverse, these times do not follow the
                frequency in the checkpoint's time zone, or (scaled per series) it lacks a series of these data.
        """
        if not state:
            return
        check_schema(state, schema(self.roles, self.calendar, self.freq))
        check_static_numbers(self.table, self.roles.static, state["vocabularies"])
        # Checkpoints from before the time zone was recorded: their times are taken as given.
        table = in_time_zone(self.table, state["time_zone"], self.freq) if "time_zone" in state else self.table
        scalings = checkpoint_scalings(state, self.series_names)
        self.table, self.start_times = table, list(table.times[table.offsets[:-1]])
        self.scalings, self.scaling = scalings, replace(self.scaling, per_series=state["scale_per_series"])
        self.vocabularies = state["vocabularies"]  # the static features index the checkpoint's categories
        self.freq = state["freq"]  # the checkpoint's name of the same frequency, e.g. "h" for data.freq "1h"
        self._scaled = None
