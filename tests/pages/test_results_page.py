"""The results page's anchor sentence, from the anchor's stored cells."""

from __future__ import annotations

import json
from pathlib import Path

from pages.anchor_page import SWEEP_FILE
from pages.measured_cells import cell_record
from pages.results_page import anchor_summary
from simulations.sweep_spec import load_spec


def test_anchor_sentence_names_the_sweeps_rows_and_says_what_the_complete_rows_show(tmp_path: Path) -> None:
    # Prepare: the reproduction's three Dirichlet seeds, inside the published 88.09 +- 0.29.
    spec = load_spec(SWEEP_FILE)
    cells = [c for c in spec.cells() if (c.setting, c.row) == ("dirichlet", "niid-bench CNN FedAvg")]
    records = [cell_record(c, [{"global_accuracy": 0.880 + c.seed / 1000}], metric="global_accuracy",
                           measured="2026-01-01", where="m") for c in cells]
    (tmp_path / "anchor.json").write_text(json.dumps({"cells": records}))

    # Execute
    sentence = anchor_summary(tmp_path)

    # Assert: every row of the sweep file is named, and the finding is the anchor page's.
    assert all(row in sentence for row in spec.row_table())
    assert f"3 of {len(spec.cells())} cells measured" in sentence
    assert "The reproduction (niid-bench CNN FedAvg): 88.10%, within the band." in sentence
    assert "The best row with all 3 seeds in (niid-bench CNN FedAvg): 88.10%, within the band." in sentence
    assert "So far: 0 of" in anchor_summary(tmp_path / "nowhere")
