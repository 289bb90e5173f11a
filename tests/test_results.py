"""Results files: the documented shapes, written atomically."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
import yaml

import fedkd.io
import fedkd.results
from fedkd.io import write_atomic
from fedkd.results import ROUND_FIELDS, ResultsWriter, read_results

CONFIG = {"dataset": "mnist1d", "partitioner": "dirichlet", "kd-alpha": 0.5, "num-server-rounds": 2,
          "local-dp": False, "run-name": ""}
FIRST = {"round": 0, "global_accuracy": 0.1, "global_loss": 2.3}
SECOND = {"round": 1, "global_accuracy": 0.4, "global_loss": math.nan, "client_accuracy_mean": math.inf,
          "epsilon_max": 1.5}


@pytest.fixture
def written(tmp_path: Path) -> Path:
    writer = ResultsWriter(tmp_path, CONFIG)
    writer.append(FIRST)
    writer.append(SECOND)
    return tmp_path


def test_results_writer_json_holds_the_config_and_both_rounds(written: Path) -> None:
    document = json.loads((written / "results.json").read_text())

    assert set(document) == {"config", "rounds"}
    assert document["config"] == CONFIG
    assert document["rounds"] == [
        FIRST,
        {"round": 1, "global_accuracy": 0.4, "global_loss": None, "client_accuracy_mean": "inf", "epsilon_max": 1.5},
    ]
    assert read_results(written) == document == read_results(written / "results.json")


def test_results_writer_json_is_standard_json_without_nan(written: Path) -> None:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    json.loads((written / "results.json").read_text(), parse_constant=refuse)


def test_results_writer_csv_has_header_and_one_row_per_round_standard_columns_first(written: Path) -> None:
    with (written / "results.csv").open(newline="") as stream:
        header = next(csv.reader(stream))
        stream.seek(0)
        rows = list(csv.DictReader(stream))

    assert header == [*ROUND_FIELDS, "epsilon_max"]
    assert len(rows) == 2
    assert rows[0]["round"] == "0" and rows[0]["global_accuracy"] == "0.1" and rows[0]["global_loss"] == "2.3"
    assert rows[0]["epsilon_max"] == "" and rows[0]["train_loss"] == ""
    assert rows[1]["round"] == "1" and rows[1]["global_accuracy"] == "0.4"
    assert rows[1]["global_loss"] == "" and rows[1]["client_accuracy_mean"] == "inf"  # NaN: empty; inf: "inf"
    assert rows[1]["epsilon_max"] == "1.5"


def test_results_writer_plot_is_a_png(written: Path) -> None:
    assert (written / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_writer_config_yaml_round_trips(written: Path) -> None:
    assert yaml.safe_load((written / "config.yaml").read_text()) == CONFIG


def test_results_writer_leaves_exactly_its_four_files(written: Path) -> None:
    assert sorted(os.listdir(written)) == ["accuracy.png", "config.yaml", "results.csv", "results.json"]


def test_results_writer_does_not_keep_the_callers_record_or_config(tmp_path: Path) -> None:
    config = dict(CONFIG)
    record = dict(SECOND)
    writer = ResultsWriter(tmp_path, config)

    writer.append(record)
    config["dataset"] = "changed"

    assert record == SECOND  # NaN is replaced in the stored copy, not in the caller's dict
    assert math.isnan(record["global_loss"])
    assert writer.config == CONFIG


def test_write_atomic_failed_replace_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fedkd.io.os, "replace", broken_replace)

    # Execute
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")

    # Assert
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_atomic_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(fedkd.io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(target, b"new")

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_atomic_creates_the_folder_and_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"

    write_atomic(target, b"first")
    write_atomic(target, b"second")

    assert target.read_bytes() == b"second" and os.listdir(target.parent) == ["file.bin"]


@pytest.mark.parametrize("content", ['{"rounds": []}', '{"config": {}}', "[]"])
def test_read_results_file_that_is_not_a_results_file_raises_value_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "results.json").write_text(content)

    with pytest.raises(ValueError, match="not a fedkd results file"):
        read_results(tmp_path)


def test_results_writer_nested_nan_becomes_null_and_infinity_the_string_inf(tmp_path: Path) -> None:
    # A site without noise reports an infinite epsilon, which lands inside the per-client mapping.
    writer = ResultsWriter(tmp_path, CONFIG)

    writer.append({"round": 1, "epsilon_per_client": {"1": math.inf, "2": 0.5}, "values": [math.nan, 1.0, -math.inf]})

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    document = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert document["rounds"][0]["epsilon_per_client"] == {"1": "inf", "2": 0.5}
    assert document["rounds"][0]["values"] == [None, 1.0, "-inf"]
    assert float(document["rounds"][0]["epsilon_per_client"]["1"]) == math.inf


def test_accuracy_plot_is_a_png_drawn_without_pyplot(tmp_path: Path) -> None:
    # pyplot's global state broke a simulation once (imported half-initialized from two threads).
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from fedkd.results import plot_accuracy; "
        f"plot_accuracy([{{'round': 0, 'global_accuracy': 0.1}}, {{'round': 1, 'global_accuracy': 0.5}}], "
        f"Path({str(tmp_path / 'a.png')!r}), 't'); print('matplotlib.pyplot' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "False"
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
