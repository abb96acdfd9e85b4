"""The command line: ``python -m forecast {fit,validate,test,predict,backtest} --config ...``."""

import os
import shutil
import sys
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch import LightningModule
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer import Trainer
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .callbacks import (
    FiniteLossCheck,
    PredictionWriter,
    RandomStateCheckpoint,
    ResumableModelCheckpoint,
    SameCheckpointCheck,
    callback_list,
    run_directory,
)
from .checkpointing import file_in_the_way, read_checkpoint, with_atomic_writes
from .cli_parser import ForecastArgumentParser
from .comparison import NaiveComparison
from .data.datamodule import TimeSeriesDataModule
from .datasets.published import PUBLISHED, standard_protocol, standing, tested_every_window
from .errors import warn_on_rank_zero
from .linked_keys import WEIGHT_SIZES, check_linked_flags, check_linked_keys
from .model import Forecaster
from .monitors import check_monitors
from .reports import EvaluationReport
from .runs import check_checkpoint_exists, resolve_checkpoint
from .trainer import ForecastTrainer

__all__ = ["ForecastCLI", "RunConfigCallback", "main"]

# The epochs of a fit that sets no limit of its own, in place of Lightning's 1000 (hours for the default
# GRU on ETTh1 on a CPU, about 15 s an epoch, with nothing to stop it sooner); the ETTh1 configs' number.
_DEFAULT_MAX_EPOCHS = 10


def _check_checkpoint_data(ckpt_path: str, model: LightningModule) -> None:
    """Refuse a checkpoint trained on data of other channel counts than the config's data give.

    The model is built with the sizes of this config's data, and Lightning would fail loading the
    weights with a "size mismatch" per tensor, naming no data setting.

    Raises:
        ValueError: naming the checkpoint, the sizes it needs and those the data give.
    """
    if not Path(ckpt_path).is_file():  # remote paths are left to Lightning
        return
    trained = read_checkpoint(ckpt_path, Forecaster)["hyper_parameters"]
    if "static_cardinalities" in trained:
        trained = {**trained, "static_cardinalities": _cardinalities(trained)}
    differing = [key for key in WEIGHT_SIZES if key in trained and trained[key] != model.hparams.get(key)]
    if differing:
        needed = ", ".join(f"{key} {trained[key]}" for key in differing)
        given = ", ".join(f"{key} {model.hparams.get(key)}" for key in differing)
        raise ValueError(
            f"{ckpt_path} was trained on data of {needed}, but this config's data give {given}: pass the data "
            "it was trained on (data.source, data.columns, data.calendar as in its run's config.yaml)"
        )


def _cardinalities(trained: dict) -> list[int] | None:
    """A checkpoint's categories per static column, ``None`` where it records none; older Python fits wrote ``None``
    for all numbers, which is zeros."""
    if "static_cardinalities" not in trained:
        return None
    given = trained["static_cardinalities"]
    return [0] * trained.get("static_size", 0) if given is None else list(given)


# The callbacks the CLI adds to every run, by the key of their settings.
_OWN_CALLBACKS = {
    PredictionWriter: "prediction_writer",
    FiniteLossCheck: "finite_loss_check",
    RandomStateCheckpoint: "random_state_checkpoint",
    NaiveComparison: "naive_comparison",
}


def _check_own_callbacks(callbacks: Callback | list[Callback] | None, checkpoint: ModelCheckpoint) -> None:
    """Refuse in ``trainer.callbacks`` a callback that does what one of the CLI's own does.

    ``trainer.callbacks`` add to the CLI's callbacks. Lightning refuses two ModelCheckpoints of the
    same monitor and interval, and two of a stateful callback such as ``RandomStateCheckpoint``, when
    the trainer is built, naming the CLI's class rather than the keys; a second ``PredictionWriter``
    writes a second table beside the CLI's ``predictions.csv``.

    Raises:
        ValueError: naming ``trainer.callbacks``, the class and the CLI's keys to use instead.
    """
    for callback in callback_list(callbacks):
        if isinstance(callback, ModelCheckpoint) and callback.state_key == checkpoint.state_key:
            raise ValueError(
                f"trainer.callbacks has a {type(callback).__name__} of monitor {callback.monitor!r}, as the CLI's own "
                "checkpoint (checkpoint.*) has: set that one with --checkpoint.monitor, --checkpoint.save_top_k, "
                "--checkpoint.dirpath ... instead, or give yours another monitor or every_n_* interval"
            )
        key = _OWN_CALLBACKS.get(type(callback))
        if key is not None:
            raise ValueError(
                f"trainer.callbacks has a {type(callback).__name__}, which the CLI adds to every run itself: drop it "
                f"from trainer.callbacks, and give its settings as {key}.* (`python -m forecast fit --help` lists them)"
            )


