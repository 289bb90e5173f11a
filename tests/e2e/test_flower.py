"""End to end through Flower: ``flwr run`` on a private SuperLink, real data, real clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from simulations.flower_run import SimulationFailed, run_simulation

pytestmark = pytest.mark.e2e


def test_simulation_three_clients_two_rounds_writes_results_above_chance(tmp_path: Path) -> None:
    # Prepare: an experiment file (IID) with a run-config override on top of it.
    overrides = {
        "experiment": "mnist1d-iid.yaml",
        "num-server-rounds": 2,
        "teacher-epochs": 10, "teacher-pretraining": "none",
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
    # TensorBoard event files from the same records: every round's global accuracy, each site's own.
    assert len(final["client_accuracy_per_site"]) == 3
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("global/global_accuracy")] == [
        (r["round"], pytest.approx(r["global_accuracy"])) for r in document["rounds"]]
    assert sum(tag.startswith("client_accuracy_per_site/") for tag in events.Tags()["scalars"]) == 3
    # The teachers were trained once and cached on the clients' disk.
    assert len(list((tmp_path / "cache" / "teachers").glob("*.safetensors"))) >= 3


def test_simulation_with_invalid_config_is_reported_as_failed(tmp_path: Path) -> None:
    # `flwr run --stream` exits 0 when the ServerApp raises; the harness must not.
    overrides = {"kd-alpha": 1.5, "output-dir": str(tmp_path), "cache-dir": str(tmp_path / "cache")}

    with pytest.raises(SimulationFailed, match="kd-alpha"):
        run_simulation(num_supernodes=2, run_config=overrides, echo=False, timeout=300)

    assert not any(tmp_path.glob("*/results.json"))


def test_simulation_same_config_and_seed_gives_the_same_numbers_bit_for_bit(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    def run(name: str) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
        overrides = {"num-server-rounds": 2, "teacher-epochs": 5,
                     "teacher-pretraining": "none", "output-dir": str(tmp_path), "run-name": name,
                     "cache-dir": str(tmp_path / f"cache-{name}")}
        folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)
        rounds = json.loads((folder / "results.json").read_text())["rounds"]
        return [{k: v for k, v in r.items() if k != "round_seconds"} for r in rounds], load_file(
            folder / "student.safetensors")

    (first, first_student), (second, second_student) = run("a"), run("b")

    # Simulated node ids differ between the runs; nothing the run computes may depend on them.
    for a, b in zip(first, second, strict=True):
        assert a == b  # on a failure, the whole differing round is shown
    assert first_student.keys() == second_student.keys()
    for name, tensor in first_student.items():
        assert torch.equal(tensor, second_student[name]), name


def test_client_level_dp_reports_user_level_epsilon_every_round(tmp_path: Path) -> None:
    from opacus.accountants import RDPAccountant

    overrides = {"num-server-rounds": 2, "teacher-epochs": 3,
                 "teacher-pretraining": "none", "client-dp": "client-fixed",
                 "client-dp-noise-multiplier": 2.0, "client-dp-clipping-norm": 1.0,
                 "output-dir": str(tmp_path), "run-name": "cdp", "cache-dir": str(tmp_path / "cache")}

    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    epsilons = [r["user_epsilon"] for r in rounds[1:]]
    # One Gaussian release per round, no amplification by sampling: an independent RDP count.
    for releases, epsilon in enumerate(epsilons, start=1):
        reference = RDPAccountant()
        for _ in range(releases):
            reference.step(noise_multiplier=2.0, sample_rate=1.0)
        assert epsilon == pytest.approx(reference.get_epsilon(delta=1e-5), rel=0.05)
    assert epsilons[1] > epsilons[0] > 0
    assert all(r["user_delta"] == 1e-5 for r in rounds[1:])


def test_secure_aggregation_gives_the_weighted_average_of_the_sites_students(tmp_path: Path) -> None:
    import torch
    from flwr.app import Context, RecordDict

    import clients.site
    from clients.local_round import train_round
    from fedkd.checkpoint import load_model
    from fedkd.config import FedKDConfig
    from fedkd.distill.schedules import round_values
    from fedkd.seeding import seed_everything
    from fedkd.student import build_student

    overrides = {"num-server-rounds": 1, "teacher-epochs": 3, "teacher-pretraining": "none", "secure-aggregation": True,
                 "output-dir": str(tmp_path), "run-name": "secagg", "cache-dir": str(tmp_path / "cache")}

    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    # The same round, in this process and in the clear: every site trains the initial student.
    config = FedKDConfig.from_mapping(overrides)
    seed_everything(config.seed)
    initial = build_student(config).state_dict()
    clients.site._sites.clear()
    clients.site._teachers.clear()
    states, weights = [], []
    for partition in range(3):
        student = build_student(config)
        student.load_state_dict(initial)
        context = Context(run_id=1, node_id=partition, node_config={"partition-id": partition, "num-partitions": 3},
                          state=RecordDict(), run_config={})
        weights.append(train_round(config, context, student, 1, round_values(config, 1))["num-examples"])
        states.append(student.state_dict())
    expected = {k: sum(s[k] * (w / sum(weights)) for s, w in zip(states, weights, strict=True)) for k in initial}
    secure, _ = load_model(folder / "student.safetensors")
    for key, tensor in secure.state_dict().items():
        assert torch.allclose(tensor, expected[key], atol=1e-4), key  # SecAgg+ quantizes: tiny error only
    record = json.loads((folder / "results.json").read_text())["rounds"][-1]
    assert record["clients_trained"] == 3 and record["global_accuracy"] > 0.15


def test_secure_aggregation_sends_each_round_its_scheduled_temperature(tmp_path: Path) -> None:
    # SecAgg+'s legacy workflow asks for a fit config every round; the default schedule (T 8 -> 2) rides in it.
    overrides = {"num-server-rounds": 2, "teacher-epochs": 3, "teacher-pretraining": "none", "secure-aggregation": True,
                 "output-dir": str(tmp_path), "run-name": "secagg-schedule", "cache-dir": str(tmp_path / "cache")}

    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    assert [r["kd_temperature"] for r in rounds[1:]] == [8.0, 2.0]  # echoed by the sites that trained with it
    assert all(r["clients_trained"] == 3 for r in rounds[1:])


def test_int8_compressed_updates_under_server_side_client_dp_shrink_the_bytes_received(tmp_path: Path) -> None:
    # Prepare: int8 updates (about a quarter of float32 weights), decoded at the server before DP clipping.
    from flwr.app import ArrayRecord, RecordDict

    from fedkd.config import FedKDConfig
    from fedkd.student import build_student
    from server.metered_grid import content_bytes

    overrides = {"num-server-rounds": 2, "teacher-epochs": 3,
                 "teacher-pretraining": "none", "update-compression": "int8",
                 "client-dp": "server-fixed", "client-dp-noise-multiplier": 0.001, "client-dp-clipping-norm": 10.0,
                 "output-dir": str(tmp_path), "run-name": "int8", "cache-dir": str(tmp_path / "cache")}
    student = content_bytes(RecordDict({"arrays": ArrayRecord(build_student(FedKDConfig()).state_dict())}))

    # Execute
    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    # Assert: three replies a round, each well under a third of the float32 student (metrics included).
    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    for record in rounds[1:]:
        assert record["clients_trained"] == 3 and record["user_epsilon"] > 0
        assert 0 < record["bytes_received"] < 0.3 * 3 * student
    assert rounds[-1]["global_accuracy"] > 0.15
