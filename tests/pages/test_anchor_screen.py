"""The anchor's KD screen: kept across sittings, each knob set against CE-only on its seed, the rest runnable."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

import simulations.sweep
from pages import anchor_page, anchor_screen
from pages.measured_cells import cell_record
from simulations.flower_run import resolved_config
from simulations.sweep import placed
from simulations.sweep_spec import Cell, load_spec

SCREEN = anchor_screen.load_screen()


def _cell(row: str) -> Cell:
    return next(c for c in SCREEN.cells() if c.row == row)


def _record(row: str, curve: list[float], teachers: float | None = None) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = [{"global_accuracy": a, "round_seconds": 90.0} for a in curve]
    if teachers is not None:
        rounds[1]["teacher_accuracy_mean"] = teachers
    return cell_record(_cell(row), rounds, metric="global_accuracy", measured="2026-12-03", where="m")


def test_the_screen_is_the_anchors_kd_setting_cut_to_fewer_rounds() -> None:
    # The screen asks about the anchor's protocol: same base but for the rounds, the anchor's CE-only row as baseline.
    anchor = load_spec(anchor_page.SWEEP_FILE)
    differs = {k for k in {*anchor.base, *SCREEN.base} if anchor.base.get(k) != SCREEN.base.get(k)}

    assert differs == {"num-server-rounds"} and SCREEN.base["num-server-rounds"] < anchor.base["num-server-rounds"]
    assert SCREEN.row_table()[SCREEN.baseline_row()] == anchor.row_table()[anchor.baseline_row()]
    assert SCREEN.row_table()["fedkd KD"] == anchor.row_table()["fedkd KD"]


def test_screen_lines_set_each_row_against_ce_only_on_its_seed_and_list_the_rest_as_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [_record("CE-only FedAvg", [0.1, 0.85, 0.89, 0.885]),
               _record("fedkd KD", [0.1, 0.80, 0.86, 0.87], teachers=0.889)]

    lines = anchor_screen.screen_lines(SCREEN, records)

    page = "\n".join(lines)
    assert "| CE-only FedAvg (seed 0) | 89.00% (2) | 88.50% |  | - |" in page
    assert ("| fedkd KD (seed 0) | 87.00% (3) | 87.00% | -2.00 points (CE-only FedAvg) | 88.90% | 2026-12-03, m, "
            "6 min |") in page
    assert f"2 of {len(SCREEN.cells())} screen cells measured." in page
    commands = [line.strip() for line in lines if line.startswith("    python -m simulations.sweep")]
    assert len(commands) == len(SCREEN.cells()) - 2
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("--list must not run"))
    for command in commands:
        assert simulations.sweep.main([*shlex.split(command)[3:], "--output", str(tmp_path), "--list"]) == 0


def test_update_adds_finished_screen_runs_to_the_stored_ones_and_drops_a_changed_config(tmp_path: Path) -> None:
    # Prepare: one stored cell still current, one of a config the screen file no longer has, one run finished now.
    docs, runs = tmp_path / "docs", tmp_path / "runs"
    docs.mkdir()
    stale = {**_record("fedkd KD", [0.1, 0.9]), "digest": "0123456789ab"}
    kept = _record("CE-only FedAvg", [0.1, 0.88])
    (docs / anchor_screen.STORED_NAME).write_text(json.dumps({"cells": [stale, kept]}))
    config = resolved_config(placed(_cell("fedkd KD").values, runs))
    folder = Path(config.output_dir) / config.run_name
    folder.mkdir(parents=True)
    rounds = [{"round": r, "global_accuracy": 0.5 + r / 100, "round_seconds": 60.0} for r in range(11)]
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds}))

    # Execute
    records = anchor_screen.update(SCREEN, docs, runs)

    # Assert: the found run and the current stored cell, in the screen file's order; the stale one gone.
    assert [(r["row"], r["best"]) for r in records] == [("CE-only FedAvg", 0.88), ("fedkd KD", pytest.approx(0.6))]
    assert json.loads((docs / anchor_screen.STORED_NAME).read_text())["cells"] == records


def test_the_anchor_page_carries_the_screen_section(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / anchor_screen.STORED_NAME).write_text(json.dumps({"cells": [_record("fedkd KD", [0.1, 0.87])]}))

    assert anchor_page.main(["--runs", str(tmp_path / "runs"), "--screen-runs", str(tmp_path / "screen"),
                             "--docs", str(docs)]) == 0

    page = (docs / "anchor.md").read_text()
    assert "## Screening the KD row" in page and "| fedkd KD (seed 0) | 87.00% (1) |" in page


def test_a_row_with_a_pair_of_its_own_is_set_against_that_pair_not_the_baseline() -> None:
    pooled_ce, pooled_kd = "CE-only FedAvg, pool-pretrained student", "fedkd KD, pool teachers and student"
    records = [_record("CE-only FedAvg", [0.1, 0.80]), _record(pooled_ce, [0.1, 0.90]),
               _record(pooled_kd, [0.1, 0.91])]

    page = "\n".join(anchor_screen.screen_lines(SCREEN, records))

    assert f"| {pooled_kd} (seed 0) | 91.00% (1) | 91.00% | +1.00 points ({pooled_ce}) |" in page
    assert f"| {pooled_ce} (seed 0) | 90.00% (1) | 90.00% | +10.00 points (CE-only FedAvg) |" in page
    assert f"- {pooled_kd}: 10,000 train images held out of the federation as a public pool" in page
