"""A real run's console has the shape docs/first-hour.md shows, from header to the baseline comparison."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulations.flower_run import APP_DIR
from simulations.run import main

pytestmark = pytest.mark.e2e

DOC = APP_DIR / "docs" / "first-hour.md"
NUMBER_OR_PATH = re.compile(r"(/[A-Za-z][^\s;]*|\d+(?:\.\d+)?)")
ROUND, BASELINE = "[fedkd] round ", "[fedkd] CE-only baseline"


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


def sections(lines: list[str]) -> dict[str, list[str]]:
    """A console split into header, set-up, rounds, summary, baseline and comparison lines."""
    first = next(i for i, line in enumerate(lines) if line.startswith(ROUND))
    done = next(i for i, line in enumerate(lines) if line.startswith("fedkd: done"))
    return {"header": lines[:1], "setup": lines[1:first], "rounds": lines[first:done], "summary": [lines[done]],
            "baseline": lines[done + 1:-1], "comparison": lines[-1:]}


def test_sample_console_in_the_doc_has_every_section() -> None:
    parts = sections(sample_console())

    assert parts["header"][0].startswith("fedkd: mnist1d,") and parts["setup"]
    assert any("teacher pretraining: pretrained in" in line for line in parts["setup"])
    assert parts["rounds"] and all(line.startswith(ROUND) for line in parts["rounds"])
    assert parts["baseline"] and all(line.startswith(BASELINE) for line in parts["baseline"])
    assert parts["comparison"][0].startswith("[fedkd] global student ")


def test_real_run_console_lines_match_the_documented_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare: the documented sample, one pattern per line (numbers and paths as wildcards).
    sample = {name: [line_pattern(s) for s in lines] for name, lines in sections(sample_console()).items()}

    # Execute: a tiny real run through the harness's command line, CE-only baseline included (the default).
    code = main(["--num-supernodes", "2", "--client-cpus", "1", "--run-name", "console",
                 "--run-config", f"num-server-rounds=2 teacher-pretrain-samples=1000 teacher-pretrain-epochs=2 "
                                 f"teacher-finetune-epochs=2 local-epochs=1 output-dir='{tmp_path}' "
                                 f"cache-dir='{tmp_path / 'cache'}'"])

    # Assert: every section's lines match the sample's; nothing else; no colour codes.
    out = capsys.readouterr().out
    assert code == 0, out
    assert "\x1b[" not in out
    run = sections(out.splitlines())
    for name, lines in run.items():
        assert lines and all(any(p.fullmatch(line) for p in sample[name]) for line in lines), (name, lines)
    assert any("teacher pretraining: pretrained in" in line for line in run["setup"]), run["setup"]
    assert [line.split(":")[0] for line in run["rounds"]] == [f"[fedkd] round {n}/2" for n in range(3)]
    assert [line.split(":")[0] for line in run["baseline"][1:]] == [f"{BASELINE} round {n}/2" for n in range(3)]
    assert str(tmp_path / "console") in run["header"][0] and str(tmp_path / "console") in run["summary"][0]
    assert (tmp_path / "console" / "comparison.json").is_file()
