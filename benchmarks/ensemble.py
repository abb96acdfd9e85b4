"""The leaderboard's seeds alone and as one seed ensemble, on validation and test.

Reads the run directories that ``benchmarks/ltsf.py`` wrote (``ROOT/DATASET/CONFIG/H*/seed*``), combines
each horizon's tested checkpoints (the ``best`` that each seed's ``result.json`` records: the setting chosen on
validation) into one ensemble checkpoint (``forecast.ensemble.combine``), and scores every seed through the CLI's
``validate`` and the ensemble through its ``validate`` and ``test``, with the arguments the leaderboard tested
each with (``args`` there; the ensemble: those of its longest lookback). A seed's test figures are the ones its
``result.json`` records: its test part is not read again. A seed whose checkpoint fell back to a naive
forecast (``naive_comparison.fallback``, which the ltsf configs set) is scored as the leaderboard scored it, and
left out of the ensemble, as ``ltsf.py --ensemble`` leaves it out: its network lost to that naive forecast on
validation, or led it by less than the fallback's margin.
Validation decides whether the ensemble is worth its cost; the test figures are read once, beside it:

    python benchmarks/ltsf.py --configs configs/ltsf/segrnn_l96.yaml --horizons 96 192 --seeds 3
    python benchmarks/ensemble.py --config configs/ltsf/segrnn_l96.yaml --horizons 96 192 --seeds 3

It prints and writes ``<out>.md``: per horizon, the seeds' mean MSE and MAE (validation and test,
standardized scale) and the ensemble's.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from forecast import Forecaster  # noqa: E402
from forecast.checkpointing import read_checkpoint  # noqa: E402
from forecast.cli import main as cli  # noqa: E402
from forecast.ensemble import combine  # noqa: E402

# ltsf.py, a script beside this one (benchmarks/ is no package): its way of refusing and of counting, shared.
ltsf = runpy.run_path(str(Path(__file__).with_name("ltsf.py")), run_name="ltsf")


def scores(subcommand: str, args: list[str], checkpoint: Path) -> dict[str, float]:
    """MSE and MAE of one checkpoint on ``validate``'s or ``test``'s windows, through the CLI."""
    metrics = cli([subcommand, *args, "--ckpt_path", str(checkpoint)]).trainer.callback_metrics
    split = "val" if subcommand == "validate" else "test"
    return {f"{split}_mse": float(metrics[f"{split}/mse"]), f"{split}_mae": float(metrics[f"{split}/mae"])}


def run_result(path: Path, config: Path) -> dict:
    """The result of the leaderboard run whose ``result.json`` is ``path``, checked to be a run of ``config``
    as it is now: the run directory is named by the config's file name only, so it may hold the run of
    another config of that name, or of this one before an edit. Its ``fell_back`` says whether the tested
    checkpoint forecasts the naive forecast its fit fell back to (``forecast.ensemble.fell_back``), from the one
    reading of the checkpoint that also checks it.

    Raises:
        ValueError: no result, or only part of one (its leaderboard run unfinished), a result of a
            ``--validation-only`` run (nothing tested), one that records no tested checkpoint, another
            config's (by the sha256 of its contents, which ``ltsf.py`` records), or one that tested an
            ensemble (``ltsf.py --ensemble`` chose one), which ``combine`` takes as no member.
    """
    saved = finished_run(path, config)
    if not saved.get("test", True):
        raise ValueError(
            f"{path} is of a --validation-only run, which tested nothing; rerun the ltsf.py command without "
            "--validation-only (it reads its fits back, not fitting them again)"
        )
    if "best" not in saved["result"]:
        raise ValueError(
            f"{path} records no tested checkpoint and arguments (it was written before ltsf.py recorded them); "
            "rerun the ltsf.py command"
        )
    ran = saved["args"][1]  # the run's own config: ltsf.py's arguments start --config PATH
    recorded = saved.get("configs", {}).get(ran)
    if recorded is not None and recorded != hashlib.sha256(config.read_bytes()).hexdigest():
        raise ValueError(
            f"{path} is a run of {ran} as it was then, not of {config} as it is now (another config of the file "
            f"name {config.stem!r}, or one edited since); rerun the ltsf.py command with --configs {config}"
        )
    checkpoint = read_checkpoint(saved["result"]["best"], Forecaster)
    if checkpoint.get("ensemble_members", 1) > 1:
        raise ValueError(
            f"{path} tested an ensemble, {saved['result']['best']} (ltsf.py --ensemble chose it on validation), "
            "which combine does not join with the other seeds; rerun the ltsf.py command without --ensemble (it "
            "reads its fits back, not fitting them again)"
        )
    return saved["result"] | {"fell_back": checkpoint.get("naive_fallback") is not None}


def finished_run(path: Path, config: Path) -> dict:
    """What the ``result.json`` at ``path`` of a leaderboard run of ``config`` holds.

    Raises:
        ValueError: there is none, or only part of one: that run is unfinished.
    """
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as error:
        kind = "no such file" if isinstance(error, FileNotFoundError) else "only part of a result"
        raise ValueError(
            f"{path}: {kind}, so that leaderboard run is unfinished; run the ltsf.py command of --configs {config} "
            "with these --horizons and --seeds to finish it (it reads back the fits that finished)"
        ) from None


def ensemble_name(joined: list[int], left_out: list[int]) -> str:
    """The table's name of the ensemble of the seeds ``joined``, naming those that fell back and were ``left_out``."""
    return f"ensemble of {len(joined)}" + (f" (seeds {left_out} fell back)" if left_out else "")


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table, numbers to 4 decimals."""
    cells = [[f"{value:.4f}" if isinstance(value, float) else str(value) for value in row] for row in table.values]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Score the seeds and their ensemble per horizon; returns the table it also writes and prints."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="etth1", type=ltsf["data_set"], help="a built-in name or a file")
    parser.add_argument("--config", type=Path, default=Path("configs/ltsf/segrnn_l96.yaml"))
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--seeds", type=ltsf["count"], default=3, help="members: the runs of seeds 0, 1, ...")
    parser.add_argument("--root", type=Path, default=Path("runs/ltsf"), help="the leaderboard's run directories")
    parser.add_argument("--out", type=Path, default=Path("runs/ltsf/ensemble"), help="writes OUT.md")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = []
    for horizon in args.horizons:
        runs = args.root / ltsf["label"](args.dataset) / args.config.stem / f"H{horizon}"
        here = ["--trainer.default_root_dir", str(runs / "ensemble")]  # the logs of these scores, not the runs'
        results = [run_result(runs / f"seed{seed}" / "result.json", args.config) for seed in range(args.seeds)]
        for seed, result in enumerate(results):
            rows.append({"horizon": horizon, "model": f"seed {seed}"})
            rows[-1] |= scores("validate", [*result["args"], *here], Path(result["best"]))
            rows[-1] |= {"test_mse": result["mse"], "test_mae": result["mae"]}
        left_out = [seed for seed, result in enumerate(results) if result["fell_back"]]
        joined = [seed for seed in range(args.seeds) if seed not in left_out]
        if len(joined) < 2:
            fell = f" (seeds {left_out} fell back to a naive forecast)" if left_out else ""
            print(f"H={horizon}: no ensemble, {len(joined)} of {args.seeds} seeds forecast with their network{fell}")
            continue
        members = [results[seed] for seed in joined]
        ensemble = combine([result["best"] for result in members], runs / "ensemble" / "ensemble.ckpt")
        leader = max(members, key=lambda result: result["lookback"])  # the first of the longest: combine's own
        cli_args = [*leader["args"], *here]
        rows.append({"horizon": horizon, "model": ensemble_name(joined, left_out)})
        rows[-1] |= scores("validate", cli_args, ensemble) | scores("test", cli_args, ensemble)
    table = pd.DataFrame(rows)
    seeds = table[table["model"].str.startswith("seed")].groupby("horizon", as_index=False).mean(numeric_only=True)
    summary = pd.concat([seeds.assign(model="mean of seeds"), table[table["model"].str.startswith("ensemble")]])
    summary = summary.set_index(["horizon", "model"]).sort_index()[["val_mse", "val_mae", "test_mse", "test_mae"]]
    markdown = to_markdown(summary.reset_index())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(markdown + "\n" + to_markdown(table))
    print(f"\npython benchmarks/ensemble.py {' '.join(sys.argv[1:] if argv is None else argv)}\n\n{markdown}")
    return table


if __name__ == "__main__":
    ltsf["command"](main)
