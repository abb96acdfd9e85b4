"""Callbacks the CLI adds to every run."""

import hashlib
import importlib
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import BasePredictionWriter, Callback, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .checkpointing import output_file
from .data import TimeSeriesDataModule
from .data.sharding import gather_objects
from .predict import forecast_table

__all__ = [
    "FiniteLossCheck",
    "PredictionWriter",
    "RandomStateCheckpoint",
    "ResumableModelCheckpoint",
    "SameCheckpointCheck",
    "callback_list",
    "gather_windows",
    "run_directory",
]


def callback_list(callbacks: Callback | list[Callback] | None) -> list[Callback]:
    """``trainer.callbacks`` as a list: ``lightning.Trainer`` (and the config key) takes a list, one callback or
    nothing."""
    return [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])


def run_directory(trainer: L.Trainer) -> Path:
    """Where a run's files go: the trainer's ``log_dir``, or ``default_root_dir`` under a logger that keeps no
    local directory (``MLFlowLogger`` with a ``sqlite:`` or ``http:`` tracking URI). The same on every
    process: ``log_dir`` is broadcast from rank zero. A leading ``~`` is the home folder, where the logger
    writes (a ``log_dir`` under ``default_root_dir: ~/runs`` keeps it)."""
    return Path(trainer.log_dir or trainer.default_root_dir).expanduser()


