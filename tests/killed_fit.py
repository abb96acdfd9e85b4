"""``python tests/killed_fit.py HOOK COUNT ARGS...``: ``forecast fit ARGS``, SIGKILLed at the COUNT-th call of HOOK.

A kill at a chosen callback hook (counted outside the sanity check) lands at the same point of the
loop in every run, where a timed kill lands anywhere: the resume tests kill at step boundaries,
inside the optimizer step, during a checkpoint save, a validation and at an epoch's end.
"""

import os
import signal
import sys

import lightning as L

from forecast.cli import main

HOOKS = (
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_before_optimizer_step",
    "on_train_batch_end",
    "on_save_checkpoint",
    "on_validation_start",
    "on_validation_end",
    "on_train_epoch_end",
)


class KillAt(L.Callback):
    """Kills its own process with SIGKILL at the ``count``-th call of ``hook``."""

    def __init__(self, hook: str, count: int):
        if hook not in HOOKS:
            raise ValueError(f"hook {hook!r} is not one of {HOOKS}")
        self.hook, self.count, self.calls = hook, count, 0

    def _called(self, hook: str, trainer: L.Trainer) -> None:
        if hook == self.hook and not trainer.sanity_checking:
            self.calls += 1
            if self.calls == self.count:
                os.kill(os.getpid(), signal.SIGKILL)


for _hook in HOOKS:
    setattr(KillAt, _hook, lambda self, trainer, *args, _hook=_hook, **kwargs: self._called(_hook, trainer))

if __name__ == "__main__":
    hook, count, *args = sys.argv[1:]
    main([*args, "--trainer.callbacks+=killed_fit.KillAt", f"--trainer.callbacks.hook={hook}",
          f"--trainer.callbacks.count={count}"])  # fmt: skip
