"""``forecast tune --lr_find true``: Lightning's learning-rate finder on a ``fit`` config, in place of a study."""

from collections.abc import Sequence
from pathlib import Path

import yaml
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .cli import main as cli_main

__all__ = ["find_lr"]


def find_lr(fit_args: Sequence[str], run_dir: Path, num_training: int) -> float:
    """Lightning's learning-rate finder on the config: ``lr_find.png`` and ``lr_find.yaml`` in ``run_dir``.

    ``lr_find.yaml`` sets ``model.optimizer.init_args.lr`` to the suggestion: add it as a last
    ``--config`` to ``fit`` or ``tune``. Returns the suggested learning rate.

    Raises:
        ValueError: too few steps ran for a suggestion (the plot is still written).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    cli = cli_main([*fit_args, "--trainer.default_root_dir", str(run_dir)], run=False)
    tuner = Tuner(cli.trainer)
    finder = tuner.lr_find(cli.model, datamodule=cli.datamodule, num_training=num_training, update_attr=False)
    lr = finder.suggestion()
    figure = finder.plot(suggest=lr is not None)  # needs matplotlib, which Lightning imports for it
    figure.savefig(run_dir / "lr_find.png", dpi=120)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (here, as Lightning imports it: only where it plots)

    plt.close(figure)  # written: left open, pyplot keeps it (and a notebook shows it again)
    if lr is None:
        raise ValueError(
            f"the learning-rate finder ran {len(finder.results['lr'])} steps, too few to suggest a rate; "
            "raise --lr_find_steps, or trainer.max_epochs / trainer.limit_train_batches if they stop it sooner"
        )
    (run_dir / "lr_find.yaml").write_text(
        f"# Lightning's learning-rate finder over {num_training} steps; plot: lr_find.png\n"
        + yaml.safe_dump({"model": {"optimizer": {"init_args": {"lr": lr}}}})
    )
    rank_zero_info(f"suggested learning rate: {lr:.3g} (written to {run_dir / 'lr_find.yaml'})")
    return lr