def gather_windows(windows: dict[str, np.ndarray] | None, keys: Sequence[str]) -> dict[str, np.ndarray] | None:
    """Every process's windows on rank 0, each once, ordered by ``keys`` as one process orders them.

    Under DDP every process holds a share of the windows (``None``: none); rank 0 gets them all and
    the other ranks ``None``. A window is identified by its ``keys`` (e.g. series and time), so one
    that two processes hold is kept once. Without DDP the windows come back as they are.

    Args:
        windows: per field an array whose first dimension is the window.
        keys: the integer fields that identify a window, in sort order.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return windows
    shares: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(windows, shares, dst=0)
    shares = [share for share in shares or [] if share is not None]
    if not shares:
        return None
    merged = {name: np.concatenate([share[name] for share in shares]) for name in shares[0]}
    identity = np.stack([merged[key] for key in keys], axis=1)  # -> (N_all, len(keys))
    _, first = np.unique(identity, axis=0, return_index=True)  # sorted by the keys in turn
    return {name: value[first] for name, value in merged.items()}


_COMPRESSIONS = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}  # that pandas writes a CSV in, from its name
_PACKAGES = {".zst": "zstandard"}  # compressions pandas writes only with a package forecast does not install


def _table_format(output: str) -> str:
    """``parquet`` or ``csv``, as the name of ``output`` says (in any case; a CSV may be compressed, as in
    ``forecasts.csv.gz``).

    Raises:
        ValueError: the name is neither (a CSV written under another name, ``forecasts.pq``, would fail
            whatever reads it by its name), or a compression whose package is not installed.
    """
    suffixes = [suffix.lower() for suffix in Path(output).suffixes]
    if suffixes[-1:] == [".parquet"]:
        return "parquet"
    if suffixes[-1:] == [".csv"] or (suffixes[-2:-1] == [".csv"] and suffixes[-1] in _COMPRESSIONS):
        _check_package(output, _PACKAGES.get(suffixes[-1]))
        return "csv"
    raise ValueError(
        f"prediction_writer.output {output!r} names neither a .csv nor a .parquet file; give a path such as "
        "forecasts.csv, forecasts.csv.gz or forecasts.parquet"
    )


def _check_package(output: str, package: str | None) -> None:
    """Refuse ``output`` now, not after the forecasts, where its compression needs ``package`` and it is missing."""
    if package is None:
        return
    try:
        importlib.import_module(package)
    except ImportError:
        raise ValueError(
            f"prediction_writer.output {output!r}: pandas compresses it with the {package} package, which is not "
            f"installed; pip install {package}, or give forecasts.csv.gz"
        ) from None


class PredictionWriter(BasePredictionWriter):
    """Writes the forecasts of ``predict`` as a long table: ``id``, ``time``, one column per target.

    Forecasts are in original units, with times continuing each series at its frequency. A
    probabilistic model adds a column per target and quantile level, e.g. ``OT_q0.9``. Under DDP
    the ranks' forecasts are gathered and rank 0 writes one table, in the order of one process.

    Args:
        output: a ``.csv`` (``.csv.gz``, ...) or ``.parquet`` path (``~`` is the home folder, as in a shell);
            ``None`` writes ``predictions.csv`` in the run directory.

    Raises:
        ValueError: ``output`` names neither a CSV nor a Parquet file, or names a folder or a path under a file;
            or ``predict`` was given no
            ``TimeSeriesDataModule`` (dataloaders alone), whose series ids, times and targets the table needs.
    """

    def __init__(self, output: str | None = None):
        super().__init__(write_interval="epoch")
        if output is not None:
            _table_format(output)  # refused now, not after the forecasts
            output_file(output, "prediction_writer.output", "predictions.csv", make_folder=False)
        self.output = output

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Refuse a ``predict`` without the data module, before it forecasts."""
        datamodule = trainer.datamodule
        if stage == "predict" and not isinstance(datamodule, TimeSeriesDataModule):
            given = "none" if datamodule is None else f"a {type(datamodule).__name__}"
            raise ValueError(
                "PredictionWriter writes each forecast under its series id and time, which it reads from the "
                f"TimeSeriesDataModule of the predict call, and got {given}; call trainer.predict(model, "
                "datamodule=data) rather than passing its dataloaders"
            )

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: list[Any], batch_indices: Any
    ) -> None:
        # On every process, before rank 0 alone goes on: the run directory is a broadcast from rank 0.
        path = Path(self.output).expanduser() if self.output else run_directory(trainer) / "predictions.csv"
        stacked = gather_windows(
            {key: torch.cat([p[key] for p in predictions]).cpu().numpy() for key in predictions[0]}, ("series", "time")
        )
        if stacked is None:  # another rank than 0
            return
        table = forecast_table(
            trainer.datamodule,
            stacked["forecast"],  # (N, H, C_out)
            stacked["series"],
            stacked["time"],
            stacked.get("quantiles"),  # (N, H, C_out, Q)
            pl_module.loss.levels,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        if _table_format(str(path)) == "parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        rank_zero_info(f"predictions: {path}")


class FiniteLossCheck(Callback):
    """Stops ``fit`` at the first NaN or infinite training loss, before it reaches the weights.

    The error names the epoch, global step and batch index, so the run can be replayed up to it
    (``--seed_everything`` and ``trainer.deterministic: true``); no checkpoint of NaN weights is
    written. Usual fixes: a lower ``model.optimizer.init_args.lr``, ``trainer.gradient_clip_val``, or
    ``data.nan_policy`` for NaN in the data.

    Under DDP every process stops at the same step, with an error that names the processes whose
    loss it was: one that stopped alone would leave the others waiting in the gradient all-reduce
    (with NCCL, for ever). The check costs one collective of one number per process and step.

    Raises:
        FloatingPointError: the training loss of any process is NaN or infinite.
    """

    def __init__(self):
        self.batch_idx = -1

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        self.batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss).all()
        finite_by_rank = trainer.strategy.all_gather(finite.int()).reshape(-1)  # -> (world_size,)
        if finite_by_rank.all():
            return
        value = "not finite" if finite else loss.item()
        ranks = finite_by_rank.eq(0).nonzero().flatten().tolist()
        where = ""
        if len(finite_by_rank) > 1:
            where = f" on process{'es' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))} of {len(finite_by_rank)}"
        raise FloatingPointError(
            f"training loss is {value}{where} at epoch {trainer.current_epoch}, global step "
            f"{trainer.global_step}, batch index {self.batch_idx} of the epoch; stopped before the "
            "update. Try a lower model.optimizer.init_args.lr, trainer.gradient_clip_val, or check the data."
        )


