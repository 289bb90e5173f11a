"""The scale benchmark's helpers: memory summed over a process tree, rows merged into its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench import scale

HELD_MB = 150
# A child that writes (so makes resident) HELD_MB megabytes, says so, and waits for its stdin to close.
HOLDER = f"b = b'x' * ({HELD_MB} * 2**20); print('ready', flush=True); import sys; sys.stdin.read()"


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    yield child
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=60)


def test_tree_memory_with_a_child_holding_memory_counts_the_child(holder: subprocess.Popen[str]) -> None:
    # Prepare
    me = psutil.Process()
    own = me.memory_info().rss
    # Execute
    tree = scale.tree_memory(me)
    # Assert: the tree holds this process and, beyond it, the child's written megabytes
    assert tree - own >= HELD_MB * 2**20
    assert scale.tree_memory(psutil.Process(holder.pid)) >= HELD_MB * 2**20


def test_tree_memory_pss_with_a_child_counts_the_child_in_proportion(holder: subprocess.Popen[str]) -> None:
    pss = scale.tree_memory(psutil.Process(holder.pid), pss=True)
    rss = scale.tree_memory(psutil.Process(holder.pid))
    assert HELD_MB * 2**20 <= pss <= rss


def test_tree_memory_of_an_ended_process_is_zero() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    process = psutil.Process(child.pid)
    child.wait(timeout=60)
    assert scale.tree_memory(process) == 0


def test_peak_memory_around_a_child_keeps_its_peak_after_it_ends() -> None:
    # Prepare
    child = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    # Execute: the child holds its memory while sampled, then ends before the sampler stops
    with scale.PeakMemory(interval=0.05) as memory:
        assert child.stdout.readline().strip() == "ready"
        memory.sample()
        child.stdin.close()
        child.wait(timeout=60)
    # Assert
    assert memory.peak_rss - psutil.Process().memory_info().rss >= HELD_MB * 2**20
    assert memory.peak_pss >= HELD_MB * 2**20
    assert memory.samples >= 3  # entry, the explicit one, exit


def test_peak_memory_with_a_non_positive_interval_raises() -> None:
    with pytest.raises(ValueError, match="interval=0"):
        scale.PeakMemory(interval=0)


def test_merged_with_a_row_of_a_known_count_replaces_it_and_keeps_the_others_sorted() -> None:
    # Prepare
    document = {"rows": [{"num_supernodes": 1000, "wall_seconds": 9.0}, {"num_supernodes": 10, "wall_seconds": 1.0}],
                "machine": {"cpus": 2}}
    # Execute
    result = scale.merged(document, {"num_supernodes": 1000, "wall_seconds": 5.0})
    result = scale.merged(result, {"num_supernodes": 100, "wall_seconds": 3.0})
    # Assert
    assert result["rows"] == [{"num_supernodes": 10, "wall_seconds": 1.0}, {"num_supernodes": 100, "wall_seconds": 3.0},
                              {"num_supernodes": 1000, "wall_seconds": 5.0}]
    assert result["machine"] == {"cpus": 2}
    assert document["rows"][0] == {"num_supernodes": 1000, "wall_seconds": 9.0}  # the input is untouched


def test_save_row_twice_keeps_the_first_row_and_the_latest_machine(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "results" / "scale.json"
    path.parent.mkdir()
    # Execute
    scale.save_row(path, {"num_supernodes": 10, "wall_seconds": 1.0}, {"cpus": 2})
    scale.save_row(path, {"num_supernodes": 10000, "skipped": "too few samples"}, {"cpus": 4})
    # Assert
    saved = json.loads(path.read_text())
    assert saved["rows"] == [{"num_supernodes": 10, "wall_seconds": 1.0},
                             {"num_supernodes": 10000, "skipped": "too few samples"}]
    assert saved["machine"] == {"cpus": 4}
    assert sorted(p.name for p in path.parent.iterdir()) == ["scale.json"]  # no temporary file left


@pytest.mark.parametrize(("sites", "expected"), [(1, 1), (10, 2), (100, 10), (1000, 100), (10000, 1000)])
def test_sampled_at_a_tenth_is_the_strategy_sample_with_its_minimum_of_two(sites: int, expected: int) -> None:
    assert scale.sampled(sites, 0.1) == expected


def test_skip_reason_beyond_the_training_samples_names_them() -> None:
    assert scale.skip_reason(4000) == ""
    assert "4000 training samples" in scale.skip_reason(10000)
