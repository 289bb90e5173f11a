"""The bytes page: its rows are valid configs, its numbers are sums and means of the runs' round records."""

from __future__ import annotations

from typing import Any

import pytest

from pages.bytes_page import BIG, ROWS, SMALL, mb_to_reach, plot, row_summary, run_summary, run_values, table_lines
from simulations.flower_run import resolved_config


@pytest.mark.parametrize("row", list(ROWS))
def test_bytes_page_every_row_is_a_valid_config_with_its_overrides_and_a_name_per_seed(row: str) -> None:
    config = resolved_config(run_values(row, 0))  # validates every key
    for key, value in ROWS[row][1].items():
        assert config.to_dict()[key] == value
    assert run_values(row, 0)["run-name"] != run_values(row, 1)["run-name"]
    assert len({run_values(name, 0)["run-name"] for name in ROWS}) == len(ROWS)


def test_bytes_page_big_row_is_fedavg_of_the_teacher_architecture_without_distillation() -> None:
    config = resolved_config(run_values(BIG, 0))
    assert (config.student, config.kd_alpha) == (config.teacher, 1.0)


def _rounds(accuracies: list[float], sent: int, received: int) -> list[dict[str, Any]]:
    return [{"round": i, "global_accuracy": a, "bytes_sent": 0 if i == 0 else sent,
             "bytes_received": 0 if i == 0 else received} for i, a in enumerate(accuracies)]


def test_bytes_page_run_summary_sums_bytes_per_round_into_cumulative_mb() -> None:
    # Prepare: 2 rounds of 1.5 MB down and 0.5 MB up each.
    summary = run_summary(_rounds([0.1, 0.6, 0.5], 1_500_000, 500_000))
    # Assert
    assert summary["curve"] == [[0.0, 0.1], [2.0, 0.6], [4.0, 0.5]]
    assert (summary["mb_sent"], summary["mb_received"]) == (3.0, 1.0)
    assert (summary["final_accuracy"], summary["best_accuracy"]) == (0.5, 0.6)


def test_bytes_page_row_summary_means_over_seeds_and_mb_to_reach_reads_the_mean_curve() -> None:
    runs = {0: run_summary(_rounds([0.1, 0.4, 0.6], 1_000_000, 0)),
            1: run_summary(_rounds([0.1, 0.6, 0.8], 1_000_000, 0))}
    row = row_summary(runs, parameters=10)
    assert row["seeds"] == [0, 1]
    assert row["final_accuracy"] == pytest.approx(0.7)
    assert row["final_accuracy_std"] == pytest.approx(0.1414, abs=1e-4)
    assert mb_to_reach(row["curve"], 0.5) == 1.0
    assert mb_to_reach(row["curve"], 0.71) is None


def test_bytes_page_table_shows_seed_counts_and_mb_to_reach_the_student_architecture_fedavg() -> None:
    small = row_summary({0: run_summary(_rounds([0.1, 0.3, 0.5], 2_000_000, 1_000_000))}, parameters=100)
    kd = row_summary({0: run_summary(_rounds([0.1, 0.5, 0.6], 2_000_000, 250_000)),
                      1: run_summary(_rounds([0.1, 0.5, 0.7], 2_000_000, 250_000))}, parameters=100)
    lines = table_lines({"rows": {SMALL: small, "kd": kd}})
    assert lines[2] == f"| {SMALL} | 1 | 100 | 50.0% | 50.0% | 4.00 | 2.00 | 6.00 | 6.00 |"
    assert lines[3] == "| kd | 2 | 100 | 65.0% ± 7.1 | 65.0% | 4.00 | 0.50 | 4.50 | 2.25 |"
    assert plot({"rows": {SMALL: small, "kd": kd}})[:8] == b"\x89PNG\r\n\x1a\n"
