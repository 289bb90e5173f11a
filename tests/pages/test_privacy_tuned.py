"""The tuned-DP section of docs/privacy.md: curves from sweep summaries, paired gaps, additive rewrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pages.privacy_tuned import TUNED_SECTION, missed_target_lines, rewrite_tuned, tuned_data, tuned_lines


def _sweep(root: Path, name: str, values: dict[str, dict[str, float]]) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "sweep.json").write_text(json.dumps({"name": name, "values": values}))


@pytest.fixture()
def sweeps(tmp_path: Path) -> Path:
    _sweep(tmp_path, "dp-mnist1d-before", {"dp-target-epsilon=8.0": {"0": 0.30, "1": 0.20},
                                           "dp-target-epsilon=2.0": {"0": 0.15, "1": 0.10}})
    _sweep(tmp_path, "dp-mnist1d-before-nodp", {"local-dp=False": {"0": 0.55, "1": 0.45}})
    _sweep(tmp_path, "dp-mnist1d-tuned", {"dp-target-epsilon=8.0": {"0": 0.53, "1": 0.44},
                                          "dp-target-epsilon=2.0": {"0": 0.50}})
    _sweep(tmp_path, "dp-mnist1d-tuned-curve", {"dp-target-epsilon=4.0": {"0": 0.52}})
    _sweep(tmp_path, "dp-mnist1d-tuned-nodp", {"local-dp=False": {"0": 0.56, "1": 0.46}})
    return tmp_path


def test_tuned_data_merges_curve_sweeps_and_falls_back_to_the_page_for_before(sweeps: Path) -> None:
    page = {"datasets": {"Fashion-MNIST": {"baseline": {"final_accuracy": 0.836}, "table": {
        "local DP (record level)": {"8.0": {"final_accuracy": 0.731}}}}}}

    data = tuned_data(sweeps, {"runs": [{"dataset": "MNIST-1D"}]}, page, specs=sweeps / "no-sweep-files")

    after = data["datasets"]["MNIST-1D"]["after"]
    assert set(after["epsilon"]) == {"8.0", "2.0", "4.0"}
    assert after["no_dp"] == {"0": 0.56, "1": 0.46}
    assert data["datasets"]["Fashion-MNIST"]["before"]["epsilon"] == {"8.0": {"0": 0.731}}
    assert "after" not in data["datasets"]["Fashion-MNIST"]
    assert data["screen"] == [{"dataset": "MNIST-1D"}]


def test_tuned_lines_gap_is_paired_over_shared_seeds_and_judged_against_the_target(sweeps: Path) -> None:
    data = tuned_data(sweeps, None, specs=sweeps / 'no-sweep-files')

    rows = [line for line in tuned_lines(data) if line.startswith("| MNIST-1D")]

    # before at 8: (0.55-0.30 + 0.45-0.20)/2 = 25 points, 22 over the 3-point target;
    # at 2: (0.40 + 0.35)/2 = 37.5 points, 29.5 over the 8-point target
    assert rows[0].endswith("| +25.0 (missed by 22.0) | +37.5 (missed by 29.5) |")
    # after at 8: (0.03 + 0.02)/2 = 2.5 points (met); at 2 only seed 0 is shared: 6 points (met, 2 to spare)
    assert rows[1].endswith("| +2.5 (met by 0.5) | +6.0 (met by 2.0) |")
    assert "| - | 50.0% (50.0 to 50.0, 1) | 52.0% (52.0 to 52.0, 1) |" in rows[1]  # no epsilon 1: a dash


def test_tuned_data_counts_the_finished_runs_of_a_sweep_file_without_a_summary(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dp-mnist1d-tuned-nodp.yaml").write_text(
        "seeds: [0, 1]\nbase: {num-server-rounds: 1}\ngrid: {local-dp: [false]}\nbaseline: {local-dp: false}\n")
    (tmp_path / "dp-mnist1d-tuned-nodp").mkdir()
    _sweep(tmp_path, "dp-mnist1d-tuned", {"dp-target-epsilon=8.0": {"0": 0.5}})

    data = tuned_data(tmp_path, None, specs=specs)  # no run of the no-DP sweep has finished

    assert "MNIST-1D" not in data["datasets"]


def test_rewrite_tuned_replaces_its_section_and_keeps_the_rest(sweeps: Path) -> None:
    data = tuned_data(sweeps, None, specs=sweeps / 'no-sweep-files')
    page = "# title\n\ntable\n\n## What the figures cover\n\n- text\n"

    once = rewrite_tuned(page, data)
    twice = rewrite_tuned(once.replace("+2.5", "+9.9"), data)

    assert once.startswith(page.rstrip("\n")) and once.count(TUNED_SECTION) == 1
    assert twice == once
    middle = "# title\n\n" + TUNED_SECTION + "\nold\n\n## What the figures cover\n\n- text\n"
    assert rewrite_tuned(middle, data).endswith("## What the figures cover\n\n- text\n")


def test_tuned_data_keeps_a_stage_measured_elsewhere_when_its_sweeps_have_no_run_here(sweeps: Path) -> None:
    measured_after = {"sweep": "dp-fmnist-tuned", "no_dp": {"0": 0.84}, "epsilon": {"8.0": {"0": 0.80}},
                       "round_0": [0.1]}
    previous = {"datasets": {"Fashion-MNIST": {"after": measured_after},
                             "MNIST-1D": {"after": {"sweep": "stale", "no_dp": {}, "epsilon": {}}}}}

    data = tuned_data(sweeps, None, specs=sweeps / "no-sweep-files", previous=previous)

    assert data["datasets"]["Fashion-MNIST"]["after"] == measured_after
    assert data["datasets"]["MNIST-1D"]["after"]["no_dp"] == {"0": 0.56, "1": 0.46}  # runs here win


def test_missed_target_lines_say_by_how_much_and_give_each_seeds_gap(sweeps: Path) -> None:
    data = tuned_data(sweeps, None, specs=sweeps / "no-sweep-files")
    after = data["datasets"]["MNIST-1D"]["after"]
    after["epsilon"]["8.0"] = {"0": 0.50, "1": 0.44}  # gaps 6 and 2 points: mean 4, one over the 3-point target

    lines = missed_target_lines(data)

    assert lines == ["", "MNIST-1D misses the epsilon-8 target by 1.0 points on the mean of 2 seeds; seed by seed "
                         "the gap is seed 0 +6.0, seed 1 +2.0."]
    after["epsilon"]["8.0"] = {"0": 0.53, "1": 0.44}
    assert missed_target_lines(data) == []


def test_a_public_pool_recipe_gets_its_own_row_and_is_named_where_it_meets_a_target_the_tuned_one_misses(
        tmp_path: Path) -> None:
    # Prepare: Fashion-MNIST's tuned recipe 4 points short at epsilon 8, its public-pool recipe 1 point short.
    _sweep(tmp_path, "dp-fmnist-tuned", {"dp-target-epsilon=8.0": {"0": 0.76, "1": 0.76}})
    _sweep(tmp_path, "dp-fmnist-tuned-nodp", {"student=cnn-small-gn-tanh": {"0": 0.80, "1": 0.80}})
    _sweep(tmp_path, "dp-fmnist-public", {"dp-target-epsilon=8.0": {"0": 0.83, "1": 0.85}})
    _sweep(tmp_path, "dp-fmnist-public-nodp", {"student=cnn-small-gn-tanh": {"0": 0.84, "1": 0.86}})

    # Execute
    data = tuned_data(tmp_path, None, specs=tmp_path / "no-sweep-files")
    lines = tuned_lines(data)

    # Assert
    rows = [line for line in lines if line.startswith("| Fashion-MNIST")]
    assert [r.split(" | ")[1] for r in rows] == ["tuned, `fashion-mnist-dp-tuned.yaml` (`dp-fmnist-tuned`)",
                                                 "tuned with a public pool, `fashion-mnist-dp-public.yaml` "
                                                 "(`dp-fmnist-public`)"]
    assert rows[1].endswith("| +1.0 (met by 2.0) | - |")
    assert missed_target_lines(data) == [
        "", "Fashion-MNIST, tuned, misses the epsilon-8 target by 1.0 points on the mean of 2 seeds; seed by seed "
            "the gap is seed 0 +4.0, seed 1 +4.0; the recipe tuned with a public pool meets it (+1.0 over 2 seeds)."]


def test_pool_alone_words_say_plainly_when_the_federation_ends_below_the_pool_pretrained_student() -> None:
    from pages.privacy_tuned import pool_alone_words

    run = {"round_0": [0.88, 0.90], "no_dp": {"0": 0.87, "1": 0.87}, "epsilon": {"8.0": {"0": 0.86, "1": 0.86}}}
    helped = {**run, "no_dp": {"0": 0.93, "1": 0.93}}

    below, above = pool_alone_words("X", "r", run), pool_alone_words("X", "r", helped)

    assert "scores 89.0% (mean of 2 runs)" in below
    assert "adds -2.0 points to it without DP and at epsilon 8 -3.0" in below
    assert "ends below the pool's alone" in below and "ends below" not in above
    assert "adds +4.0 points" in above
