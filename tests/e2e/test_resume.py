"""End to end through Flower: a run whose server is killed mid-run resumes and ends as if never stopped."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from server.run_state import CHECKPOINT, load_run_state
from simulations.flower_run import APP_DIR, run_config_string, run_simulation

pytestmark = pytest.mark.e2e


def _overrides(tmp_path: Path, tag: str) -> dict[str, Any]:
    # Equal-length paths in both runs: the config travels to the sites, and its bytes are counted.
    return {"num-server-rounds": 4, "teacher-epochs": 3,
            "teacher-pretraining": "none", "strategy": "fedavgm", "run-name": "run",
            "output-dir": str(tmp_path / f"out-{tag}"), "cache-dir": str(tmp_path / f"cache-{tag}")}


def _processes_of(home: Path) -> list[int]:
    """Ids of this user's processes started for the Flower home ``home`` (the SuperLink and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"FLWR_HOME={home}\0".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_server(harness: subprocess.Popen[bytes], tmp: Path) -> None:
    """SIGKILL the harness's process group, then every process of its private SuperLink, by id."""
    try:
        os.killpg(harness.pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended by itself (a failed run): its log tells why
        pass
    harness.wait()
    for home in tmp.glob("fedkd-flwr-*"):
        deadline = time.monotonic() + 60
        while (pids := _processes_of(home)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        assert not _processes_of(home), f"processes of {home} survived SIGKILL"


def _rounds_and_students(folder: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, torch.Tensor]]]:
    from safetensors.torch import load_file

    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    students = {name: load_file(folder / name) for name in ("student.safetensors", "student-best.safetensors")}
    return [{k: v for k, v in r.items() if k != "round_seconds"} for r in rounds], students


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short private TMPDIR: the harness's Flower home lands there, and Ray's socket paths must stay short."""
    folder = Path(tempfile.mkdtemp(prefix="fkd", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_run_killed_after_round_two_and_resumed_equals_the_uninterrupted_run_bit_for_bit(tmp_path: Path,
                                                                                        short_tmp: Path) -> None:
    # Prepare: start a 4-round run through the harness, in its own process group, and kill it (and its
    # SuperLink: the whole server side) with SIGKILL once round 2 is recorded.
    tmp = short_tmp
    env = {**os.environ, "TMPDIR": str(tmp)}
    killed = _overrides(tmp_path, "a")
    folder = Path(killed["output-dir"]) / "run"
    command = [sys.executable, "-m", "simulations.run", "--num-supernodes", "2", "--no-baseline"]
    with open(tmp_path / "harness.log", "wb") as log:
        harness = subprocess.Popen([*command, "--run-config", run_config_string(killed)], cwd=APP_DIR, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and harness.poll() is None:
                # Round 2 is recorded in results.json, and its checkpoint (written right after) is complete.
                if (folder / CHECKPOINT).is_file() and load_run_state(folder / CHECKPOINT).server_round >= 2:
                    break
                time.sleep(0.2)
        finally:
            _kill_server(harness, tmp)
    cut = len(json.loads((folder / "results.json").read_text())["rounds"]) - 1
    assert 2 <= cut < 4, f"the run was not cut mid-run (last round {cut}); see {tmp_path / 'harness.log'}"

    # Execute: resume it, and run the same config uninterrupted.
    resumed = subprocess.run([*command, "--resume", str(folder)], cwd=APP_DIR, env=env, capture_output=True,
                             text=True, timeout=900, check=False)
    whole = run_simulation(num_supernodes=2, run_config=_overrides(tmp_path, "b"), echo=False, timeout=900)

    # Assert: every round record (but its wall time) and both students are those of the uninterrupted run.
    (tmp_path / "resume.log").write_text(resumed.stdout + resumed.stderr)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # The checkpoint follows the round's record: it is round `cut`, or `cut - 1` if the kill fell between the
    # next round's record and its checkpoint (that round is then run again, identically).
    started = re.search(r"resuming after round (\d) of 4", resumed.stdout + resumed.stderr)
    assert started is not None and int(started.group(1)) in (cut - 1, cut), tmp_path / "resume.log"
    logged = [int(r) for r in re.findall(r"\[fedkd\] round (\d)/4:", resumed.stdout + resumed.stderr)]
    assert logged == list(range(int(started.group(1)) + 1, 5))  # only the rounds left were run
    rounds, students = _rounds_and_students(folder)
    whole_rounds, whole_students = _rounds_and_students(whole)
    assert [r["round"] for r in rounds] == [0, 1, 2, 3, 4]
    for mine, theirs in zip(rounds, whole_rounds, strict=True):
        assert mine == theirs  # on a failure, the whole differing round is shown
    # TensorBoard: the killed run's event file and the resumed run's read as one run, each round once.
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("global/global_accuracy")] == [
        (r["round"], pytest.approx(r["global_accuracy"])) for r in rounds]
    for name, tensors in whole_students.items():
        assert students[name].keys() == tensors.keys()
        assert all(torch.equal(students[name][k], v) for k, v in tensors.items()), name
