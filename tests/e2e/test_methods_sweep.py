"""End to end through Flower: a cell of the methods sweep file, run by the sweep code, is the recorded cell."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pages.methods_page import cells_of, methods_sweep
from pages.paths import DOCS
from simulations.flower_run import resolved_config
from simulations.sweep import placed, run_cells

pytestmark = pytest.mark.e2e


def test_methods_sweep_cell_runs_with_the_config_docs_methods_json_records(tmp_path: Path) -> None:
    # Prepare: DKD on MNIST-1D Dirichlet(0.5), seed 0, as the sweep file has it, cut to one round (and a
    # private cache); every other value is the file's.
    recorded = json.loads((DOCS / "methods.json").read_text())["table"]["mnist1d-dir0.5"]["cells"]["DKD"]
    (cell,) = cells_of(["mnist1d-dir0.5"], ["DKD"], [0], rounds=1)
    cell = replace(cell, values={**cell.values, "cache-dir": str(tmp_path / "cache")})

    # Execute: the sweep's runner, as `python -m simulations.sweep` and the page use it.
    ((_, rounds),) = run_cells([cell], tmp_path / "runs", num_supernodes=methods_sweep().num_supernodes)

    # Assert: the run finished, in the folder named by its config, with the sweep file's config.
    assert isinstance(rounds, list) and [r["round"] for r in rounds] == [0, 1]
    assert rounds[-1]["clients_trained"] == 10
    folder = tmp_path / "runs" / placed(cell.values, tmp_path / "runs")["run-name"]
    stored = json.loads((folder / "results.json").read_text())["config"]
    expected = resolved_config(cell.values).to_dict()
    assert {k: v for k, v in stored.items() if k not in ("output-dir", "run-name")} == {
        k: v for k, v in expected.items() if k not in ("output-dir", "run-name")}
    assert all(stored[k] == v for k, v in recorded["overrides"].items())
    assert stored["experiment"] == "mnist1d-dirichlet.yaml" and stored["kd-temperature"] == 4.0