def _checkpoint_first(trainer: Trainer, checkpoint: ModelCheckpoint) -> None:
    """Put the CLI's checkpoint first among the trainer's ModelCheckpoints.

    ``trainer.checkpoint_callback`` is the first of them, and it is what Lightning's ``ckpt_path="best"``, the
    naive comparison's report and fallback and a backtest's refits read. Lightning adds the CLI's own after
    ``trainer.callbacks``, so a ModelCheckpoint of another monitor there (``val/mse_orig``, say) came first, and
    those read its epoch and score while ``--ckpt_path best`` read the CLI's (``checkpoint.monitor``).
    """
    callbacks = trainer.callbacks
    if checkpoint in callbacks:
        callbacks.remove(checkpoint)
        first = next((i for i, c in enumerate(callbacks) if isinstance(c, ModelCheckpoint)), len(callbacks))
        callbacks.insert(first, checkpoint)


def _sets_no_limit(trainer: dict, callbacks: list[Callback]) -> bool:
    """Whether a fit would run Lightning's default 1000 epochs: no ``max_epochs``, ``max_steps`` or
    ``max_time``, and no EarlyStopping or Timer among ``callbacks`` to end it sooner, nor a ``min_steps`` (the
    epochs it takes are unknown here, and Lightning lets a maximum cut a fit below its minimum).

    Lightning's own rule, plus EarlyStopping: ``max_steps``, ``max_time`` or a Timer alone lift the epoch
    limit (``max_epochs`` -1), and an EarlyStopping ends a run on its own, as the ETTh1 configs' do.
    """
    return (
        trainer.get("max_epochs") is None
        and trainer.get("max_steps", -1) == -1
        and trainer.get("max_time") is None
        and trainer.get("min_steps") is None
        and not any(isinstance(callback, (EarlyStopping, Timer)) for callback in callbacks)
    )


_GPU_KINDS = {"gpu": (CUDAAccelerator, MPSAccelerator), "cuda": (CUDAAccelerator,), "mps": (MPSAccelerator,)}


def _check_accelerator(accelerator: object) -> None:
    """Refuse ``trainer.accelerator`` ``gpu``/``cuda``/``mps`` on a machine without one, before anything is built.

    Lightning would find that out only after the data are read, with "No supported gpu backend found!",
    naming neither the key nor the way back to the CPU (the GPU presets set it).

    Raises:
        ValueError: naming the key, its value and the CPU preset.
    """
    kinds = _GPU_KINDS.get(accelerator.lower()) if isinstance(accelerator, str) else None
    if kinds and not any(kind.is_available() for kind in kinds):
        raise ValueError(
            f"trainer.accelerator {accelerator!r} (configs/trainer/gpu.yaml, ddp.yaml and multinode.yaml set it), "
            "but torch finds no GPU of that kind here; on this machine use configs/trainer/cpu.yaml in place of the "
            "GPU preset (a preset's devices, strategy and num_nodes are a GPU machine's too)"
        )


def _one_of_several_processes() -> bool:
    """Whether a launcher started this process as one of several: torchrun (``WORLD_SIZE``), SLURM's ``srun``
    (``SLURM_NTASKS``), or Lightning's DDP launcher (``WORLD_SIZE``, in the processes it starts)."""
    sizes = (os.environ.get(name, "1") for name in ("WORLD_SIZE", "SLURM_NTASKS"))
    return any(size.isdigit() and int(size) > 1 for size in sizes)


def _check_checkpointing(enabled: object) -> None:
    """Refuse ``trainer.enable_checkpointing false``, naming the keys that save no checkpoint.

    The CLI always adds its ModelCheckpoint (``checkpoint.*``); Lightning refuses that under the flag,
    after the data are read, with a message about a callback the user never gave.

    Raises:
        ValueError: naming the flag and the ``checkpoint.*`` keys to use instead.
    """
    if enabled is False:
        raise ValueError(
            "trainer.enable_checkpointing false: the CLI's checkpoint callback (checkpoint.*) is always on; to "
            "save no checkpoint, pass --checkpoint.save_top_k 0 --checkpoint.save_last false instead"
        )


