"""Config: defaults, precedence, and errors that name the key and what is allowed."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from fedkd.config import ConfigError, FedKDConfig, to_key

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = sorted((ROOT / "simulations" / "experiments").glob("*.yaml"))
# Written out, not read from the registry: a model added or renamed must show up in the messages users read.
IMAGE_MODELS = "cnn-large, cnn-niid-bench, cnn-small, cnn-small-gn-tanh, mlp, mlp-tanh"
ALL_MODELS = "cnn-large, cnn-niid-bench, cnn-small, cnn-small-gn-tanh, cnn1d, mlp, mlp-tanh"


def _pyproject_run_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    return config


def test_fedkd_config_defaults_are_valid_and_every_field_has_a_kebab_key() -> None:
    config = FedKDConfig()

    assert FedKDConfig.keys() == [to_key(f.name) for f in dataclasses.fields(FedKDConfig)]
    assert all("_" not in key for key in FedKDConfig.keys())
    assert FedKDConfig.from_mapping(config.to_dict()) == config


def test_fedkd_config_pyproject_run_config_has_exactly_the_dataclass_keys() -> None:
    assert set(_pyproject_run_config()) == set(FedKDConfig.keys())


@pytest.mark.parametrize("key", FedKDConfig.keys())
def test_fedkd_config_pyproject_value_equals_the_dataclass_default(key: str) -> None:
    # Flower passes TOML values through with their TOML type, so the type must match too (1 is not 1.0).
    value, default = _pyproject_run_config()[key], FedKDConfig().to_dict()[key]

    assert value == default
    assert type(value) is type(default)


def test_fedkd_config_unknown_key_raises_naming_it_and_listing_every_allowed_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'kd-alfa'") as error:
        FedKDConfig.from_mapping({"kd-alfa": 0.3})

    listed = str(error.value).split("allowed keys: ", 1)[1].split(", ")
    assert listed == FedKDConfig.keys()


@pytest.mark.parametrize(
    "values, fragments",
    [
        ({"kd-temperature": 0.0}, ["kd-temperature=0.0", "must be > 0"]),
        ({"kd-temperature": -2.0}, ["kd-temperature=-2.0", "must be > 0"]),
        ({"kd-alpha": 1.5}, ["kd-alpha=1.5", "must be in [0, 1]"]),
        ({"kd-alpha": -0.2}, ["kd-alpha=-0.2", "must be in [0, 1]"]),
        ({"student": "resnet"}, ["student='resnet'",
                                 "choose one of " + ALL_MODELS]),
        ({"teacher": "resnet"}, ["teacher='resnet'",
                                 "choose one of " + ALL_MODELS]),
        ({"dataset": "cifar10"}, ["dataset='cifar10'", "choose one of bbc-news, digits, fashion-mnist, mnist1d"]),
        ({"student": "cnn-small"}, ["student='cnn-small'", "for mnist1d choose one of cnn1d, mlp, mlp-tanh"]),
        ({"teacher": "cnn-small"}, ["teacher='cnn-small'", "for mnist1d choose one of cnn1d, mlp, mlp-tanh"]),
        ({"dataset": "fashion-mnist", "teacher": "cnn1d"},
         ["teacher='cnn1d'", "for fashion-mnist choose one of " + IMAGE_MODELS]),
        ({"dp-batch-size": -1}, ["dp-batch-size=-1", "must be >= 0"]),
        ({"dp-learning-rate": -0.1}, ["dp-learning-rate=-0.1", "must be >= 0"]),
        ({"dp-physical-batch-size": 8, "dp-grad-sample-mode": "ghost"},
         ["dp-physical-batch-size=8", "needs per-sample gradients"]),
        ({"student-pretrain-epochs": 0}, ["student-pretrain-epochs=0", "must be >= 1"]),
        ({"partitioner": "shards"}, ["partitioner='shards'", "choose one of iid, dirichlet, pathological"]),
        ({"num-server-rounds": 2.5}, ["num-server-rounds=2.5", "must be of type int", "got float"]),
        ({"local-epochs": "3"}, ["local-epochs='3'", "must be of type int", "got str"]),
        ({"seed": True}, ["seed=True", "must be of type int", "got bool"]),
        ({"local-dp": 1}, ["local-dp=1", "must be of type bool"]),
        ({"kd-alpha": "0.5"}, ["kd-alpha='0.5'", "must be of type float"]),
        ({"dirichlet-alpha": 0}, ["dirichlet-alpha=0.0", "must be > 0"]),
        ({"classes-per-client": 11}, ["classes-per-client=11", "must be in [1, 10] for mnist1d"]),
        ({"local-test-fraction": 1.0}, ["local-test-fraction=1.0", "must be in [0, 1)"]),
        ({"dp-accountant": "gdp"}, ["dp-accountant='gdp'", "choose one of rdp, prv"]),
        ({"student-device": "tpu"}, ["student-device='tpu'", "use auto, cpu, cuda or cuda:N"]),
        ({"run-name": "../x"}, ["run-name='../x'", "must be a plain folder name"]),
        ({"update-compression": "zip"}, ["update-compression='zip'", "choose one of none, fp16, int8, topk, lowrank"]),
        ({"compression-topk-fraction": 0.0}, ["compression-topk-fraction=0.0", "must be in (0, 1]"]),
        ({"compression-rank": 0}, ["compression-rank=0", "must be >= 1"]),
        ({"teacher-finetune-epochs": -1}, ["teacher-finetune-epochs=-1", "must be >= 0"]),
        ({"teacher-finetune-epochs": 2, "teacher-dp": True, "teacher-checkpoint": "/t.safetensors"},
         ["teacher-finetune-epochs=2", "cannot combine with teacher-dp"]),
        ({"teacher-pretraining": "imagenet"}, ["teacher-pretraining='imagenet'", "public-pool, none"]),
        ({"teacher-pretrain-samples": 15}, ["teacher-pretrain-samples=15", "multiple of 10"]),
        ({"teacher-pretrain-epochs": 0}, ["teacher-pretrain-epochs=0", "must be >= 1"]),
        ({"update-compression": "int8", "secure-aggregation": True},
         ["update-compression='int8'", "secure-aggregation sums masked"]),
        ({"update-compression": "topk", "client-dp": "client-fixed"},
         ["update-compression='topk'", "client-dp=client-fixed clips the reply"]),
        ({"update-compression": "fp16", "client-dp": "client-adaptive"},
         ["update-compression='fp16'", "client-dp=client-adaptive"]),
    ],
)
def test_fedkd_config_bad_value_raises_config_error_naming_key_and_allowed_values(
    values: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as error:
        FedKDConfig.from_mapping(values)

    for fragment in fragments:
        assert fragment in str(error.value)


def test_fedkd_config_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="kd-temperature=0.0 is not allowed"):
        FedKDConfig(kd_temperature=0.0)


def test_fedkd_config_int_for_a_float_key_is_accepted_as_float() -> None:
    config = FedKDConfig.from_mapping({"kd-temperature": 3, "dirichlet-alpha": 1})

    assert config.kd_temperature == 3.0 and type(config.kd_temperature) is float
    assert type(config.dirichlet_alpha) is float


def test_fedkd_config_is_frozen_and_does_not_change_its_base() -> None:
    base = FedKDConfig()
    config = FedKDConfig.from_mapping({"kd-alpha": 0.7, "seed": 5}, base=base)

    assert (config.kd_alpha, config.seed) == (0.7, 5)
    assert base == FedKDConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kd_alpha = 0.1  # type: ignore[misc]


def _write_experiment(folder: Path, values: dict[str, Any]) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_fedkd_config_from_run_config_defaults_then_experiment_then_changed_values(tmp_path: Path) -> None:
    # Prepare: Flower's run config holds every key; only num-server-rounds differs from its default.
    experiment = _write_experiment(tmp_path, {"kd-alpha": 0.3, "num-server-rounds": 7, "partitioner": "iid"})
    run_config = {**_pyproject_run_config(), "experiment": str(experiment), "num-server-rounds": 9}

    # Execute
    config = FedKDConfig.from_run_config(run_config)

    # Assert
    assert config.kd_alpha == 0.3  # the file beats the default
    assert config.partitioner == "iid"
    assert config.num_server_rounds == 9  # a changed run-config value beats the file
    assert config.kd_temperature == FedKDConfig().kd_temperature  # named nowhere: the default
    assert config.experiment == str(experiment)


def test_fedkd_config_from_run_config_value_equal_to_default_does_not_override_the_experiment(
    tmp_path: Path,
) -> None:
    # Flower sends every key, so a run-config value equal to its default cannot be told from "not given".
    experiment = _write_experiment(tmp_path, {"kd-alpha": 0.3})
    run_config = {"experiment": str(experiment), "kd-alpha": FedKDConfig().kd_alpha}

    config = FedKDConfig.from_run_config(run_config)

    assert config.kd_alpha == 0.3


def test_fedkd_config_from_run_config_without_experiment_gives_the_changed_values() -> None:
    changed = {"seed": 4, "dataset": "digits", "teacher": "cnn-small"}

    config = FedKDConfig.from_run_config({**_pyproject_run_config(), **changed})

    assert config == dataclasses.replace(FedKDConfig(), seed=4, dataset="digits", teacher="cnn-small")


def test_fedkd_config_experiment_name_resolves_under_the_app_experiments_folder() -> None:
    config = FedKDConfig.from_run_config({"experiment": "fashion-mnist-iid.yaml"}, base_dir=ROOT)

    assert config.dataset == "fashion-mnist" and config.partitioner == "iid"


@pytest.mark.parametrize(
    "text, message",
    [
        ("kd-alfa: 0.2\n", "unknown config key 'kd-alfa'; allowed keys: num-server-rounds, "),
        ("- a\n- b\n", "experiment='.*bad.yaml' must hold a mapping of config keys, got list"),
        ("just a string\n", "must hold a mapping of config keys, got str"),
        ("kd-alpha: [1\n", "not valid YAML"),
        ("experiment: other.yaml\n", "may not name another experiment"),
        ("kd-alpha: 2.0\n", r"kd-alpha=2.0 is not allowed: must be in \[0, 1\]"),
        ("student: !!python/name:os.system\n", "not valid YAML"),
    ],
)
def test_fedkd_config_bad_experiment_file_raises_config_error_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    experiment = tmp_path / "bad.yaml"
    experiment.write_text(text)

    with pytest.raises(ConfigError, match=message):
        FedKDConfig.from_run_config({"experiment": str(experiment)})


def test_fedkd_config_empty_experiment_file_gives_the_defaults(tmp_path: Path) -> None:
    experiment = tmp_path / "empty.yaml"
    experiment.write_text("# nothing differs\n")

    config = FedKDConfig.from_run_config({"experiment": str(experiment)})

    assert config == dataclasses.replace(FedKDConfig(), experiment=str(experiment))


def test_fedkd_config_missing_experiment_file_raises_naming_it() -> None:
    with pytest.raises(ConfigError, match="experiment='nope.yaml': no such file"):
        FedKDConfig.from_run_config({"experiment": "nope.yaml"}, base_dir=ROOT)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_fedkd_config_every_shipped_experiment_loads_into_a_valid_config(path: Path) -> None:
    values = yaml.safe_load(path.read_text())

    config = FedKDConfig.from_run_config({"experiment": path.name}, base_dir=ROOT)

    assert values and config.to_dict() == {**FedKDConfig().to_dict(), **values, "experiment": path.name}


def test_fedkd_config_shipped_experiments_exist() -> None:
    assert len(EXPERIMENTS) >= 5


def test_fedkd_config_snake_case_key_is_refused_suggesting_the_kebab_one() -> None:
    with pytest.raises(ConfigError, match=r"'learning_rate' \(did you mean 'learning-rate'\?\)"):
        FedKDConfig.from_mapping({"learning_rate": 0.1})


def test_fedkd_config_evaluate_every_zero_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="evaluate-every=0 is not allowed: must be >= 1"):
        FedKDConfig.from_mapping({"evaluate-every": 0})


@pytest.mark.parametrize("mode", ["server-fixed", "server-adaptive"])
def test_fedkd_config_compression_with_server_side_client_dp_is_accepted(mode: str) -> None:
    # The server decodes before it clips (server/compression_strategy.py), so the clipping bound holds.
    config = FedKDConfig.from_mapping({"update-compression": "int8", "client-dp": mode})
    assert (config.update_compression, config.client_dp) == ("int8", mode)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"task": "translation"}, "task"),
        ({"task": "causal-lm"}, "dataset"),
        ({"task": "causal-lm", "dataset": "bbc-news", "local-dp": True, "dp-grad-sample-mode": "ghost"},
         "dp-grad-sample-mode"),
        ({"task": "causal-lm", "dataset": "bbc-news", "secure-aggregation": True}, "secure-aggregation"),
        ({"lm-teacher-patience": 0}, "lm-teacher-patience"),
        ({"lm-teacher-holdout-fraction": 1.0}, "lm-teacher-holdout-fraction"),
        ({"lm-teacher-eval-every": -1}, "lm-teacher-eval-every"),
        ({"lora-rank": 0}, "lora-rank"),
        ({"lora-targets": "q_proj,,v_proj"}, "lora-targets"),
        ({"lm-sequence-length": 1}, "lm-sequence-length"),
        ({"kd-top-k": -1}, "kd-top-k"),
        ({"lm-generation-tokens": -1}, "lm-generation-tokens"),
        ({"lm-partitioner": "by-site"}, "lm-partitioner"),
    ],
)
def test_config_causal_lm_bad_value_raises_naming_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        FedKDConfig.from_mapping(values)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"task": "text-encoder"}, "dataset"),
        ({"task": "text-encoder", "dataset": "bbc-news", "local-dp": True}, "local-dp"),
        ({"task": "text-encoder", "dataset": "bbc-news", "update-compression": "int8"}, "update-compression"),
        ({"task": "text-encoder", "dataset": "bbc-news", "resume-from": "results/x"}, "resume-from"),
        ({"encoder-max-tokens": 2}, "encoder-max-tokens"),
        ({"encoder-student-layers": -1}, "encoder-student-layers"),
        ({"encoder-learning-rate": 0.0}, "encoder-learning-rate"),
    ],
)
def test_config_text_encoder_bad_value_raises_naming_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        FedKDConfig.from_mapping(values)


def test_config_text_encoder_on_bbc_news_accepted() -> None:
    config = FedKDConfig.from_mapping({"task": "text-encoder", "dataset": "bbc-news", "encoder-student-layers": 3})

    assert (config.task, config.encoder_student_layers, config.encoder_max_tokens) == ("text-encoder", 3, 64)


def test_config_causal_lm_local_dp_accepted() -> None:
    config = FedKDConfig.from_mapping({"task": "causal-lm", "dataset": "bbc-news", "local-dp": True})
    assert config.local_dp and config.dp_grad_sample_mode == "hooks"


def test_config_causal_lm_on_bbc_news_accepted() -> None:
    config = FedKDConfig.from_mapping({"task": "causal-lm", "dataset": "bbc-news", "kd-top-k": 32})
    assert config.task == "causal-lm" and config.kd_top_k == 32


def test_a_key_added_later_leaves_a_digest_alone_at_its_default_and_enters_it_when_set() -> None:
    # public-pool-holdout came after runs were recorded by digest; at 0 those runs must keep theirs.
    plain = FedKDConfig.from_mapping({"dataset": "fashion-mnist", "student": "cnn-small", "teacher": "cnn-large",
                                      "teacher-pretraining": "none"})
    held = FedKDConfig.from_mapping({**plain.to_dict(), "public-pool-holdout": 1000})

    assert "public-pool-holdout" not in plain.digest_dict() and "public-pool-holdout" in plain.to_dict()
    assert held.digest_dict()["public-pool-holdout"] == 1000
    assert {k: v for k, v in plain.to_dict().items() if k != "public-pool-holdout"} == plain.digest_dict()
