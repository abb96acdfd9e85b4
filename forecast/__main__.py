"""``python -m forecast`` and the ``forecast`` command: ``tune`` runs an Optuna study (forecast.tune), every
other subcommand the Lightning CLI."""

import sys


def main() -> None:
    """Dispatch ``sys.argv``: ``tune ...`` to ``forecast.tune.main``, anything else to ``forecast.cli.main``."""
    if sys.argv[1:2] == ["tune"]:
        from .tune import main as tune

        tune(sys.argv[2:])
    else:
        from .cli import main as cli

        cli()


if __name__ == "__main__":
    main()