def _check_folders(settings: dict[str, object]) -> None:
    """Refuse a folder setting (``trainer.default_root_dir``, ``checkpoint.dirpath``) that names a file or lies under
    one, before anything is read or trained (Lightning's logger, or the first checkpoint after an epoch, failed with
    ``NotADirectoryError`` or ``FileExistsError``).

    Raises:
        ValueError: naming the key, the path and the file in the way.
    """
    for key, folder in settings.items():
        if not folder:
            continue
        path = Path(str(folder)).expanduser()
        blocking = path if path.exists() and not path.is_dir() else file_in_the_way(path)
        if blocking is not None:
            raise ValueError(f"{key} {folder} is a folder setting, but {blocking} is a file; give a folder")


def _named_subcommand(args: ArgsType, subcommands: dict[str, set[str]]) -> str | None:
    """The subcommand of ``subcommands`` that command-line ``args`` begin with (``fit`` of ``fit --config x.yaml``),
    else ``None``: they begin with an option or another word, or are a dict or Namespace of settings."""
    if not isinstance(args, (list, tuple)) or not args:
        return None
    return args[0] if args[0] in subcommands else None


def _new_run_directory(trainer: Trainer) -> Path | None:
    """The run's folder where its logger makes one of its own for each run (a CSV or TensorBoard logger's
    ``version_N``) and this run's does not exist yet, else ``None``: a folder given (``logger.version`` of an
    earlier run), or shared (another logger's ``save_dir``, ``default_root_dir`` without a logger), holds more
    than this run."""
    directory = run_directory(trainer)
    own = isinstance(trainer.logger, (CSVLogger, TensorBoardLogger))
    return directory if own and not directory.exists() else None


class RunConfigCallback(SaveConfigCallback):
    """Lightning's ``config.yaml`` of a run, also under a logger that keeps no local directory.

    Lightning writes the file into ``trainer.log_dir``, which is ``None`` under such a logger
    (``MLFlowLogger`` with a ``sqlite:`` or ``http:`` tracking URI, whose ``save_dir`` is only a
    ``file:`` URI's folder), and fails there with a bare AssertionError; this writes it into
    ``trainer.default_root_dir`` instead, where the run's reports go too.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.save_to_log_dir = trainer.log_dir is not None  # asked on every rank: log_dir broadcasts
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Writes ``config.yaml`` into ``trainer.default_root_dir`` when the run has no log directory (rank zero)."""
        if self.save_to_log_dir:
            return
        directory = run_directory(trainer)
        directory.mkdir(parents=True, exist_ok=True)
        path = str(directory / self.config_filename)
        self.parser.save(self.config, path, skip_none=False, overwrite=self.overwrite, multifile=self.multifile)


