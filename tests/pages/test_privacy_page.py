"""The privacy page: its grid is the sweep file, which holds exactly the page's cells with the page's values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import simulations.sweep
from pages import privacy_page
from pages.paths import DOCS
from pages.privacy_page import DATASETS, EPSILONS, MODES, grid_cell, privacy_sweep
from simulations.flower_run import resolved_config
from simulations.method_catalog import HINTON_KD
from simulations.sweep import placed


def test_sweep_file_holds_exactly_the_pages_grid_with_its_values() -> None:
    # Prepare: every (dataset, mode, epsilon) the page measures, and the no-DP baseline of each dataset.
    grid = [(d, None, None) for d in DATASETS] + [(d, m, e) for d in DATASETS for m in MODES for e in EPSILONS]

    # Execute
    cells = {(d, m, e): grid_cell(d, m, e, quick=False) for d, m, e in grid}

    # Assert: nothing else in the file; each cell is its dataset's experiment, its mode at its target epsilon,
    # Hinton KD, and a per-run ledger.
    assert len(privacy_sweep().cells()) == len(cells)
    for (dataset, mode, epsilon), cell in cells.items():
        config = resolved_config(cell.values).to_dict()
        experiment, overrides = DATASETS[dataset]
        expected: dict[str, Any] = {"experiment": experiment, **overrides, **HINTON_KD, "dp-ledger": "run",
                                    **(MODES[mode] if mode else {})}
        if mode and MODES[mode].get("local-dp"):
            expected["dp-target-epsilon"] = epsilon
        if mode and MODES[mode].get("client-dp"):
            expected["client-dp-target-epsilon"] = epsilon
        assert {k: config[k] for k in expected} == expected, (dataset, mode, epsilon)
        assert config["local-dp"] == bool(mode and MODES[mode].get("local-dp"))
        assert config["client-dp"] == (MODES[mode].get("client-dp", "none") if mode else "none")


def test_sweep_file_covers_every_cell_of_docs_privacy_json() -> None:
    data = json.loads((DOCS / "privacy.json").read_text())
    for dataset, part in data["datasets"].items():
        for mode, cells in part["table"].items():
            for epsilon in cells:
                assert grid_cell(dataset, mode, float(epsilon), quick=False).setting == dataset
        assert resolved_config(grid_cell(dataset, None, None, False).values).num_server_rounds == part["rounds"]


def test_quick_cells_are_the_sweep_files_cut_to_two_rounds() -> None:
    cell = grid_cell("MNIST-1D", "both", 8.0, quick=True)
    assert (cell.values["num-server-rounds"], cell.values["teacher-epochs"]) == (2, 5)
    assert cell.values["dp-target-epsilon"] == cell.values["client-dp-target-epsilon"] == 8.0


def test_grid_cell_not_in_the_sweep_file_names_the_file_and_row() -> None:
    with pytest.raises(KeyError, match=r"privacy.yaml has no row 'both at epsilon 3' in setting 'MNIST-1D'"):
        grid_cell("MNIST-1D", "both", 3.0, quick=False)


def test_reuse_only_runs_nothing_and_keeps_the_finished_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: the baseline and local DP at epsilon 8 finished, in the folders the sweep names.
    finished = {placed(grid_cell("MNIST-1D", m, e, False).values, Path("x"))["run-name"]: accuracy
                for m, e, accuracy in [(None, None, 0.6), ("local DP (record level)", 8.0, 0.4)]}

    def rounds(values: dict[str, Any]) -> list[dict[str, Any]] | None:
        accuracy = finished.get(values["run-name"])
        return None if accuracy is None else [{"round": 0, "global_accuracy": 0.1},
                                              {"round": 1, "global_accuracy": accuracy, "epsilon_max": 7.9}]

    monkeypatch.setattr(simulations.sweep, "finished_run", rounds)
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("reuse-only must not run"))

    # Execute
    part = privacy_page.measure("MNIST-1D", EPSILONS, 10, quick=False, reuse_only=True)

    # Assert
    assert part is not None and part["rounds"] == 1
    assert part["baseline"]["final_accuracy"] == 0.6
    assert part["table"] == {"local DP (record level)": {8.0: {
        "final_accuracy": 0.4, "best_accuracy": 0.4, "record_epsilon_max": 7.9, "user_epsilon": None,
        "privacy_scope": None, "error_replies": 0}}}
