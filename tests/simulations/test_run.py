"""The harness reuses a finished run only for the identical config, and resumes a stopped one from its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fedkd.config import FedKDConfig
from simulations.flower_run import resolved_config
from simulations.reuse import finished_run, same_config
from simulations.run import resume_config


def test_same_config_counts_keys_a_run_predates_at_their_defaults() -> None:
    config = FedKDConfig()
    stored = {k: v for k, v in config.to_dict().items() if k != "hint-weight"}
    assert same_config(stored, config)
    assert not same_config(stored, FedKDConfig.from_mapping({"hint-weight": 1.0}))
    assert not same_config({**stored, "kd-alpha": 0.9}, config)
    assert not same_config({**config.to_dict(), "retired-key": 1}, config)


def test_finished_run_needs_every_round_of_the_identical_config(tmp_path: Path) -> None:
    values = {"output-dir": str(tmp_path), "run-name": "r", "num-server-rounds": 2}
    config = FedKDConfig.from_mapping(values)
    folder = tmp_path / "r"
    folder.mkdir()
    rounds = [{"round": r, "global_accuracy": 0.1 * r} for r in range(3)]
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds[:2]}))
    assert finished_run(values) is None  # a run that stopped early
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds}))
    assert finished_run(values) == rounds
    assert finished_run({**values, "kd-alpha": 0.9}) is None
    assert finished_run({**values, "run-name": "other"}) is None


def test_main_more_cpus_per_client_than_the_machine_has_exits_2_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from simulations.run import main

    assert main(["--client-cpus", "100000", "--no-prepare-teachers"]) == 2
    assert "--client-cpus=100000 must be in [1," in capsys.readouterr().err


def _stored(folder: Path, values: dict[str, object]) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))


def test_resume_config_continues_the_folder_with_its_stored_config(tmp_path: Path) -> None:
    config = resolved_config({"experiment": "mnist1d-iid.yaml", "kd-alpha": 0.3, "output-dir": str(tmp_path),
                              "run-name": "r"})
    _stored(tmp_path / "r", config.to_dict())

    values = resume_config(tmp_path / "r")

    assert values["resume-from"] == str((tmp_path / "r").resolve())
    assert resolved_config(values).to_dict() == {**config.to_dict(), "resume-from": values["resume-from"]}


def test_resume_config_of_a_moved_folder_writes_to_where_it_now_is(tmp_path: Path) -> None:
    _stored(tmp_path / "moved", {**FedKDConfig().to_dict(), "output-dir": "/gone", "run-name": "r"})

    values = resume_config(tmp_path / "moved")

    assert (values["output-dir"], values["run-name"]) == (str(tmp_path.resolve()), "moved")


def test_resume_config_that_does_not_resolve_back_to_itself_is_refused_naming_the_key(tmp_path: Path) -> None:
    # The experiment file says iid; a stored default (dirichlet) cannot override it back through a run config.
    _stored(tmp_path / "r", {**FedKDConfig().to_dict(), "experiment": "mnist1d-iid.yaml", "dataset": "mnist1d",
                             "output-dir": str(tmp_path), "run-name": "r"})

    with pytest.raises(ValueError, match="keys partitioner"):
        resume_config(tmp_path / "r")


def test_simulation_env_with_a_ray_address_names_it_for_flowers_ray_init(tmp_path: Path) -> None:
    from simulations.flower_run import simulation_env

    env = simulation_env(tmp_path, ray_address="127.0.0.1:6379", environ={"PATH": "/bin", "RAY_ADDRESS": "x:1"})
    assert env["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert env["FLWR_HOME"] == str(tmp_path)
    assert env["PATH"].endswith("/bin")


def test_simulation_env_without_an_address_keeps_the_users_or_starts_its_own_ray(tmp_path: Path) -> None:
    from simulations.flower_run import simulation_env

    assert simulation_env(tmp_path, environ={"RAY_ADDRESS": "10.0.0.2:6379"})["RAY_ADDRESS"] == "10.0.0.2:6379"
    # Not the cluster `ray start` may have left on the machine: a Ray instance of the run's own.
    assert simulation_env(tmp_path, environ={})["RAY_ADDRESS"] == "local"
    assert simulation_env(tmp_path, environ={"RAY_ADDRESS": ""})["RAY_ADDRESS"] == "local"


def test_main_ray_address_flag_reaches_the_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    import simulations.run as harness

    seen: dict[str, object] = {}

    def fake_run_simulation(**kwargs: object) -> Path:
        seen.update(kwargs)
        raise harness.SimulationFailed("not run in this test")

    monkeypatch.setattr(harness, "run_simulation", fake_run_simulation)
    monkeypatch.setattr(harness, "write_resolved_experiment", lambda plan: None)
    # Execute
    code = harness.main(["--ray-address", "127.0.0.1:6379", "--no-prepare-teachers", "--num-supernodes", "3"])
    # Assert
    assert code == 1
    assert seen["ray_address"] == "127.0.0.1:6379"
    assert seen["num_supernodes"] == 3


def test_same_config_run_that_predates_teacher_pretraining_counts_as_shard_only() -> None:
    shard_only = FedKDConfig.from_mapping({"teacher-pretraining": "none"})
    stored = {k: v for k, v in shard_only.to_dict().items() if k != "teacher-pretraining"}

    assert same_config(stored, shard_only)
    assert not same_config(stored, FedKDConfig())