# Where ``seed_everything`` keeps the run's seed, which Lightning's and forecast's samplers read.
_SEED_VARIABLE = "PL_GLOBAL_SEED"


class RandomStateCheckpoint(Callback):
    """Saves the random generators of this process, and the run's seed, in each checkpoint and restores
    them on resume.

    Lightning restores weights, optimizer, scheduler and loop counters, but a resumed run starts
    from ``seed_everything``'s generators: the next epoch's shuffle, dropout masks and worker seeds
    would repeat the first epoch's. Samplers seeded from the run's seed (``data.sampling: series``,
    DDP's shares) would draw from the resumed process's seed, a new one under ``seed_everything:
    true`` (Lightning's default). With these back, a run resumed at an epoch boundary goes on exactly
    as if never stopped (with ``trainer.deterministic: true``). States are plain lists, strings and
    tensors, so checkpoints still load with ``weights_only=True``.

    Of the GPU generators it keeps the one this process draws from (its ``torch.cuda.current_device()``)
    and restores it into the resuming process's own: under DDP only rank 0's state is saved, and each
    rank draws from its own device, which ``seed_everything`` seeded alike on every rank. A resume
    on a machine with fewer GPUs than the one that saved works as well.
    """

    def state_dict(self) -> dict[str, Any]:
        name, keys, position, has_gauss, cached = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [name, keys.tolist(), position, has_gauss, cached],
            "python": random.getstate(),
            "seed": os.environ.get(_SEED_VARIABLE),  # None: the run was not seeded
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()  # of this process's device
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        name, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
        random.setstate(state_dict["python"])
        if "seed" in state_dict:  # absent in checkpoints written before it was saved
            if state_dict["seed"] is None:
                os.environ.pop(_SEED_VARIABLE, None)
            else:
                os.environ[_SEED_VARIABLE] = state_dict["seed"]
        if "cuda" in state_dict and torch.cuda.is_available():
            cuda = state_dict["cuda"]
            # Checkpoints from before kept every device of the saving process: rank 0's, usually the first.
            torch.cuda.set_rng_state(cuda[0] if isinstance(cuda, list) else cuda)


