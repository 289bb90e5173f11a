"""The harness reuses a finished run only for the identical config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedkd.config import FedKDConfig
from simulations.run import finished_run, same_config


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
