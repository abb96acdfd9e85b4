"""The README's code blocks against what runs: files a block reads are the files an earlier command writes."""

import fnmatch
import re
import runpy
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")


def block_and_text_before(needle: str) -> tuple[str, str]:
    """The ```bash block holding ``needle`` and the paragraph just before it."""
    for match in re.finditer(r"```bash\n(.*?)```", README, flags=re.S):
        if needle in match.group(1):
            paragraph = README[: match.start()].rstrip().rsplit("\n\n", 1)[-1]
            return match.group(1), paragraph
    raise AssertionError(f"no bash block of the README runs {needle!r}")


def test_the_ensemble_blocks_checkpoints_are_those_the_ltsf_command_before_it_writes():
    block, paragraph = block_and_text_before("python -m forecast.ensemble")
    commands = re.findall(r"`(python benchmarks/ltsf\.py [^`]*)`", " ".join(paragraph.split()))
    assert commands, (
        f"the text before the ensemble block names no ltsf.py command that writes its members:\n{paragraph}"
    )
    args = shlex.split(commands[0])[2:]
    config = Path(args[args.index("--configs") + 1])
    seeds = int(args[args.index("--seeds") + 1])
    assert "--datasets" not in args and "--horizons" not in args  # ltsf.py's defaults: etth1 at H=96 among others
    pattern = shlex.split(block.splitlines()[0])[3]
    members = [
        ltsf["layout"]("etth1", config, 96, seed, Path("runs/ltsf"), [])[0]
        / "lightning_logs/version_0/checkpoints/epoch=4-step=170.ckpt"
        for seed in range(seeds)
    ]
    assert seeds >= 2 and all(fnmatch.fnmatch(str(member), pattern) for member in members), (pattern, members)
    assert f"--config {config}" in block  # the test and benchmarks/ensemble.py read the members' config
