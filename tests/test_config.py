"""Config: defaults, precedence, and errors that name the key and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from fedkd.config import ConfigError, FedKDConfig

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_run_config_equals_the_dataclass_defaults() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert pyproject["tool"]["flwr"]["app"]["config"] == FedKDConfig().to_dict()


@pytest.mark.parametrize(
    "values, fragments",
    [
        ({"kd-temperature": 0.0}, ["kd-temperature=0.0", "> 0"]),
        ({"kd-alpha": 1.5}, ["kd-alpha=1.5", "[0, 1]"]),
        ({"kd-alpha": -0.2}, ["kd-alpha=-0.2", "[0, 1]"]),
        ({"student": "resnet"}, ["student='resnet'", "cnn-large, cnn-small, cnn1d, mlp"]),
        ({"dataset": "cifar10"}, ["dataset='cifar10'", "digits, fashion-mnist, mnist1d"]),
        ({"teacher": "cnn-small"}, ["teacher='cnn-small'", "for mnist1d choose one of cnn1d, mlp"]),
        ({"partitioner": "shards"}, ["partitioner='shards'", "iid, dirichlet, pathological"]),
        ({"strategy": "scaffold"}, ["strategy='scaffold'", "fedavg"]),
        ({"num-server-rounds": 2.5}, ["num-server-rounds=2.5", "type int"]),
        ({"local-epochs": "3"}, ["local-epochs='3'", "type int"]),
        ({"dirichlet-alpha": 0}, ["dirichlet-alpha=0.0", "> 0"]),
        ({"dp-accountant": "gdp"}, ["dp-accountant='gdp'", "rdp, prv"]),
    ],
)
def test_bad_value_fails_naming_key_and_allowed_values(values: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        FedKDConfig.from_mapping(values)

    for fragment in fragments:
        assert fragment in str(error.value)


def test_unknown_key_fails_listing_the_allowed_keys() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'kd-alfa'; allowed keys: .*kd-alpha"):
        FedKDConfig.from_mapping({"kd-alfa": 0.3})


def test_run_config_precedence_defaults_then_experiment_then_changed_values(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("kd-alpha: 0.3\nnum-server-rounds: 7\npartitioner: iid\n")
    run_config = {**FedKDConfig().to_dict(), "experiment": str(experiment), "num-server-rounds": 9}

    config = FedKDConfig.from_run_config(run_config)

    assert config.kd_alpha == 0.3  # from the experiment file
    assert config.partitioner == "iid"
    assert config.num_server_rounds == 9  # a changed run-config value beats the file
    assert config.kd_temperature == FedKDConfig().kd_temperature  # untouched default


def test_experiment_path_resolves_under_the_app_experiments_folder() -> None:
    config = FedKDConfig.from_run_config({"experiment": "fashion-mnist-iid.yaml"}, base_dir=ROOT)

    assert config.dataset == "fashion-mnist" and config.partitioner == "iid"


@pytest.mark.parametrize(
    "text, message",
    [
        ("kd-alfa: 0.2\n", "unknown config key 'kd-alfa'"),
        ("- a\n- b\n", "must hold a mapping"),
        ("kd-alpha: [1\n", "not valid YAML"),
        ("experiment: other.yaml\n", "may not name another experiment"),
        ("kd-alpha: 2.0\n", "kd-alpha=2.0"),
    ],
)
def test_bad_experiment_file_fails_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    experiment = tmp_path / "bad.yaml"
    experiment.write_text(text)

    with pytest.raises(ConfigError, match=message):
        FedKDConfig.from_run_config({"experiment": str(experiment)})


def test_missing_experiment_file_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="experiment='nope.yaml': no such file"):
        FedKDConfig.from_run_config({"experiment": "nope.yaml"}, base_dir=ROOT)


@pytest.mark.parametrize("path", sorted((ROOT / "simulations" / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_experiment_is_a_valid_config(path: Path) -> None:
    config = FedKDConfig.from_run_config({"experiment": str(path)})

    assert config.experiment == str(path)


def test_config_is_frozen_and_round_trips_through_its_dict() -> None:
    config = FedKDConfig.from_mapping({"kd-alpha": 0.7, "seed": 5})

    assert FedKDConfig.from_mapping(config.to_dict()) == config
    with pytest.raises(AttributeError):
        config.kd_alpha = 0.1  # type: ignore[misc]
