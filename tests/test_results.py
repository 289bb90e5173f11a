"""Results files: the documented shapes, written atomically."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
import yaml

import fedkd.results
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


def test_results_writer_leaves_exactly_its_four_files_and_the_event_folder(written: Path) -> None:
    assert sorted(os.listdir(written)) == ["accuracy.png", "config.yaml", "results.csv", "results.json", "tensorboard"]
    assert all(name.startswith("events.out.tfevents.") for name in os.listdir(written / "tensorboard"))


def test_results_writer_does_not_keep_the_callers_record_or_config(tmp_path: Path) -> None:
    config = dict(CONFIG)
    record = dict(SECOND)
    writer = ResultsWriter(tmp_path, config)

    writer.append(record)
    config["dataset"] = "changed"

    assert record == SECOND  # NaN is replaced in the stored copy, not in the caller's dict
    assert math.isnan(record["global_loss"])
    assert writer.config == CONFIG


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


def test_results_writer_plot_is_throttled_but_drawn_for_the_first_and_last_rounds(tmp_path: Path) -> None:
    # Prepare
    writer = ResultsWriter(tmp_path, CONFIG, plot_interval=3600)
    plot = tmp_path / "accuracy.png"

    # Execute / Assert: the first round is drawn; the second, within the interval, only goes to JSON and CSV.
    writer.append(FIRST)
    first = plot.read_bytes()
    writer.append(SECOND)
    assert plot.read_bytes() == first
    assert len(read_results(tmp_path)["rounds"]) == 2
    # flush (the server calls it at the end of a run) draws the missing round.
    writer.flush()
    second = plot.read_bytes()
    assert second != first
    # The last round is drawn at once.
    writer.append({"round": 2, "global_accuracy": 0.8, "global_loss": 1.0}, final=True)
    assert plot.read_bytes() != second


def test_results_writer_plot_interval_zero_draws_every_round(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, CONFIG, plot_interval=0)
    writer.append(FIRST)
    first = (tmp_path / "accuracy.png").read_bytes()
    writer.append(SECOND)
    assert (tmp_path / "accuracy.png").read_bytes() != first


SIMULATED = [
    {"round": 0, "global_accuracy": 0.1, "global_loss": 2.3},
    {"round": 1, "global_accuracy": 0.5, "global_loss": 1.5, "train_loss": 1.2, "clients_trained": 3,
     "simulated_sites": 3},
    {"round": 2, "global_accuracy": 0.6, "global_loss": 1.1, "train_loss": 0.9, "clients_trained": 3,
     "simulated_sites": 3},
]
RUN_CONFIG = {**CONFIG, "seed": 7, "run-name": "first-try", "dirichlet-alpha": 0.5}


def test_run_title_simulation_names_dataset_clients_partitioner_rounds_seed_and_run() -> None:
    title = fedkd.results.run_title(RUN_CONFIG, SIMULATED)

    assert title == "mnist1d | 3 simulated clients, dirichlet(0.5) | 2 rounds | seed 7 | run first-try"


def test_run_title_causal_lm_names_its_own_split_not_the_classifier_partitioner() -> None:
    by_topic = {**RUN_CONFIG, "task": "causal-lm", "lm-partitioner": "topic", "partitioner": "dirichlet"}
    dirichlet = {**by_topic, "lm-partitioner": "dirichlet"}

    assert "3 simulated clients, topic |" in fedkd.results.run_title(by_topic, SIMULATED)
    assert "3 simulated clients, dirichlet(0.5) |" in fedkd.results.run_title(dirichlet, SIMULATED)


def test_run_title_deployment_names_no_partitioner() -> None:
    deployed = [{**r, "simulated_sites": 0} for r in SIMULATED]

    title = fedkd.results.run_title(RUN_CONFIG, deployed)

    assert "dirichlet" not in title and "simulated" not in title
    assert title == "mnist1d | 3 sites | 2 rounds | seed 7 | run first-try"


def test_results_figure_has_integer_round_ticks_a_loss_panel_and_the_title() -> None:
    figure = fedkd.results.results_figure(SIMULATED, "the title")

    accuracy, loss = figure.axes
    figure.canvas.draw()
    ticks = [t for t in accuracy.get_xticks() if accuracy.get_xlim()[0] <= t <= accuracy.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert loss.get_ylabel() == "loss"
    plotted = {line.get_label(): list(line.get_ydata()) for line in loss.get_lines()}
    assert plotted["global student (server test set)"] == [2.3, 1.5, 1.1]
    assert plotted["training objective (clients)"][1:] == [1.2, 0.9]
    assert figure.get_suptitle() == "the title"


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_writer_files_get_the_modes_of_a_plain_open_under_the_umask(
    tmp_path: Path, mask: int, mode: int
) -> None:
    old = os.umask(mask)
    try:
        writer = ResultsWriter(tmp_path / "run", CONFIG)
        writer.append(FIRST)
    finally:
        os.umask(old)

    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert modes == dict.fromkeys(("config.yaml", "results.json", "results.csv", "accuracy.png"), mode)
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "run" / "tensorboard").iterdir()} == {mode}
