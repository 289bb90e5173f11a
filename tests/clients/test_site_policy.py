"""What a site refuses whatever the run config asks: server paths, runs without DP, noise below its floor."""

from __future__ import annotations

from typing import Any

import pytest

from clients.site_policy import SiteRefusal, check_delta, check_noise, check_request, server_paths
from fedkd.config import FedKDConfig
from fedkd.node_config import NodeConfig

REAL = {"data-dir": "/srv/site"}
SIMULATED = {"partition-id": 0, "num-partitions": 2}


def _config(**values: Any) -> FedKDConfig:
    return FedKDConfig.from_mapping(values)


def test_check_request_server_sent_teacher_checkpoint_at_real_site_is_refused_naming_it() -> None:
    config = _config(**{"teacher-checkpoint": "/elsewhere/t.safetensors", "cache-dir": "/tmp/x"})

    with pytest.raises(SiteRefusal, match=r"teacher-checkpoint='/elsewhere/t.safetensors', cache-dir='/tmp/x'"):
        check_request(config, NodeConfig.from_mapping(REAL))


def test_check_request_paths_the_node_names_itself_or_allows_are_accepted() -> None:
    config = _config(**{"teacher-checkpoint": "/elsewhere/t.safetensors", "cache-dir": "/tmp/x"})
    own = NodeConfig.from_mapping({**REAL, "teacher-checkpoint": "/srv/t.safetensors", "cache-dir": "/srv/cache"})
    allowing = NodeConfig.from_mapping({**REAL, "allow-server-paths": True})

    check_request(config, own)
    check_request(config, allowing)

    assert server_paths(config, own) == []
    assert server_paths(config, allowing) == ["teacher-checkpoint", "cache-dir"]


def test_check_request_simulated_node_uses_the_runs_paths() -> None:
    config = _config(**{"teacher-checkpoint": "/t.safetensors", "cache-dir": "/c", "data-dir": "/d"})

    check_request(config, NodeConfig.from_mapping(SIMULATED))

    assert server_paths(config, NodeConfig.from_mapping(SIMULATED)) == []


def test_check_request_site_requiring_local_dp_refuses_a_run_without_it() -> None:
    node = NodeConfig.from_mapping({**REAL, "require-local-dp": True})

    with pytest.raises(SiteRefusal, match="requires local-dp"):
        check_request(_config(), node)
    check_request(_config(**{"local-dp": True}), node)


def test_check_request_site_with_a_lifetime_budget_refuses_a_run_without_local_dp() -> None:
    node = NodeConfig.from_mapping({**SIMULATED, "lifetime-epsilon": 4})

    with pytest.raises(SiteRefusal, match=r"lifetime-epsilon=4.0.*local-dp=false"):
        check_request(_config(), node)


def test_check_request_real_site_refuses_a_per_run_ledger_simulated_node_accepts_it() -> None:
    config = _config(**{"local-dp": True, "dp-ledger": "run"})

    with pytest.raises(SiteRefusal, match="dp-ledger='run'"):
        check_request(config, NodeConfig.from_mapping(REAL))
    check_request(config, NodeConfig.from_mapping(SIMULATED))


@pytest.mark.parametrize("sigma", [0.0, 0.79])
def test_check_noise_below_the_sites_floor_is_refused_naming_both(sigma: float) -> None:
    node = NodeConfig.from_mapping({**REAL, "min-noise-multiplier": 0.8})

    with pytest.raises(SiteRefusal, match=rf"noise multiplier {sigma:.4g} is below .*min-noise-multiplier=0.8"):
        check_noise(node, sigma)
    check_noise(node, 0.8)


@pytest.mark.parametrize(("delta", "n"), [(0.5, 240), (1 / 240, 240), (1e-3, 1000)])
def test_check_delta_not_below_one_over_n_is_refused_naming_both(delta: float, n: int) -> None:
    config = _config(**{"local-dp": True, "dp-delta": delta})

    with pytest.raises(SiteRefusal, match=rf"dp-delta={delta} must be below 1/n = .* n={n} "):
        check_delta(config, n)


def test_check_delta_just_below_one_over_n_is_accepted() -> None:
    check_delta(_config(**{"local-dp": True, "dp-delta": 0.99 / 240}), 240)