class ForecastCLI(LightningCLI):
    """Lightning's CLI with the data sizes linked into the model and checkpointing on by default.

    ``data.lookback``/``data.horizon`` and the data's channel counts flow into the model, so no number
    is written twice; ``checkpoint.*`` configures the ModelCheckpoint (best on ``val/loss`` plus
    ``last.ckpt``), ``prediction_writer.*`` where ``predict`` writes its table, ``report.*`` the
    metrics tables and plots of ``test`` and ``backtest``, and ``naive_comparison.*`` how ``fit``
    compares the model with the naive forecasts on validation. Runs log to CSV unless ``trainer.logger``
    names another logger (e.g. ``lightning.pytorch.loggers.TensorBoardLogger``).
    """

    def __init__(
        self,
        *args,
        save_config_callback: type[SaveConfigCallback] | None = RunConfigCallback,
        parser_class: type[LightningArgumentParser] = ForecastArgumentParser,
        **kwargs,
    ):
        self._trained_cardinalities: list[int] | None = None  # the checkpoint's, once parse_arguments reads one
        self._missing_checkpoint: str | None = None  # why this process, one of several, found no --ckpt_path file
        self._new_run: Path | None = None  # the run folder the trainer is to make (_new_run_directory)
        given = kwargs.get("args")
        self._named_subcommand = _named_subcommand(sys.argv[1:] if given is None else given, self.subcommands())
        super().__init__(*args, save_config_callback=save_config_callback, parser_class=parser_class, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Lightning's subcommands and ``backtest`` (``ForecastTrainer.backtest``)."""
        return LightningCLI.subcommands() | {"backtest": {"model", "datamodule"}}

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs) -> LightningArgumentParser:
        """Lightning's parser of ``subcommand``, or a bare one where the arguments name another subcommand first.

        Lightning builds the whole parser of every subcommand on each run (0.3 s of a CLI run's 0.55 s on
        a small fit on 2 cores), though only the one named is parsed; the bare parsers keep the others in the
        list of choices. Arguments that name none first (``--help``, ``--config x.yaml fit``) build them all.
        """
        if self._named_subcommand not in (None, subcommand):
            return self.init_parser(**kwargs)
        return super()._prepare_subcommand_parser(klass, subcommand, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ResumableModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "val/loss", "checkpoint.mode": "min", "checkpoint.save_last": True})
        parser.add_lightning_class_args(PredictionWriter, "prediction_writer")
        parser.add_lightning_class_args(FiniteLossCheck, "finite_loss_check")
        parser.add_lightning_class_args(RandomStateCheckpoint, "random_state_checkpoint")
        parser.add_lightning_class_args(NaiveComparison, "naive_comparison")
        # The report's CLI keys are its settings; a backtest makes its own with its windows' split and data.
        parser.callback_keys.append("report")
        parser.add_class_arguments(
            EvaluationReport, "report", fail_untyped=False, sub_configs=True, skip={"split", "passes", "data"}
        )
        parser.link_arguments("data.lookback", "model.lookback")
        parser.link_arguments("data.horizon", "model.horizon")
        for size in ("input_size", "target_size", "future_size", "static_size", "season_channel", "season_length"):
            parser.link_arguments(f"data.{size}", f"model.{size}", apply_on="instantiate")
        parser.link_arguments(
            "data.static_cardinalities",
            "model.static_cardinalities",
            self._static_cardinalities,
            apply_on="instantiate",
        )

    def _static_cardinalities(self, given: list[int]) -> list[int]:
        """The model's categories per static column: those of the checkpoint being read, where there is one, else
        those of the data. Some of the series a checkpoint was trained on may hold fewer categories than it knows;
        the data module takes the checkpoint's vocabularies when it loads, and names a category it does not know."""
        trained = self._trained_cardinalities
        return trained if trained is not None and len(trained) == len(given) else given

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Lightning's parsing, then ``best``/``last`` resolved to a file and ``read_checkpoint``'s checks of it.

        Lightning reads the file's hyperparameters into the config next and builds the model from
        them, so ``best`` and ``last`` become the file here (``resolve_checkpoint`` under
        ``trainer.default_root_dir`` and in ``checkpoint.dirpath``), to be read as a path given would
        be. Refused before anything is built, with an error naming the fix: a damaged file, or one
        naming a class outside a part's base, or one trained on windows of another lookback or horizon
        than ``data.lookback`` and ``data.horizon`` (its weights would not fit) (ValueError); a path
        that names no file (FileNotFoundError; in a process that is one of several, raised once the
        process group is up, by every process alike: ``SameCheckpointCheck``); a ``trainer.accelerator``
        of a GPU that this machine lacks, ``trainer.enable_checkpointing false``, a folder setting that names a
        file (``_check_folders``), a ``predict`` of ``trainer.limit_predict_batches`` 0, and model settings that
        set a model key linked from the data (``model.lookback`` in a config or model file, or inline in
        ``--model '{...}'``; refused also under ``--print_config``), or a flag that sets a size
        (``--model.input_size``) (ValueError).
        ``predict`` reads all of its data as history (``HistorySplit``), whatever ``data.split`` says:
        the split is for fitting and evaluating, and the forecast starts after each series' last row.
        """
        check_linked_flags(args)
        check_linked_keys(args, ForecastCLI.subcommands())
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        _check_accelerator(config.get("trainer.accelerator"))
        _check_checkpointing(config.get("trainer.enable_checkpointing"))
        _check_folders({key: config.get(key) for key in ("trainer.default_root_dir", "checkpoint.dirpath")})
        if subcommand == "predict" and config.get("trainer.limit_predict_batches") == 0:  # Lightning skips the loop
            raise ValueError(
                "trainer.limit_predict_batches is 0, so predict would forecast and write nothing, and say nothing; "
                "drop it (every series' forecast) or give it 1 or more batches"
            )
        root = config.get("trainer.default_root_dir") or os.getcwd()  # the trainer's default
        settings = config["checkpoint"].as_dict()
        settings.pop("__path__", None)  # the file of `--checkpoint checkpoint.yaml`
        checkpoint = ResumableModelCheckpoint(**settings)  # where and what it saves; it writes nothing yet
        ckpt_path = config["ckpt_path"] = self._resolve_checkpoint(config.get("ckpt_path"), root, checkpoint)
        if ckpt_path and Path(ckpt_path).is_file():
            trained = read_checkpoint(ckpt_path, Forecaster)["hyper_parameters"]
            self._trained_cardinalities = _cardinalities(trained)
            differing = [key for key in ("lookback", "horizon") if trained.get(key) != config.get(f"data.{key}")]
            if differing:
                given = ", ".join(f"{key} {config.get(f'data.{key}')}" for key in differing)
                needed = ", ".join(f"{key} {trained.get(key)}" for key in differing)
                flags = " ".join(f"--data.{key} {trained.get(key)}" for key in differing)
                raise ValueError(f"{ckpt_path} was trained on windows of {needed}, not {given}: pass {flags}")
        if subcommand == "predict":  # every row is history, as for Forecaster.predict: a series needs its lookback
            config["data.split"] = Namespace(class_path="forecast.predict.HistorySplit", init_args=Namespace())

    def _resolve_checkpoint(self, ckpt_path: str | None, root: str, checkpoint: ModelCheckpoint) -> str | None:
        """``resolve_checkpoint`` and ``check_checkpoint_exists``; where this process is one of several and finds no
        file, ``None``, its error kept for ``SameCheckpointCheck``: raised here, it would end this process alone,
        and the others, on nodes that found the file, would wait for it until the process group timed out."""
        try:
            resolved = resolve_checkpoint(ckpt_path, root, checkpoint)
            check_checkpoint_exists(resolved, root)
        except FileNotFoundError as error:
            if not _one_of_several_processes():
                raise
            self._missing_checkpoint = str(error)
            return None
        return resolved

    def _report_ckpt_path(self) -> None:
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path"):
            _check_checkpoint_data(config["ckpt_path"], self.model)
            rank_zero_info(f"{self.subcommand}: checkpoint {config['ckpt_path']}")
        elif (
            self.subcommand != "fit"
            and not config.get("refit_every")
            and any(parameter.requires_grad for parameter in self.model.parameters())
        ):
            warn_on_rank_zero(
                f"{self.subcommand} without --ckpt_path evaluates untrained weights; "
                "pass --ckpt_path best (only parameter-free baselines need none)"
            )

    before_fit = before_validate = before_test = before_predict = before_backtest = _report_ckpt_path

    def instantiate_trainer(self, **kwargs) -> Trainer:
        """The trainer, logging to CSV in ``default_root_dir`` unless ``trainer.logger`` chooses a logger,
        and writing checkpoints atomically unless a ``CheckpointIO`` among ``trainer.plugins`` writes them (an
        environment plugin keeps the writer, as in ``forecast.fit``); ``trainer.callbacks`` come in addition to the
        CLI's own (``checkpoint``, ``prediction_writer``, ...). A fit that sets
        no limit of its own trains ``_DEFAULT_MAX_EPOCHS`` epochs at most, or its ``min_epochs`` where more
        (``_sets_no_limit``). Where it
        trains (``_trains``), a ModelCheckpoint or EarlyStopping that monitors a metric the fit never logs is
        refused before it starts (``forecast.monitors.check_monitors``), unless ``trainer_defaults`` add callbacks:
        a caller of ``main`` that adds its own (``forecast tune``'s pruning on ``--metric``) checks what they monitor.

        Lightning's own default is TensorBoard whenever it is installed; CSV needs no extra install
        and keeps ``metrics.csv`` in the same place on every machine.
        """
        trainer = self._get(self.config_init, "trainer", default={})
        _check_own_callbacks(trainer.get("callbacks"), self._get(self.config_init, "checkpoint"))
        callbacks = callback_list(trainer.get("callbacks")) + callback_list(self.trainer_defaults.get("callbacks"))
        if _sets_no_limit(trainer, callbacks):
            most = max(_DEFAULT_MAX_EPOCHS, trainer.get("min_epochs") or 0)  # never below the fit's own minimum
            kwargs.setdefault("max_epochs", most)
            if self.subcommand in ("fit", "backtest"):
                rank_zero_info(
                    "trainer.max_epochs, max_steps and max_time not set, nor an EarlyStopping or a Timer: training at "
                    f"most {most} epochs (pass --trainer.max_epochs N, or -1 for no limit)"
                )
        if trainer.get("logger") in (None, True):
            kwargs.setdefault("logger", CSVLogger(trainer.get("default_root_dir") or os.getcwd()))
        kwargs["plugins"] = with_atomic_writes(trainer.get("plugins"))
        # Among the trainer's arguments, so that a backtest's tester, made with them, checks its checkpoint too.
        same = SameCheckpointCheck(self._get(self.config_init, "ckpt_path"), self._missing_checkpoint)
        kwargs["callbacks"] = [*callback_list(trainer.get("callbacks")), same]
        built = super().instantiate_trainer(**kwargs)
        checkpoint = self._get(self.config_init, "checkpoint")
        _checkpoint_first(built, checkpoint)
        if self._trains() and not self.trainer_defaults.get("callbacks"):  # a caller's own check theirs
            check_monitors(built.callbacks, self.model, checkpoint)
        # The logger's version, fixed here by asking for its directory: a spawning strategy (ddp_spawn) runs the fit in
        # copies of this trainer, and this process's logger, which never logs, would name the next free version after.
        self._new_run = _new_run_directory(built)
        return built

    def _run_subcommand(self, subcommand: str) -> None:
        """Lightning's run of ``subcommand``, less the run folder that a failed evaluation made.

        A ``validate``, ``test``, ``predict`` or ``backtest`` without refits that fails once the trainer runs (data
        that ``setup`` refuses, say) would leave a new ``version_N`` holding only ``config.yaml`` and ``hparams.yaml``,
        or nothing, which reads as a run with results: rank zero removes it, and the error is raised as it was. A
        run that trains (``fit``, a backtest with ``refit_every``) keeps its folder, whose checkpoints resume it; so
        does a folder that existed before (``logger.version``).
        """
        try:
            super()._run_subcommand(subcommand)
        except Exception:
            if self._new_run is not None and not self._trains() and self.trainer.is_global_zero:
                shutil.rmtree(self._new_run, ignore_errors=True)
            raise

    def _trains(self) -> bool:
        """Whether the subcommand trains the model: ``fit``, a ``backtest`` with ``refit_every``, or none given
        (``main(run=False)``, whose caller may fit)."""
        if self.subcommand == "backtest":
            return bool(self.config_init[self.subcommand].get("refit_every"))
        return self.subcommand in (None, "fit")

    def after_test(self) -> None:
        """Where the test scored a cell of the long-horizon benchmark as its published figures were (a named data
        set, its protocol, every test window), a line of where it stands among them (``datasets.published``)."""
        source, metrics = self.datamodule.hparams.get("source"), self.trainer.callback_metrics
        dataset = source.lower() if isinstance(source, str) else None
        if (
            dataset in PUBLISHED
            and standard_protocol(dataset, self.datamodule.hparams)
            and tested_every_window(self.trainer)
            and {"test/mse", "test/mae"} <= metrics.keys()
        ):
            line = standing(dataset, self.datamodule.horizon, float(metrics["test/mse"]), float(metrics["test/mae"]))
            if line:
                rank_zero_info(line)

    def after_fit(self) -> None:
        rank_zero_info(f"run directory: {run_directory(self.trainer)}")
        best = self._get(self.config_init, "checkpoint").best_model_path  # on checkpoint.monitor, as `best` reads
        if best:
            rank_zero_info(f"best checkpoint: {best}")


def main(args: list[str] | None = None, *, run: bool = True, trainer_defaults: dict | None = None) -> ForecastCLI:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks). Returns it, with its
    ``model``, ``datamodule`` and ``trainer``. ``run=False`` takes no subcommand and only builds them;
    ``trainer_defaults`` is LightningCLI's (``forecast tune`` adds its pruning callback there)."""
    return ForecastCLI(
        Forecaster,
        TimeSeriesDataModule,
        trainer_class=ForecastTrainer,
        args=args,
        run=run,
        trainer_defaults=trainer_defaults,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={
            "prog": "python -m forecast",
            "description": "Recurrent time series forecasting: fit, validate, test, predict and backtest a config "
            "(`python -m forecast tune --help`: an Optuna study of its settings). A fit that sets none of "
            "trainer.max_epochs, max_steps, max_time, min_steps, an EarlyStopping or a Timer trains "
            f"{_DEFAULT_MAX_EPOCHS} epochs at most (trainer.min_epochs where more), not Lightning's 1000.",
        },
    )