class SameCheckpointCheck(Callback):
    """Refuses, on every process alike, a run whose processes did not all find the same ``--ckpt_path`` file.

    Each process resolves ``--ckpt_path`` on its own node's disk (``best`` and ``last``: in the newest run under
    ``trainer.default_root_dir``). Where the nodes keep their runs on disks of their own, a node finds no run, or
    another run than the first node's: its processes failed alone, or loaded other weights and epochs, and the
    others waited at their next collective until the process group timed out (30 minutes by default). Once the
    process group is up (``setup``), the processes compare what they found: the file's SHA-256, or why none.

    Args:
        ckpt_path: the file this process found for ``--ckpt_path`` (Lightning's ``trainer.ckpt_path`` is set only
            after ``setup``, as the file loads).
        missing: why this process found no checkpoint (its ``FileNotFoundError``'s message), which the CLI keeps
            for this check where the process is one of several, so that every process refuses alike.
    """

    def __init__(self, ckpt_path: str | None = None, missing: str | None = None):
        self.ckpt_path = ckpt_path
        self.missing = missing

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Raises FileNotFoundError where a process found no checkpoint, ValueError where they found different
        files; each naming the processes, their nodes and the fix."""
        if trainer.world_size == 1:
            if self.missing:
                raise FileNotFoundError(self.missing)
            return
        found = gather_objects((trainer.node_rank, self.missing, self.ckpt_path, _digest(self.ckpt_path)))
        fix = (
            "every process reads --ckpt_path on its own node: keep trainer.default_root_dir (and checkpoint.dirpath) "
            "on a filesystem all nodes share, or copy the checkpoint to the same path on every node and pass that path"
        )
        missing = [(rank, node, error) for rank, (node, error, _, _) in enumerate(found) if error]
        if missing:
            where = ", ".join(f"{rank} (node {node})" for rank, node, _ in missing)
            raise FileNotFoundError(
                f"process {where} of {len(found)} found no checkpoint: {missing[0][2]}. Across nodes, {fix}"
            )
        if len({digest for *_, digest in found}) > 1:
            files = "; ".join(f"process {rank} (node {node}): {path}" for rank, (node, _, path, _) in enumerate(found))
            raise ValueError(f"the processes found different checkpoints for --ckpt_path ({files}); {fix}")


def _digest(path: str | None) -> str | None:
    """The SHA-256 of the local file ``path``; a remote path (``s3://...``) or none as it is."""
    if not path or not Path(path).is_file():
        return path
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ResumableModelCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, with files that a killed fit resumes from exactly.

    With ``every_n_train_steps``, Lightning writes a step that ends an epoch in ``on_train_batch_end``,
    before the epoch's validation; a fit resumed from that file counts the epoch as done and skips
    its validation and epoch-end hooks, so early stopping and the best checkpoint never see that
    epoch. Such a step is written here at the end of the epoch, after them, as Lightning writes its
    epoch checkpoints (a ``train_time_interval`` save due at that batch waits for the next batch).

    Lightning 2.6 writes ``last.ckpt`` only at a step where it writes a top-k file, so that after the best
    epoch (or always, under ``save_top_k: 0``) it stopped moving, and a killed fit resumed from the best
    epoch and trained every later one again. Here it holds every step a checkpoint is due at (each
    ``every_n_epochs``, ``every_n_train_steps`` or ``train_time_interval``), as before Lightning 2.6;
    ``save_last: link`` keeps Lightning's meaning, a link to the newest top-k file.

    Lightning writes ``last.ckpt`` at the end of a fit only when the process has written none: a
    fit that never stopped ends with the last multiple of ``every_n_train_steps`` in it, a resumed one
    (which defers its first save until it has validated) with the final step. Here every fit ends
    with its final weights in ``last.ckpt``.

    A resumed fit logs to a new run folder (``version_N``), where Lightning would forget the scores of
    the epochs before the resume (its "dirpath has changed" warning), so that the first epoch after
    it counted as the best whatever its score. Here they are kept, as in a fit that never stopped; the
    earlier folder's files stay where they are (Lightning deletes files in its own folder only).

    Lightning steps a per-epoch ``ReduceLROnPlateau`` after the epoch's checkpoints, and a fit resumed from one
    of them counts the epoch as done and skips that step, having kept no score to take it with: every resume
    would put the learning-rate cuts an epoch later. Here a checkpoint written before that step keeps the
    scores the step reads, and a fit resumed from it takes the step before it trains.

    Under ``trainer.accumulate_grad_batches``, a checkpoint may fall between two optimizer steps (a validation every
    ``val_check_interval`` batches, a ``train_time_interval``): the batches since the last step have added to the
    gradients, which Lightning does not save, and a fit resumed from it stepped on the later batches' alone. Here
    such a checkpoint keeps those gradients (under DDP their mean over the processes, which the step averages), and
    a fit resumed from it starts from them.

    Its arguments are ``ModelCheckpoint``'s; its state in a checkpoint keeps Lightning's key, so
    checkpoints of either restore into the other.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._trainer: L.Trainer | None = None
        self._plateau_steps: list[list[Any]] = []  # [scheduler index, score] of the steps a resume owes
        self._gradients: dict[str, torch.Tensor] = {}  # by parameter name: what a resume's first step adds to

    @property
    def state_key(self) -> str:
        return ModelCheckpoint.__qualname__ + super().state_key.removeprefix(type(self).__qualname__)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._trainer = trainer

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Let go of the run's trainer: a copy of a used callback (a backtest's refits take one each) copied it, with
        its model and data module."""
        super().teardown(trainer, pl_module, stage)
        self._trainer = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._trainer is not None and self._trainer.state.fn == TrainerFn.FITTING:
            state["plateau_steps"] = _pending_plateau_steps(self._trainer)
            state["gradients"] = _accumulated_gradients(self._trainer)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._plateau_steps = state_dict.get("plateau_steps", [])  # none in checkpoints from before they were kept
        self._gradients = state_dict.get("gradients", {})
        super().load_state_dict(state_dict | {"dirpath": self.dirpath})  # the best so far, from any folder

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        configs = trainer.lr_scheduler_configs
        for index, score in self._plateau_steps:
            if index < len(configs) and configs[index].reduce_on_plateau:  # the resumed fit's schedulers may differ
                configs[index].scheduler.step(score)
        self._plateau_steps = []
        for name, parameter in pl_module.named_parameters():
            if name in self._gradients:
                parameter.grad = self._gradients[name].to(parameter.device, parameter.dtype)
        self._gradients = {}

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        super()._save_topk_checkpoint(trainer, monitor_candidates)
        if self.save_last is True and self._last_global_step_saved != trainer.global_step:  # not among the best
            self._save_last_checkpoint(trainer, monitor_candidates)

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        written = self._last_checkpoint_saved == self.last_model_path  # the newest file written is last.ckpt
        if not (written and self._last_global_step_saved == trainer.global_step):  # ... of this step
            super()._save_last_checkpoint(trainer, monitor_candidates)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:  # the last is saved at the epoch's end
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        due = self._every_n_train_steps >= 1 and trainer.global_step % self._every_n_train_steps == 0
        if due and not self._should_skip_saving_checkpoint(trainer):
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):  # skipped: saved at this step
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def _pending_plateau_steps(trainer: L.Trainer) -> list[list[Any]]:
    """``[scheduler index, score]`` of each per-epoch ``ReduceLROnPlateau`` that Lightning steps after this
    epoch's checkpoints (its batches done, the epoch not yet completed), with the score it will read."""
    batches, epochs = trainer.fit_loop.epoch_loop.batch_progress, trainer.fit_loop.epoch_progress.current
    batches_done = batches.current.ready == trainer.num_training_batches or batches.is_last_batch
    if not batches_done or epochs.completed >= epochs.ready:
        return []
    pending = []
    for index, config in enumerate(trainer.lr_scheduler_configs):
        due = config.interval == "epoch" and (trainer.current_epoch + 1) % config.frequency == 0
        logged = trainer.callback_metrics.get(config.monitor or "")
        score = _stepped_score(trainer.lightning_module, logged) if config.reduce_on_plateau and due else None
        if score is not None:
            pending.append([index, score])
    return pending


