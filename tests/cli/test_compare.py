"""``fedkd compare``: one line per run from each results.json, clear errors for a folder or metric that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.compare import compare, compare_figure, load_run
from cli.main import main
from cli.student_file import CommandError
from fedkd.results import ResultsWriter


def _run(folder: Path, name: str, accuracies: list[float], **config: object) -> Path:
    writer = ResultsWriter(folder, {"run-name": name, "output-dir": str(folder.parent), **config},
                           tensorboard=False)
    for index, accuracy in enumerate(accuracies):
        writer.append({"round": index, "global_accuracy": accuracy, "global_loss": 1.0 - accuracy,
                       "round_seconds": 0.5, "failures": {}}, final=index == len(accuracies) - 1)
    return folder


def test_compare_plots_one_line_per_run_labelled_by_run_name(tmp_path: Path) -> None:
    # Prepare: two runs of different lengths.
    first = _run(tmp_path / "a", "kd-0.5", [0.1, 0.4, 0.6])
    second = _run(tmp_path / "b", "ce-only", [0.1, 0.3])
    runs = [load_run(first), load_run(second)]

    # Execute
    figure = compare_figure(runs, "global_accuracy")

    # Assert: each line is its run's accuracy per round, labelled with its run name.
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["kd-0.5", "ce-only"]
    assert list(lines[0].get_xdata()) == [0, 1, 2] and list(lines[0].get_ydata()) == [0.1, 0.4, 0.6]
    assert list(lines[1].get_ydata()) == [0.1, 0.3]
    assert figure.axes[0].get_ylabel() == "global_accuracy"


def test_compare_command_writes_a_png_and_names_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _run(tmp_path / "a", "kd", [0.1, 0.5]), _run(tmp_path / "b", "ce", [0.1, 0.4])
    out = tmp_path / "plots" / "compare.png"

    code = main(["compare", str(first), str(second), "--metric", "global_loss", "--out", str(out)])

    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["compare.png"]  # nothing half-written beside it
    assert "global_loss of kd, ce" in capsys.readouterr().out  # the same config: labelled by name alone


def test_compare_folder_that_is_not_a_run_is_named_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _run(tmp_path / "a", "kd", [0.1, 0.5])
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    out = tmp_path / "compare.png"

    code = main(["compare", str(good), str(empty), "--out", str(out)])

    assert code == 2
    assert f"{empty} is not a run: it holds no results.json" in capsys.readouterr().err
    assert not out.exists()


def test_compare_results_file_that_is_not_fedkds_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"accuracy": [0.1]}))

    with pytest.raises(CommandError, match="other is not a run: .*needs 'config' and 'rounds'"):
        load_run(folder)


def test_compare_metric_absent_lists_the_metrics_the_run_has(tmp_path: Path) -> None:
    run = _run(tmp_path / "a", "kd", [0.1, 0.5])

    with pytest.raises(CommandError, match=r"--metric epsilon_max: run kd .* has no such values; its metrics: "
                                           r"global_accuracy, global_loss, round_seconds$"):
        compare([run], "epsilon_max", tmp_path / "compare.png")
    assert not (tmp_path / "compare.png").exists()


def test_compare_run_without_run_name_is_labelled_by_its_folder(tmp_path: Path) -> None:
    folder = _run(tmp_path / "20260101-120000", "", [0.2])
    assert load_run(folder)[0] == "20260101-120000"


def test_compare_labels_runs_by_name_and_the_config_values_they_differ_in(tmp_path: Path) -> None:
    first = _run(tmp_path / "run-1a2b", "run-1a2b", [0.1, 0.5], **{"kd-alpha": 0.5, "seed": 0, "dataset": "m"})
    second = _run(tmp_path / "run-3c4d", "run-3c4d", [0.1, 0.4], **{"kd-alpha": 1.0, "seed": 1, "dataset": "m"})

    names = compare([first, second], "global_accuracy", tmp_path / "compare.png")

    assert names == ["run-1a2b kd-alpha=0.5 seed=0", "run-3c4d kd-alpha=1.0 seed=1"]
