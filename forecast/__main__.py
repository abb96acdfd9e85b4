"""``python -m forecast`` and the ``forecast`` command: ``tune`` runs an Optuna study (forecast.tune), every
other subcommand the Lightning CLI."""

import dis
import sys
from collections.abc import Callable
from pathlib import Path

import torch.distributed

from .errors import ForecastDataError

_PACKAGE = Path(__file__).resolve().parent
# The types of the package's errors for a user's mistake (a key out of range, a missing column or file, a
# learning rate that makes the loss NaN: FiniteLossCheck's FloatingPointError).
_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FloatingPointError)


def _is_our_message(error: Exception, roots: tuple[Path, ...] = (_PACKAGE,)) -> bool:
    """Whether ``error`` is a ``ForecastDataError``, or one of ``_USER_ERRORS`` that a ``raise`` statement
    of the forecast package (or of another folder of ``roots``: the benchmark scripts pass theirs) raised: a
    message written for the user, naming the key or column and the fix.

    The same types raised inside torch, pandas, Lightning or jsonargparse, or by a builtin that our code
    called (``int("x")`` fails in our frame, but at no ``raise`` of ours), are bugs to report, with their
    traceback. Lightning and jsonargparse pass our errors on unwrapped: the innermost frame stays ours.
    """
    if isinstance(error, ForecastDataError):
        return True
    innermost = error.__traceback__
    while innermost.tb_next is not None:
        innermost = innermost.tb_next
    code = innermost.tb_frame.f_code
    if not any(Path(code.co_filename).resolve().is_relative_to(root) for root in roots):
        return False
    return any(
        instruction.offset == innermost.tb_lasti and instruction.opname == "RAISE_VARARGS"
        for instruction in dis.get_instructions(code)
    )


def _tune_main() -> Callable[[list[str]], object]:
    """``forecast.tune.main``, refused by name where Optuna, which ``pip install -e .`` leaves out, is missing.

    Raises:
        ValueError: naming the subcommand, the missing package and the extra that installs it.
    """
    try:
        from .tune import main as tune
    except ModuleNotFoundError as error:
        if error.name != "optuna":
            raise
        raise ValueError(
            'python -m forecast tune needs Optuna, which `pip install -e .` leaves out: pip install -e ".[tune]" '
            "(Optuna, matplotlib for its plots and MLflow for tracking)"
        ) from None
    return tune


def main() -> None:
    """Dispatch ``sys.argv``: ``tune ...`` to ``forecast.tune.main``, anything else to ``forecast.cli.main``.

    A ``ForecastDataError``, or another ValueError, TypeError, FileNotFoundError or FloatingPointError
    that the forecast package raised for a user's mistake (a config key out of range, a missing column
    or checkpoint, a NaN training loss, ``tune`` without Optuna), names the fix: it is printed alone (exit
    status 1), without the traceback through Lightning and jsonargparse that would bury it. Any other error
    keeps its traceback: it is a bug to report. A stop (Ctrl-C, or SIGTERM in ``tune``) says so and exits with
    status 130.

    A DDP run leaves its process group open (Lightning closes only NCCL's, at exit); a gloo group left
    to the interpreter's shutdown aborts the process now and then ("terminate called without an active
    exception", exit status -6) after the run has finished. So it is closed here, on every rank.
    """
    try:
        if sys.argv[1:2] == ["tune"]:
            _tune_main()(sys.argv[2:])
        else:
            from .cli import main as cli

            cli()
    except _USER_ERRORS as error:
        if not _is_our_message(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM in tune: the stop, not a traceback (exit status 130)
        print(f"{stop or 'stopped by Ctrl-C'}", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
