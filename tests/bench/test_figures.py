"""bench.figures: a benchmark's figures are printed and saved whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.figures import save_figures


def test_save_figures_writes_the_document_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "cost.json"
    out.parent.mkdir()
    save_figures(out, {"seconds": 1.5, "rows": [1, 2]}, show=True)
    assert json.loads(out.read_text()) == {"seconds": 1.5, "rows": [1, 2]}
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["seconds: 1.5", "rows: [1, 2]", f"saved {out}"]


def test_save_figures_leaves_the_previous_figures_whole_when_a_figure_cannot_be_written(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    save_figures(out, {"seconds": 1.0})
    with pytest.raises(TypeError):
        save_figures(out, {"seconds": object()})
    assert json.loads(out.read_text()) == {"seconds": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["cost.json"]
