"""End to end through Flower: ``flwr run`` on a private SuperLink, real data, real clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simulations.run import SimulationFailed, run_simulation

pytestmark = pytest.mark.e2e


def test_simulation_three_clients_two_rounds_writes_results_above_chance(tmp_path: Path) -> None:
    # Prepare: an experiment file (IID) with a run-config override on top of it.
    overrides = {
        "experiment": "mnist1d-iid.yaml",
        "num-server-rounds": 2,
        "teacher-epochs": 10,
        "output-dir": str(tmp_path / "results"),
        "run-name": "e2e",
        "cache-dir": str(tmp_path / "cache"),
    }

    # Execute
    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    # Assert: every results file, one record per round (0 included), accuracy above chance.
    assert folder == tmp_path / "results" / "e2e"
    document = json.loads((folder / "results.json").read_text())
    assert [r["round"] for r in document["rounds"]] == [0, 1, 2]
    final = document["rounds"][-1]
    assert final["global_accuracy"] > 0.2  # ten classes: chance is 0.1
    assert final["clients_trained"] == 3 and final["clients_evaluated"] == 3
    assert 0.0 < final["teacher_accuracy_mean"] <= 1.0
    assert final["bytes_sent"] > 0 and final["bytes_received"] > 0
    assert final["train_kd"] > 0 and final["train_ce"] > 0
    csv_lines = (folder / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("round,global_accuracy,global_loss") and len(csv_lines) == 4
    assert (folder / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["partitioner"] == "iid"  # from the experiment file
    assert config["num-server-rounds"] == 2  # the run-config override wins
    assert config == document["config"]
    assert (folder / "student.safetensors").is_file()
    # The teachers were trained once and cached on the clients' disk.
    assert len(list((tmp_path / "cache" / "teachers").glob("*.safetensors"))) >= 3


def test_simulation_with_invalid_config_is_reported_as_failed(tmp_path: Path) -> None:
    # `flwr run --stream` exits 0 when the ServerApp raises; the harness must not.
    overrides = {"kd-alpha": 1.5, "output-dir": str(tmp_path), "cache-dir": str(tmp_path / "cache")}

    with pytest.raises(SimulationFailed, match="kd-alpha"):
        run_simulation(num_supernodes=2, run_config=overrides, echo=False, timeout=300)

    assert not any(tmp_path.glob("*/results.json"))


def test_simulation_same_config_and_seed_gives_same_numbers(tmp_path: Path) -> None:
    def run(name: str) -> list[dict[str, float]]:
        overrides = {"num-server-rounds": 2, "teacher-epochs": 5, "output-dir": str(tmp_path), "run-name": name,
                     "cache-dir": str(tmp_path / f"cache-{name}")}
        folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)
        return json.loads((folder / "results.json").read_text())["rounds"]

    first, second = run("first"), run("second")

    for a, b in zip(first, second, strict=True):
        assert a["global_accuracy"] == b["global_accuracy"]
        assert a["global_loss"] == pytest.approx(b["global_loss"], rel=1e-5)
        assert a.get("teacher_accuracy_mean") == b.get("teacher_accuracy_mean")
        if a["round"] > 0:
            assert a["train_kd"] == pytest.approx(b["train_kd"], rel=1e-5)
            assert a["client_accuracy_mean"] == pytest.approx(b["client_accuracy_mean"], rel=1e-6)
