"""``forecast tune --lr_find true``: Lightning's learning-rate finder on a ``fit`` config, in place of a study."""

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .cli import main as cli_main

__all__ = ["find_lr"]


def find_lr(fit_args: Sequence[str], run_dir: Path, num_training: int) -> float:
    """Lightning's learning-rate finder on the config: ``lr_find.png`` and ``lr_find.yaml`` in ``run_dir``.

    ``lr_find.yaml`` sets ``model.optimizer.init_args.lr`` to the suggestion: add it as a last
    ``--config`` to ``fit`` or ``tune``; its first line says how many steps ran and the rates they tried (fewer
    than ``num_training`` where the loss diverged, or where ``trainer.max_epochs`` ended the sweep sooner).
    Returns the suggested learning rate.

    Raises:
        ValueError: ``trainer.fast_dev_run`` is set (Lightning skips the finder), or the model has no weights to
            train (a baseline such as ``forecast.nn.LastValueHead``), both before the finder runs; too few steps ran
            for a suggestion (the plot is still written).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    cli = cli_main([*fit_args, "--trainer.default_root_dir", str(run_dir)], run=False)
    _check_findable(cli.trainer, cli.model)
    tuner = Tuner(cli.trainer)
    finder = tuner.lr_find(cli.model, datamodule=cli.datamodule, num_training=num_training, update_attr=False)
    lr = finder.suggestion()
    figure = finder.plot(suggest=lr is not None)  # needs matplotlib, which Lightning imports for it
    figure.savefig(run_dir / "lr_find.png", dpi=120)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (here, as Lightning imports it: only where it plots)

    plt.close(figure)  # written: left open, pyplot keeps it (and a notebook shows it again)
    rates = finder.results["lr"]
    if lr is None:
        raise ValueError(
            f"the learning-rate finder ran {len(rates)} steps, too few to suggest a rate; "
            "raise --lr_find_steps, or trainer.max_epochs / trainer.limit_train_batches if they stop it sooner"
        )
    (run_dir / "lr_find.yaml").write_text(
        f"# Lightning's learning-rate finder over {len(rates)} of {num_training} steps, rates {rates[0]:.3g} to "
        f"{rates[-1]:.3g}; plot: lr_find.png\n" + yaml.safe_dump({"model": {"optimizer": {"init_args": {"lr": lr}}}})
    )
    rank_zero_info(f"suggested learning rate: {lr:.3g} (written to {run_dir / 'lr_find.yaml'})")
    return lr


def _check_findable(trainer: L.Trainer, model: L.LightningModule) -> None:
    """Refuse a fit the finder cannot sweep, before it runs: Lightning skips the finder under ``fast_dev_run`` and
    returns no result, and a model without weights to train has no optimizer whose rate it could raise (where
    Lightning would fail with an ``AttributeError`` or ``IndexError`` that names neither).

    Raises:
        ValueError: naming the config key and the fix.
    """
    if trainer.fast_dev_run:
        raise ValueError(
            "--lr_find true: trainer.fast_dev_run runs a few batches only, and Lightning skips the learning-rate "
            "finder under it; unset trainer.fast_dev_run (the finder's steps are --lr_find_steps)"
        )
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ValueError(
            "--lr_find true: the model has no weights to train (model.encoder and model.head build a baseline, "
            f"{type(model.head).__name__}), so there is no learning rate to find; choose model parts with weights"
        )