def _accumulated_gradients(trainer: L.Trainer) -> dict[str, torch.Tensor]:
    """The gradients of ``trainer``'s model by parameter name where the batches since its last optimizer step add to
    them for the next (``trainer.accumulate_grad_batches``), averaged over the processes; none after a step."""
    module = trainer.lightning_module
    if not module.automatic_optimization or not trainer.fit_loop._should_accumulate():
        return {}
    return {
        name: trainer.strategy.reduce(parameter.grad.detach().clone(), reduce_op="mean")
        for name, parameter in module.named_parameters()
        if parameter.grad is not None
    }


class _ScoreTaker:
    """Stands in for a scheduler, taking the score that a module's ``lr_scheduler_step`` steps it with."""

    def __init__(self):
        self.score: Any = None

    def step(self, score: Any = None) -> None:
        self.score = score


def _stepped_score(module: L.LightningModule, logged: torch.Tensor | None) -> float | None:
    """The score ``module`` steps a plateau scheduler with, given the ``logged`` one (``Forecaster`` steps one on
    ``train/loss`` per epoch with the epoch's mean loss, not the last batch's); ``None`` where it takes no step."""
    if logged is None:  # Lightning takes no step without the score
        return None
    taker = _ScoreTaker()
    module.lr_scheduler_step(taker, logged)
    return None if taker.score is None else float(taker.score)
