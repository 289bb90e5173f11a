"""The niid-bench anchor page keeps cells measured on other days, drops stale ones, and names what is left."""

from __future__ import annotations

import datetime
import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

import simulations.sweep
from pages import anchor_page
from pages.anchor_page import SWEEP_FILE, render
from pages.measured_cells import cell_record, collect, machine, merge, protocol_digest
from simulations.flower_run import resolved_config
from simulations.sweep import placed
from simulations.sweep_spec import Cell, load_spec

SPEC = load_spec(SWEEP_FILE)


def _cell(setting: str, row: str, seed: int) -> Cell:
    return next(c for c in SPEC.cells() if (c.setting, c.row, c.seed) == (setting, row, seed))


def _record(setting: str, row: str, seed: int, best: float, measured: str = "2026-01-01") -> dict[str, Any]:
    rounds = [{"global_accuracy": best - 0.1}, {"global_accuracy": best}, {"global_accuracy": best - 0.01}]
    return cell_record(_cell(setting, row, seed), rounds, metric="global_accuracy", measured=measured, where="m")


def _finish(values: dict[str, Any], accuracies: list[float]) -> None:
    """A complete results folder for a run, as the server writes it."""
    config = resolved_config(values)
    folder = Path(config.output_dir) / config.run_name
    folder.mkdir(parents=True)
    rounds = [{"round": r, "global_accuracy": a, "round_seconds": 60.0} for r, a in enumerate(accuracies)]
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds}))


def test_cell_record_scores_the_best_round_and_keeps_the_curve() -> None:
    record = _record("dirichlet", "CE-only FedAvg", 0, 0.88)

    assert record["best"] == pytest.approx(0.88) and record["best_round"] == 1
    assert record["final"] == pytest.approx(0.87)
    assert record["digest"] == protocol_digest(_cell("dirichlet", "CE-only FedAvg", 0))
    assert record["teachers"] is None  # these rounds report no teachers


def test_cell_record_keeps_the_last_teacher_accuracy_reported_and_the_page_shows_it() -> None:
    rounds = [{"global_accuracy": 0.1}, {"global_accuracy": 0.8, "teacher_accuracy_mean": 0.85},
              {"global_accuracy": 0.9, "teacher_accuracy_mean": 0.87}, {"global_accuracy": 0.89}]

    record = cell_record(_cell("dirichlet", "fedkd KD", 0), rounds, metric="global_accuracy", measured="d",
                         where="m")

    assert record["teachers"] == pytest.approx(0.87)
    assert "| 90.00% (2) | 87.00% | d, m, 0 min |" in render(SPEC, [record])


def test_protocol_digest_ignores_where_the_files_are_but_not_the_protocol() -> None:
    cell = _cell("dirichlet", "CE-only FedAvg", 0)
    moved = Cell(cell.setting, cell.row, cell.seed, {**cell.values, "cache-dir": "/elsewhere/cache"})
    changed = Cell(cell.setting, cell.row, cell.seed, {**cell.values, "local-epochs": 9})

    assert protocol_digest(moved) == protocol_digest(cell)
    assert protocol_digest(changed) != protocol_digest(cell)


def test_merge_keeps_earlier_cells_prefers_the_new_measurement_and_drops_a_changed_protocol() -> None:
    # Prepare: two cells measured earlier, one of them measured again now, and one of an older protocol.
    earlier = [_record("iid", "fedkd KD", 1, 0.90), _record("dirichlet", "CE-only FedAvg", 0, 0.87)]
    stale = {**_record("dirichlet", "fedkd KD", 0, 0.95), "digest": "0123456789ab"}
    again = _record("dirichlet", "CE-only FedAvg", 0, 0.881, measured="2026-02-02")

    # Execute
    kept, dropped = merge(SPEC, [*earlier, stale], [again])

    # Assert: the sweep file's order, the new measurement of the cell measured twice, the stale one out.
    assert [(r["setting"], r["row"], r["seed"], r["measured"]) for r in kept] == [
        ("dirichlet", "CE-only FedAvg", 0, "2026-02-02"), ("iid", "fedkd KD", 1, "2026-01-01")]
    assert dropped == [stale]


def test_collect_reads_only_finished_runs_of_the_sweeps_cells(tmp_path: Path) -> None:
    done = _cell("dirichlet", "CE-only FedAvg", 0)
    _finish(placed(done.values, tmp_path), [0.1] + [0.5] * 49 + [0.8])
    half = _cell("dirichlet", "fedkd KD", 0)
    _finish(placed(half.values, tmp_path), [0.1, 0.6])

    found = collect(SPEC, tmp_path, measured="today", where="here")

    assert [(r["row"], r["best"], r["best_round"], r["seconds"]) for r in found] == [
        ("CE-only FedAvg", pytest.approx(0.8), 50, 3060)]


def test_render_sets_each_row_against_the_band_and_lists_the_cells_left_as_runnable_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: CE-only in the band over all three Dirichlet seeds, fedkd KD above it on one seed.
    records = [_record("dirichlet", "CE-only FedAvg", s, b) for s, b in ((0, 0.880), (1, 0.882), (2, 0.884))]
    records.append(_record("dirichlet", "fedkd KD", 0, 0.895))

    # Execute
    page = render(SPEC, records)

    # Assert
    assert "| CE-only FedAvg | 3 of 3 (0, 1, 2) | 88.20% | 88.00% to 88.40% | within the band |" in page
    assert "1.41 points above the band's centre (provisional: 1 of 3 seeds)" in page
    assert "fedkd KD against CE-only FedAvg, paired by seed over 1 seeds: +1.50 points" in page
    assert "| CE-only FedAvg | 0 of 3 | not measured yet | | |" in page  # IID
    commands = [line.strip() for line in page.splitlines() if line.startswith("    python -m simulations.sweep")]
    assert len(commands) == len(SPEC.cells()) - len(records)
    # Every listed command is one the sweep's command line accepts (listed here, not run).
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("--list must not run"))
    for command in commands:
        arguments = shlex.split(command)[3:]
        assert simulations.sweep.main([*arguments, "--output", str(tmp_path), "--list"]) == 0


