"""ForecastTrainer: Lightning's Trainer with ``backtest``, the CLI subcommand of that name."""

import copy
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.loops.evaluation_loop import _EvaluationLoop
from lightning.pytorch.strategies import Strategy

from .backtest import (
    backtest_loader,
    backtest_report,
    backtest_windows,
    check_refit_start,
    fitted_rows,
    refit_and_test,
    refit_groups,
)
from .callbacks import callback_list
from .checkpointing import read_checkpoint
from .data.datamodule import TimeSeriesDataModule
from .errors import warn_on_rank_zero
from .model_checks import check_data

__all__ = ["ForecastTrainer"]


class ForecastTrainer(Trainer):
    """Lightning's Trainer with one more entry point, ``backtest``.

    It keeps the arguments it was made with, so that a backtest can test and train with trainers
    like itself (a backtest's own report; a refit's own logger). A strategy given as an instance
    (``DDPStrategy(timeout=...)``, a config's ``trainer.strategy.class_path``) is kept as it was given,
    and a backtest's trainer gets a copy of it: Lightning sets a trainer's accelerator and plugins on the
    instance it is given, which a second trainer given it beside the same ``accelerator`` refuses.

    Its ``limit_*_batches`` read a whole number as a count of batches: Lightning types them
    ``float | int``, so the CLI parsed ``--trainer.limit_val_batches 1`` as the fraction 1.0, every
    batch, where Lightning's own documentation promises one batch for ``1`` (``1.0`` is every batch).
    """

    def __init__(
        self,
        *,
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        limit_test_batches: int | float | None = None,
        limit_predict_batches: int | float | None = None,
        **kwargs: Any,
    ):
        limits = {
            "limit_train_batches": limit_train_batches,
            "limit_val_batches": limit_val_batches,
            "limit_test_batches": limit_test_batches,
            "limit_predict_batches": limit_predict_batches,
        }
        strategy = kwargs.get("strategy")
        given = {"strategy": copy.deepcopy(strategy)} if isinstance(strategy, Strategy) else {}
        super().__init__(**limits, **kwargs)
        self.settings = {**{key: value for key, value in limits.items() if value is not None}, **kwargs, **given}

    def trainer_settings(self) -> dict[str, Any]:
        """The arguments of a new trainer like this one (``settings``), with a strategy instance of its own.

        Its callbacks are this trainer's own objects, with what its fits recorded in them (a ModelCheckpoint's best
        file, an EarlyStopping's wait): a backtest's refits train with copies that start from no record
        (``forecast.backtest``). They are not copied as given at construction: a callback may hold what does not
        copy (a lock, an open file), or should not (``forecast tune``'s pruning callback holds its trial, whose copy
        copies the whole study and takes the reports in its place).
        """
        strategy = self.settings.get("strategy")
        return self.settings | ({"strategy": copy.deepcopy(strategy)} if isinstance(strategy, Strategy) else {})

    def backtest(
        self,
        model: LightningModule,
        datamodule: TimeSeriesDataModule,
        ckpt_path: str | None = None,
        start: int | str | None = None,
        stride: int | None = None,
        num_windows: int | None = None,
        refit_every: int | None = None,
        verbose: bool = True,
    ) -> list[dict[str, float]]:
        """Evaluate a trained model or a baseline over rolling forecast origins.

        Each window forecasts ``horizon`` steps from an origin with the ``lookback`` rows before it;
        the windows run through ``test``, so the metrics and the report are those of ``test``, and
        ``forecasts.csv`` holds each window's forecasts and actual values. Windows that forecast rows the
        model and its scalers were fitted on warn (an in-sample evaluation): with ``ckpt_path``, the rows
        before the training border of the checkpoint's own split, found by time, whatever the data module's.

        With ``refit_every`` (k), a copy of ``model`` as given (untrained, under the CLI; a model that has
        trained warns, as its weights saw rows after the origins) is trained
        before every k-th origin of each series, with this trainer's settings and copies of its
        callbacks: validation on as many rows as the data module's split gives it, just before the
        origin, training on every row before those, and the scalers fitted on the training rows
        again. Each refit forecasts the k origins that follow it; it logs its training and test
        metrics to, and keeps its checkpoints in, ``refits/origin_G/`` in the run directory, whatever
        ``dirpath`` a ModelCheckpoint names. The run's loggers get one row of test metrics over all
        windows. Pass ``start`` as a time so that every series is cut at the same
        moment. The ``_orig`` metrics compare across refits; the scaled ones are each on their
        refit's scale.

        Args:
            model: the model to evaluate.
            datamodule: the data; its series, scaling (a checkpoint's, when given) and test borders.
            ckpt_path: the checkpoint to evaluate: a path, or ``best`` or ``last``: the best file (as in
                Lightning's ``test``) or the last one (``save_last``) that this trainer's checkpoint callback
                saved in its fit (the CLI finds those of the newest run); none for baselines.
            start: first forecast step of the first window: a row of each series (negative: from its
                end), a time such as ``2018-02-01`` (in Python also a ``datetime`` or pandas ``Timestamp``,
                which the command line has no use for), or none for the start of the test part.
            stride: rows between origins; none means the horizon.
            num_windows: origins per series; none means as many as fit.
            refit_every: train the model anew before every this many origins; none evaluates it as it is.
            verbose: print the test metrics, as ``test`` does (never per refit: those cover one group).

        Returns:
            The test metrics over all windows (with ``refit_every``: of all refits).

        Raises:
            ValueError: ``ckpt_path`` ``best`` or ``last`` where this trainer saved no such checkpoint;
                ``refit_every`` with a ``ckpt_path`` (a refit starts from the model as given),
                or under more than one process; the model reads windows of another lookback, horizon or
                channel count than the data module's (``forecast.model_checks.check_data``).
        """
        check_data(model, datamodule)  # its windows reach the model as dataloaders, which setup cannot check
        ckpt_path = self._saved(ckpt_path)
        callbacks = callback_list(self.settings.get("callbacks"))  # Lightning takes one callback or a list
        if refit_every is None:
            state = None  # without a checkpoint, the model and scalers were fitted on the data module's split
            if ckpt_path is not None:  # its scalers scale the windows, so they load before the loader is built
                state = read_checkpoint(ckpt_path, type(model)).get(type(datamodule).__qualname__, {})
                datamodule.load_state_dict(state)
            datamodule.setup("backtest")  # under data.shard: series, this process's series from here on
            fitted = fitted_rows(datamodule, state) if state is not None else None
            report, others = backtest_report(callbacks, datamodule)
            tester = Trainer(**self.trainer_settings() | {"callbacks": [*others, report]})
            windows = backtest_windows(datamodule, start, stride, num_windows)
            loader = backtest_loader(datamodule, windows, fitted)
            return tester.test(model, dataloaders=loader, ckpt_path=ckpt_path, verbose=verbose)
        if ckpt_path is not None:
            raise ValueError(f"backtest --refit_every trains the model anew: drop --ckpt_path (got {ckpt_path!r})")
        if self.world_size > 1:
            raise ValueError(
                f"backtest --refit_every trains in one process: run on one device (got {self.world_size} processes)"
            )
        if model.global_step > 0:  # a fit in Python, then its model backtested: the refits would start from it
            warn_on_rank_zero(
                f"backtest --refit_every trains copies of the model as given, which has taken {model.global_step} "
                "training steps: every refit starts from weights fitted on rows after its origins, an in-sample "
                "evaluation; pass an untrained model (a new Forecaster of the same settings)"
            )
        datamodule.setup("backtest")
        groups = refit_groups(backtest_windows(datamodule, start, stride, num_windows), refit_every)
        check_refit_start(datamodule, groups)
        report, others = backtest_report(callbacks, datamodule, passes=len(groups))
        results = [refit_and_test(self.trainer_settings, others, model, datamodule, groups, report)]
        if verbose:  # Lightning's table, as ``test`` prints it
            _EvaluationLoop._print_results(results, "test")
        return results

    def _saved(self, ckpt_path: str | None) -> str | None:
        """``best`` or ``last`` as the file this trainer's checkpoint callback saved (its ``best_model_path``, as
        Lightning's ``test`` reads ``best``, or ``last_model_path``), since a backtest tests in a trainer of its own,
        which saved none; another ``ckpt_path`` as given.

        Raises:
            ValueError: this trainer saved no such checkpoint, naming the fix.
        """
        if ckpt_path not in ("best", "last"):
            return ckpt_path
        callback = self.checkpoint_callback
        path = getattr(callback, f"{ckpt_path}_model_path", "") if callback is not None else ""
        if not path:
            raise ValueError(
                f"backtest ckpt_path={ckpt_path!r}: this trainer has saved no {ckpt_path} checkpoint; fit first (with "
                "a ModelCheckpoint, and save_last for 'last'), or give the path of a .ckpt file"
            )
        return path
