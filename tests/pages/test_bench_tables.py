"""The measured tables of hand-written pages are what the benchmarks' JSON says."""

from __future__ import annotations

import pytest

from pages import bench_tables


@pytest.mark.parametrize("name", bench_tables.TABLES)
def test_bench_table_in_its_page_is_what_the_generator_writes_now(name: str) -> None:
    # On a failure: run `python -m pages.bench_tables` and commit the result.
    path, table = bench_tables.TABLES[name]
    page = path.read_text()
    assert page == bench_tables.rendered(page, name, table())


def test_bench_table_rendering_replaces_only_the_marked_block() -> None:
    page = "before\n<!-- generated:x (python -m pages.bench_tables) -->\nold\n<!-- end:x -->\nafter\n"
    assert bench_tables.rendered(page, "x", "new") == page.replace("old", "new")
    assert bench_tables.rendered(bench_tables.rendered(page, "x", "new"), "x", "new") == page.replace("old", "new")


def test_scale_table_with_a_measured_and_a_skipped_count_renders_both_and_marks_the_missing() -> None:
    # Prepare
    measured = {"num_supernodes": 1000, "sampled_per_round": 100, "rounds": 20, "wall_seconds": 1500.0,
                "teacher_seconds": 360.0, "startup_seconds": 60.4, "round_seconds_total": 1079.6,
                "round_seconds_first": 120.25, "round_seconds_median": 48.04, "peak_rss_mb": 3210.4,
                "peak_pss_mb": 2100.6, "final_global_accuracy": 0.61234, "load_average_1min_before_after": [2.04, 3.96],
                "niceness": 0}
    document = {"rows": [measured, {"num_supernodes": 10000, "skipped": "too few samples"}]}
    # Execute
    lines = bench_tables.scale_table(document).splitlines()
    # Assert
    assert len(lines) == 2 + 4  # header, rule, 10, 100, 1,000, 10,000
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2].startswith("| 10 | not run: not measured yet |")
    assert lines[4] == ("| 1,000 | 100 | 20 | 25.0 | 360 | 60 | 1080 | 120.2 | 48.0 | 3,210 | 2,101 | 0.6123 | "
                        "2.0 / 4.0 | 0 |")
    assert lines[5].startswith("| 10,000 | not run: too few samples |")


def test_delivery_sweep_table_with_a_scaled_up_row_says_how_many_nodes_were_timed() -> None:
    document = {"rows": [
        {"num_supernodes": 100, "messages_in_flight": 10, "sweep_cpu_seconds_median": 0.0123456,
         "sweep_seconds_median": 0.03, "nodes_swept": 100, "sweep_extrapolated": False, "load_average_1min": 2.0},
        {"num_supernodes": 10000, "messages_in_flight": 1000, "sweep_cpu_seconds_median": 61.234,
         "sweep_seconds_median": 300.0, "nodes_swept": 2000, "sweep_extrapolated": True, "load_average_1min": 20.04},
    ]}
    lines = bench_tables.delivery_sweep_table(document).splitlines()
    assert lines[2] == "| 100 | 10 | 0.01235 | 0.03 | all | 2.0 |"
    assert lines[3] == "| 10,000 | 1,000 | 61.23 | 300 | 2,000 of 10,000 | 20.0 |"