def test_main_adds_found_cells_to_the_stored_ones_and_writes_both_files(tmp_path: Path) -> None:
    docs, runs = tmp_path / "docs", tmp_path / "runs"
    docs.mkdir()
    (docs / "anchor.json").write_text(json.dumps({"cells": [_record("iid", "fedkd KD", 2, 0.9)]}))
    values = placed(_cell("iid", "CE-only FedAvg", 2).values, runs)
    _finish(values, [0.1] * 50 + [0.89])
    finished = datetime.datetime(2026, 3, 4, 12, 0).timestamp()  # the run finished on an earlier day than today
    os.utime(Path(values["output-dir"]) / values["run-name"] / "results.json", (finished, finished))

    assert anchor_page.main(["--runs", str(runs), "--docs", str(docs), "--screen-runs", str(tmp_path / "screen")]) == 0

    stored = json.loads((docs / "anchor.json").read_text())["cells"]
    assert [(r["row"], r["seed"], r["measured"]) for r in stored] == [
        ("CE-only FedAvg", 2, "2026-03-04"), ("fedkd KD", 2, "2026-01-01")]
    page = (docs / "anchor.md").read_text()
    assert f"2 of {len(SPEC.cells())} cells measured." in page
    # The cost of a cell still to run is the measured cells' own: 51 rounds of 60 s, and the stored record's.
    assert f"CE-only FedAvg: 51 minutes a cell on {machine()}" in page


def test_shipped_anchor_json_holds_only_cells_of_todays_sweep_file() -> None:
    stored = SWEEP_FILE.parents[2] / "docs" / "anchor.json"
    if not stored.is_file():
        pytest.skip("no cell of the anchor has been measured yet")
    cells = json.loads(stored.read_text())["cells"]

    kept, dropped = merge(SPEC, cells, [])

    assert dropped == [] and kept == cells


def test_summary_gives_each_measured_rows_mean_and_how_many_seeds() -> None:
    records = [_record("dirichlet", "CE-only FedAvg", 0, 0.90), _record("dirichlet", "CE-only FedAvg", 1, 0.91),
               _record("iid", "fedkd KD", 2, 0.92)]

    line = anchor_page.summary(SPEC, records)

    assert line == (f"3 of {len(SPEC.cells())} cells measured; Fashion-MNIST, Dirichlet(0.5): CE-only FedAvg 90.50% "
                    "(2 of 3 seeds); Fashion-MNIST, IID: fedkd KD 92.00% (1 of 3 seeds).")
    assert anchor_page.summary(SPEC, []) == f"0 of {len(SPEC.cells())} cells measured."


def test_the_public_pool_kd_row_is_paired_with_the_ce_only_row_that_has_the_same_pool() -> None:
    records = [_record("dirichlet", "CE-only FedAvg", 0, 0.890), _record("dirichlet", "CE-only FedAvg, public pool", 0,
                                                                          0.885),
               _record("dirichlet", "fedkd KD, public pool", 0, 0.895)]

    page = render(SPEC, records)

    assert "fedkd KD, public pool against CE-only FedAvg, public pool, paired by seed over 1 seeds: +1.00" in page
    assert "CE-only FedAvg, public pool against CE-only FedAvg, paired by seed over 1 seeds: -0.50" in page
    assert "10,000 train images held out of the federation as a public pool" in page


def test_findings_name_the_reproduction_and_the_best_row_with_every_seed_against_band_and_pair() -> None:
    # Prepare: the reproduction in the band; fedkd KD with the pool has all seeds and leads its pair in 2 of 3;
    # CE-only FedAvg scores higher on its one seed, but one seed does not make it the best row.
    repro = [_record("dirichlet", "niid-bench CNN FedAvg", s, b) for s, b in ((0, 0.880), (1, 0.879), (2, 0.883))]
    pool_kd = [_record("dirichlet", "fedkd KD, public pool", s, b) for s, b in ((0, 0.895), (1, 0.890), (2, 0.885))]
    pool_ce = [_record("dirichlet", "CE-only FedAvg, public pool", s, b) for s, b in ((0, 0.885), (1, 0.880),
                                                                                      (2, 0.887))]
    single = [_record("dirichlet", "CE-only FedAvg", 0, 0.950)]

    # Execute
    lines = anchor_page.finding_lines(SPEC, repro + pool_kd + pool_ce + single)

    # Assert
    assert lines[:4] == ["## What it shows so far", "", "Fashion-MNIST, Dirichlet(0.5), best round over 3 seeds:", ""]
    assert "- The reproduction (niid-bench CNN FedAvg): 88.07%, within the band." in lines
    assert ("- The best row with all 3 seeds in (fedkd KD, public pool): 89.00%, 0.91 points above the band's "
            "centre; against CE-only FedAvg, public pool, paired by seed over 3 seeds: +0.60 points (-0.20 to +1.00; "
            "ahead in 2 of 3).") in lines
    assert not any("IID" in line for line in lines)  # nothing measured there
    assert anchor_page.finding_lines(SPEC, []) == []
    assert "## What it shows so far" in render(SPEC, repro)
