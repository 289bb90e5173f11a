"""The methods page: its grid is the sweep file, which reproduces docs/methods.json; the table compares rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import simulations.sweep
from pages import methods_page
from pages.methods_page import PRETRAINED, cells_of, methods_sweep, render, table_lines
from pages.paths import DOCS
from simulations.flower_run import resolved_config
from simulations.method_catalog import HINTON_KD, METHODS
from simulations.sweep import placed


def test_sweep_file_expands_to_exactly_the_cells_of_docs_methods_json() -> None:
    # Prepare: the (setting, method, seed) of every measured cell, and each one's recorded overrides.
    data = json.loads((DOCS / "methods.json").read_text())
    recorded = {(key, method, seed): cell["overrides"] for key, part in data["table"].items()
                for method, cell in part["cells"].items() if "runs" in cell for seed in cell["seeds"]}

    # Execute
    cells = {(c.setting, c.row, c.seed): c for c in methods_sweep().cells()}

    # Assert: the same cells; each resolves to a valid config holding the recorded overrides and Hinton KD.
    assert set(cells) == set(recorded)
    for key, cell in cells.items():
        config = resolved_config(cell.values).to_dict()
        assert all(config[k] == v for k, v in recorded[key].items()), key
        assert all(config[k] == v for k, v in HINTON_KD.items() if k not in recorded[key]), key
        assert config["num-server-rounds"] == data["table"][cell.setting]["rounds"]


def test_sweep_file_settings_and_not_applicable_rows_match_docs_methods_json() -> None:
    data = json.loads((DOCS / "methods.json").read_text())
    spec = methods_sweep()
    for key, part in data["table"].items():
        setting = spec.settings[key]
        assert (setting.label, setting.target) == (part["setting"], part["target"])
        assert setting.not_applicable == {m: c["not_applicable"] for m, c in part["cells"].items()
                                          if "not_applicable" in c}


def test_sweep_file_rows_are_the_method_catalog_and_its_base_pins_hinton_kd() -> None:
    spec = methods_sweep()
    assert spec.row_table() == METHODS
    assert {k: spec.base[k] for k in HINTON_KD} == HINTON_KD


def test_sweep_file_pretrained_rows_name_the_pages_checkpoints() -> None:
    checkpoints = {c.values["teacher-checkpoint"] for c in methods_sweep().cells() if "teacher-checkpoint" in c.values}
    assert checkpoints == {str(path) for path, _ in PRETRAINED.values()}
    assert all(c.row.startswith("pretrained teacher") for c in methods_sweep().cells()
               if "teacher-checkpoint" in c.values)


def test_page_renders_docs_methods_md_unchanged_from_docs_methods_json() -> None:
    data = json.loads((DOCS / "methods.json").read_text())
    assert render(data) == (DOCS / "methods.md").read_text()


def _run(final: float, seconds: float = 1.0) -> dict[str, Any]:
    return {"final": final, "best": final, "rounds_to_target": None, "bytes_per_round": 2e6,
            "seconds_per_round": seconds, "teacher_accuracy": 0.5, "agreement": 0.4}


def test_table_compares_each_row_with_its_own_baseline_and_shows_mean_and_spread() -> None:
    cells = {
        "CE-only FedAvg": {"runs": [_run(0.50), _run(0.60)]},
        "CE-only, 90% labels hidden": {"runs": [_run(0.20), _run(0.30)]},
        "KD, 90% labels hidden": {"runs": [_run(0.40, 2.0), _run(0.50, 2.0)]},
        "attention transfer": {"not_applicable": "no map"},
    }
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    lines = table_lines(data)

    hidden = next(line for line in lines if line.startswith("| KD, 90% labels hidden"))
    assert methods_sweep().baseline_of("KD, 90% labels hidden") == "CE-only, 90% labels hidden"
    assert "| 45.0 ± 7.1 |" in hidden and "| +20.0 |" in hidden
    assert "not reached (0/2)" in hidden
    assert any(line.startswith("| attention transfer | n/a: no map") for line in lines)


def _finished(rounds: int, accuracy: float) -> list[dict[str, Any]]:
    return [{"round": r, "global_accuracy": accuracy if r else 0.1, "bytes_sent": 10 * r, "bytes_received": 5 * r,
             "round_seconds": float(r)} for r in range(rounds + 1)]


def test_reuse_only_runs_nothing_and_leaves_out_cells_without_finished_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: one finished run, found by the folder the sweep names for the cell's config.
    wanted = next(c for c in cells_of(["mnist1d-dir0.5"], ["CE-only FedAvg"], [1], 10))
    name = placed(wanted.values, Path("unused"))["run-name"]
    monkeypatch.setattr(simulations.sweep, "finished_run",
                        lambda values: _finished(10, 0.5) if values["run-name"] == name else None)
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("reuse-only must not run"))

    # Execute
    table = methods_page.measure(["mnist1d-dir0.5"], ["CE-only FedAvg", "Hinton KD"], [0, 1], 10, reuse_only=True)

    # Assert
    cells = table["mnist1d-dir0.5"]["cells"]
    assert list(cells) == ["CE-only FedAvg"] and cells["CE-only FedAvg"]["seeds"] == [1]
    assert cells["CE-only FedAvg"]["runs"][0]["final"] == 0.5
    assert cells["CE-only FedAvg"]["overrides"] == {"kd-alpha": 1.0}


def test_each_setting_runs_its_own_round_count_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(simulations.sweep, "finished_run", lambda values: asked.append(values["num-server-rounds"]))

    table = methods_page.measure(["mnist1d-dir0.5", "fmnist-iid"], ["CE-only FedAvg"], [0], reuse_only=True)
    assert asked == [10, 5]
    assert [part["rounds"] for part in table.values()] == [10, 5]

    asked.clear()
    methods_page.measure(["fmnist-iid"], ["CE-only FedAvg"], [0], 3, reuse_only=True)
    assert asked == [3]


def test_not_applicable_rows_are_marked_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulations.sweep, "finished_run", lambda values: None)

    table = methods_page.measure(["mnist1d-iid"], ["attention transfer", "DKD"], [0], reuse_only=True)

    assert table["mnist1d-iid"]["cells"] == {"attention transfer": {
        "not_applicable": "the MLP student has no spatial feature map"}}


def test_table_names_the_rows_a_setting_did_not_run() -> None:
    cells = {"CE-only FedAvg": {"runs": [_run(0.5)]}, "Hinton KD": {"runs": [_run(0.4)]}}
    data = {"table": {"bbc-dir0.5": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    note = next(line for line in table_lines(data) if line.startswith("Not run in this setting"))

    assert "pretrained teacher, 90% labels hidden" in note and "Hinton KD" not in note


def test_table_names_the_rows_run_on_fewer_seeds_and_why() -> None:
    cells = {"CE-only FedAvg": {"seeds": [0, 1, 2], "runs": [_run(0.5)] * 3},
             "RKD (distance + angle)": {"seeds": [0], "runs": [_run(0.4)]},
             "DKD": {"seeds": [0, 1], "runs": [_run(0.4)] * 2},
             "attention transfer": {"not_applicable": "no map"}}
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    note = next(line for line in table_lines(data) if line.startswith("Run on fewer seeds"))

    assert "RKD (distance + angle) (seeds [0]; its angle term costs" in note
    assert "DKD (seeds [0, 1])" in note
    assert "CE-only FedAvg (" not in note and "attention" not in note


def test_no_fewer_seeds_note_when_every_row_has_the_same_seeds() -> None:
    cells = {"CE-only FedAvg": {"seeds": [0, 1], "runs": [_run(0.5)] * 2},
             "DKD": {"seeds": [0, 1], "runs": [_run(0.4)] * 2}}
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    assert not any(line.startswith("Run on fewer seeds") for line in table_lines(data))


def test_delta_compares_with_the_baseline_on_the_seeds_both_ran() -> None:
    cells = {
        "CE-only FedAvg": {"seeds": [0, 1, 2], "runs": [_run(0.50), _run(0.70), _run(0.90)]},
        "Hinton KD": {"seeds": [1], "runs": [_run(0.60)]},
        "DKD": {"seeds": [0, 1, 2], "runs": [_run(0.55), _run(0.75), _run(0.95)]},
    }
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    lines = table_lines(data)

    assert "| -10.0 (seeds [1]) |" in next(line for line in lines if line.startswith("| Hinton KD"))
    assert "| +5.0 |" in next(line for line in lines if line.startswith("| DKD"))


def test_table_rows_have_as_many_cells_as_its_header() -> None:
    cells = {"CE-only FedAvg": {"runs": [_run(0.5)]}, "attention transfer": {"not_applicable": "no map"}}
    lines = table_lines({"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}})
    rows = [line for line in lines if line.startswith("|")]
    assert len({row.count("|") for row in rows}) == 1
