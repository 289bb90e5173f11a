"""Results files: the documented shapes, written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml

import fedkd.results
from fedkd.results import ROUND_FIELDS, ResultsWriter, read_results, write_atomic


def test_writer_keeps_json_csv_plot_and_config_in_step(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, {"dataset": "mnist1d", "kd-alpha": 0.5})

    writer.append({"round": 0, "global_accuracy": 0.1, "global_loss": 2.3})
    writer.append({"round": 1, "global_accuracy": 0.4, "global_loss": math.nan, "epsilon_max": 1.5})

    document = json.loads((tmp_path / "results.json").read_text())
    assert document["config"] == {"dataset": "mnist1d", "kd-alpha": 0.5}
    assert [r["round"] for r in document["rounds"]] == [0, 1]
    assert document["rounds"][1]["global_loss"] is None  # NaN is not JSON
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0].split(",") == [*ROUND_FIELDS, "epsilon_max"]
    assert len(lines) == 3 and lines[2].startswith("1,0.4,")
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == document["config"]
    assert read_results(tmp_path) == document
    assert not list(tmp_path.glob(".*.part"))


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fedkd.results.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_read_results_refuses_a_file_that_is_not_a_results_file(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"rounds": []}')

    with pytest.raises(ValueError, match="not a fedkd results file"):
        read_results(tmp_path)
