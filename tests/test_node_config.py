"""A site's node config: parsed once, typed, and an unknown key is an error naming the known ones."""

from __future__ import annotations

import pytest

from fedkd.config import ConfigError
from fedkd.node_config import NodeConfig


def test_node_config_simulated_node_is_a_partition_named_by_its_id() -> None:
    node = NodeConfig.from_mapping({"partition-id": 3, "num-partitions": 10})

    assert node.simulated and node.identity == "partition-3"


def test_node_config_real_site_is_named_by_its_data_dir_and_reads_every_key() -> None:
    node = NodeConfig.from_mapping({"data-dir": "/srv/site", "teacher-checkpoint": "/srv/t.safetensors",
                                    "teacher-architecture": "cnn1d", "teacher-public": True, "cache-dir": "/c"})

    assert not node.simulated and node.identity == "/srv/site"
    assert (node.teacher_checkpoint, node.teacher_architecture, node.teacher_public, node.cache_dir) == (
        "/srv/t.safetensors", "cnn1d", True, "/c")


def test_node_config_unknown_key_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'teacher-checkpiont'.*teacher-checkpoint.*teacher-public"):
        NodeConfig.from_mapping({"data-dir": "/srv/site", "teacher-checkpiont": "/srv/t.safetensors"})


@pytest.mark.parametrize(("key", "value"), [("teacher-public", "yes"), ("partition-id", "0"), ("data-dir", 3)])
def test_node_config_value_of_the_wrong_type_is_refused_naming_it(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        NodeConfig.from_mapping({key: value})


def test_node_config_site_floors_parse_numbers_as_floats_and_refuse_negative_ones() -> None:
    node = NodeConfig.from_mapping({"data-dir": "/srv", "require-local-dp": True, "min-noise-multiplier": 1,
                                    "lifetime-epsilon": 8.5, "allow-server-paths": True})

    assert (node.require_local_dp, node.min_noise_multiplier, node.lifetime_epsilon, node.allow_server_paths) == (
        True, 1.0, 8.5, True)
    assert isinstance(node.min_noise_multiplier, float)
    with pytest.raises(ConfigError, match=r"lifetime-epsilon=-1.0 must be a number >= 0"):
        NodeConfig.from_mapping({"lifetime-epsilon": -1.0})
