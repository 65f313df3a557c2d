"""The README's Python example (train, evaluate, a user backbone) runs as written."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_backbone_example_trains_evaluates_and_registers(tmp_path, monkeypatch, capsys):
    from pgfa.models.registry import BACKBONES

    monkeypatch.chdir(tmp_path)
    code = _python_block("### Train, evaluate and add a backbone from Python")
    monkeypatch.delitem(BACKBONES, "joint-mlp", raising=False)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        BACKBONES.pop("joint-mlp", None)
    printed = capsys.readouterr().out
    assert re.search(r"unseen top-1 \d\.\d{3}, aligned \d\.\d{3}", printed), printed
    run = tmp_path / "runs" / "joint-mlp"
    assert "backbone: joint-mlp" in (run / "config.yaml").read_text()
    assert (run / "best.pt").is_file() and (run / "metrics.json").is_file()
