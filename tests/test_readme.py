import re
from pathlib import Path

import lightning as L

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_install_and_test_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert "python -m forecast fit --config configs/ltsf/segrnn_l336.yaml" in blocks[0]
    assert "python -m pytest" in blocks[1]
    ci = (Path(__file__).resolve().parents[1] / ".ci/run").read_text()
    assert blocks[1].split("&&", 1)[1].strip() in ci  # CI runs the README's test command


def test_readme_python_example_trains(wide_frame, tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    for old, new in [("lookback=96", "lookback=24"), ("horizon=24", "horizon=6"), ("max_epochs=5", "max_epochs=1")]:
        code = code.replace(old, new)
    code = code.replace("L.Trainer(", "L.Trainer(enable_progress_bar=False, logger=False, enable_checkpointing=False, ")
    monkeypatch.chdir(tmp_path)
    scope = {"frame": wide_frame}
    exec(code, scope)
    assert isinstance(scope["model"], L.LightningModule)
    assert scope["model"].trainer.current_epoch == 1
