"""A real run's console has the shape docs/first-hour.md shows: header, one line per round, summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulations.run import APP_DIR, main

pytestmark = pytest.mark.e2e

DOC = APP_DIR / "docs" / "first-hour.md"
NUMBER_OR_PATH = re.compile(r"(/[A-Za-z][^\s;]*|\d+(?:\.\d+)?)")


def sample_console() -> list[str]:
    """The lines of the fenced block after the ``<!-- console-sample -->`` marker of the doc."""
    text = DOC.read_text()
    block = text.split("<!-- console-sample -->", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip()]


def line_pattern(sample: str) -> re.Pattern[str]:
    """``sample`` with every number and absolute path made a wildcard of its kind."""
    parts = NUMBER_OR_PATH.split(sample)
    regex = "".join(re.escape(p) if i % 2 == 0 else (r"/\S+" if p.startswith("/") else r"\d+(?:\.\d+)?")
                    for i, p in enumerate(parts))
    return re.compile(regex.replace(r"/\S+", r"/[^\s;]+"))


def test_sample_console_in_the_doc_has_a_header_round_lines_and_a_summary() -> None:
    lines = sample_console()

    assert lines[0].startswith("fedkd: mnist1d,") and lines[-1].startswith("fedkd: done: final accuracy")
    assert all(line.startswith("[fedkd] round ") for line in lines[1:-1])


def test_real_run_console_lines_match_the_documented_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare: the documented sample, one pattern per line (numbers and paths as wildcards).
    sample = sample_console()
    header, rounds, summary = line_pattern(sample[0]), [line_pattern(s) for s in sample[1:-1]], line_pattern(sample[-1])

    # Execute: a tiny real run through the harness's command line.
    code = main(["--num-supernodes", "2", "--client-cpus", "1", "--run-name", "console",
                 "--run-config", f"num-server-rounds=2 teacher-epochs=2 local-epochs=1 "
                                 f"output-dir='{tmp_path}' cache-dir='{tmp_path / 'cache'}'"])

    # Assert: header, rounds 0..2, summary; nothing else; no colour codes.
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert code == 0, out
    assert "\x1b[" not in out
    assert len(lines) == 2 + 3, out
    assert header.fullmatch(lines[0]), lines[0]
    assert str(tmp_path / "console") in lines[0] and str(tmp_path / "console") in lines[-1]
    for number, line in enumerate(lines[1:-1]):
        assert line.startswith(f"[fedkd] round {number}/2: "), line
        assert any(p.fullmatch(line) for p in rounds), line
    assert summary.fullmatch(lines[-1]), lines[-1]
