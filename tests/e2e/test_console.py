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


def _setup_and_rounds(lines: list[str]) -> tuple[list[str], list[str]]:
    """The placement and teacher-preparation lines before the first round line, and the round lines."""
    first = next(i for i, line in enumerate(lines) if line.startswith("[fedkd] round "))
    return lines[:first], lines[first:]


def test_sample_console_in_the_doc_has_a_header_round_lines_and_a_summary() -> None:
    lines = sample_console()

    setup, rounds = _setup_and_rounds(lines[1:-1])
    assert lines[0].startswith("fedkd: mnist1d,") and lines[-1].startswith("fedkd: done: final accuracy")
    assert setup and rounds and all(line.startswith("[fedkd] round ") for line in rounds)


def test_real_run_console_lines_match_the_documented_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare: the documented sample, one pattern per line (numbers and paths as wildcards).
    sample = sample_console()
    sample_setup, sample_rounds = _setup_and_rounds(sample[1:-1])
    header, summary = line_pattern(sample[0]), line_pattern(sample[-1])
    setup, rounds = [line_pattern(s) for s in sample_setup], [line_pattern(s) for s in sample_rounds]

    # Execute: a tiny real run through the harness's command line.
    code = main(["--num-supernodes", "2", "--client-cpus", "1", "--run-name", "console",
                 "--run-config", f"num-server-rounds=2 teacher-epochs=2 local-epochs=1 "
                                 f"output-dir='{tmp_path}' cache-dir='{tmp_path / 'cache'}'"])

    # Assert: header, placement and teacher lines, rounds 0..2, summary; nothing else; no colour codes.
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert code == 0, out
    assert "\x1b[" not in out
    run_setup, run_rounds = _setup_and_rounds(lines[1:-1])
    assert len(run_rounds) == 3 and 3 <= len(run_setup) <= 4, out  # a progress line at most every 5 s
    assert all(any(p.fullmatch(line) for p in setup) for line in run_setup), run_setup
    assert header.fullmatch(lines[0]), lines[0]
    assert str(tmp_path / "console") in lines[0] and str(tmp_path / "console") in lines[-1]
    for number, line in enumerate(run_rounds):
        assert line.startswith(f"[fedkd] round {number}/2: "), line
        assert any(p.fullmatch(line) for p in rounds), line
    assert summary.fullmatch(lines[-1]), lines[-1]
