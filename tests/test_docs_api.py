"""docs/api.md: every Python block runs, in order, on a small generated run (so the examples never rot)."""

from __future__ import annotations

import re

from tests.conftest import REPO, make_run


def test_api_examples_run(tmp_path, monkeypatch, capsys):
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    make_run(tmp_path / "runs" / "demo", {"P1": "positive", "N1": "negative"}, seconds=3.0)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - the test reports which example failed, then fails
            raise AssertionError(f"docs/api.md block {i + 1} failed: {exc!r}\n{block}") from exc
    out = capsys.readouterr().out
    assert "cognimuse-3s 1.1 default" in out
    assert "10.0 given" in out
    assert "+ -" in out
