"""``python -m forecast`` and the ``forecast`` command: ``tune`` runs an Optuna study (forecast.tune), every
other subcommand the Lightning CLI."""

import sys

import torch.distributed

from .errors import ForecastDataError


def main() -> None:
    """Dispatch ``sys.argv``: ``tune ...`` to ``forecast.tune.main``, anything else to ``forecast.cli.main``.

    A ``ForecastDataError`` is a problem of the user's data whose message names the fix: it is printed
    alone (exit status 1), without the traceback through Lightning that would bury it.

    A DDP run leaves its process group open (Lightning closes only NCCL's, at exit); a gloo group left
    to the interpreter's shutdown aborts the process now and then ("terminate called without an active
    exception", exit status -6) after the run has finished. So it is closed here, on every rank.
    """
    try:
        if sys.argv[1:2] == ["tune"]:
            from .tune import main as tune

            tune(sys.argv[2:])
        else:
            from .cli import main as cli

            cli()
    except ForecastDataError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
