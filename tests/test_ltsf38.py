"""A leaderboard's members are fitted at each of its lookbacks, each fit one more setting named by the member's file
and the lookback: a linear map validates best at another lookback than the recurrent fits' longest (ETTh1's least
squares at 336 rather than 720), and was fitted only at the longest."""

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/ltsf/segrnn_l336.yaml"
MEMBER = ROOT / "configs/ltsf/linear.yaml"
DATA = {"columns": {}, "scaling": {"scaler": None}, "split": None, "eval_stride": 1}  # what the table's protocol reads


def _last(args: list[str], flag: str) -> str:
    return args[len(args) - 1 - args[::-1].index(flag) + 1]


def test_a_member_is_fitted_and_chosen_at_each_lookback_of_the_run(tmp_path, monkeypatch):
    fitted = {}

    def fit(args, directory):
        lookback = int(_last(args, "--data.lookback"))
        member = _last(args, "--config") == str(MEMBER)
        directory.mkdir(parents=True, exist_ok=True)
        fitted[directory.relative_to(tmp_path / "etth1/segrnn_l336/H24/seed0").as_posix()] = (member, lookback)
        score = {(False, 24): 0.6, (False, 48): 0.5, (True, 24): 0.4, (True, 48): 0.45}[member, lookback]
        return {"best": f"{directory}/b.ckpt", "val_loss": score, "lookback": lookback, "fit_s": 1.0, "epochs": 1,
                "val_winner": "model", "data": DATA}  # fmt: skip

    monkeypatch.setitem(ltsf["run"].__globals__, "fit", fit)
    result = ltsf["run"](
        "etth1", CONFIG, 24, 0, tmp_path, [], ltsf["candidates"]([24, 48]), test=False, members=[MEMBER]
    )
    assert fitted == {"L24": (False, 24), "L48": (False, 48), "linear/L24": (True, 24), "linear/L48": (True, 48)}
    assert result["chosen"] == "linear_L24" and result["lookback"] == 24 and result["val_loss"] == 0.4
    assert result["args"][:2] == ["--config", str(MEMBER)] and _last(result["args"], "--data.lookback") == "24"


def test_with_one_lookback_a_member_keeps_its_file_name_and_folder(tmp_path, monkeypatch):
    fitted = []

    def fit(args, directory):
        directory.mkdir(parents=True, exist_ok=True)
        fitted.append(directory.name)
        lookback = int(_last(args, "--data.lookback")) if "--data.lookback" in args else 336
        return {
            "best": "b.ckpt",
            "val_loss": 0.5,
            "lookback": lookback,
            "fit_s": 1.0,
            "epochs": 1,
            "val_winner": "model",
            "data": DATA,
        }

    monkeypatch.setitem(ltsf["run"].__globals__, "fit", fit)
    result = ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], test=False, members=[MEMBER])
    assert fitted == ["seed0", "linear"] and result["chosen"] == "segrnn_l336"


def test_members_are_checked_at_each_lookback_before_any_fit(tmp_path, monkeypatch):
    """A member that scores other windows only at one of the run's lookbacks (its own lookback is pinned by the run,
    its stride is not) is refused before any fit."""
    strided = tmp_path / "strided.yaml"
    strided.write_text("data:\n  eval_stride: 24\n")
    monkeypatch.setitem(ltsf["run"].__globals__, "fit", lambda *args: pytest.fail("fitted"))
    checked = []
    summary = ltsf["scored_on"]

    def scored_on(model, data):
        checked.append(data.lookback)
        return summary(model, data)

    monkeypatch.setitem(ltsf["check_choosable"].__globals__, "scored_on", scored_on)
    with pytest.raises(ValueError, match=r"the fits L48 and strided_L48 .*data.eval_stride 1 vs 24"):
        ltsf["check_choosable"]("etth1", CONFIG, 24, [], ltsf["candidates"]([48, 96]), [strided])
    assert checked == [48, 96, 48, 96]
