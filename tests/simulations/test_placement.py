"""Client resources: Flower's federation-config keys, a default that fills the machine, clear refusals."""

from __future__ import annotations

import pytest

from simulations.placement import ClientResources, client_resources, default_resources, gpu_share


def test_federation_config_uses_flower_141_keys() -> None:
    text = ClientResources(1, 0.25).federation_config()
    assert text == "client-resources-num-cpus=1 client-resources-num-gpus=0.25"


def test_federation_config_is_accepted_by_flower_parser() -> None:
    from flwr.common.config import parse_config_args
    from flwr.supercore.utils import simulation_config_from_json

    # As `flwr run --federation-config` does: parse, then kebab-case keys to the proto's field names.
    items = parse_config_args([ClientResources(2, 0.125).federation_config()])
    parsed = simulation_config_from_json({k.replace("-", "_"): v for k, v in items.items()})
    assert parsed.client_resources_num_cpus == 2
    assert parsed.client_resources_num_gpus == pytest.approx(0.125)


def test_default_resources_cpu_box_runs_one_client_per_core() -> None:
    resources = default_resources(10, cpus=2, gpus=0)
    assert resources == ClientResources(1, 0.0)
    assert resources.concurrent(cpus=2, gpus=0) == 2


def test_default_resources_gpu_box_shares_each_gpu_by_cores_or_clients() -> None:
    assert default_resources(10, cpus=16, gpus=1) == ClientResources(1, 0.1)  # 10 clients on one GPU
    assert default_resources(1000, cpus=16, gpus=1) == ClientResources(1, 0.0625)  # 16 cores
    assert default_resources(1000, cpus=16, gpus=2).concurrent(cpus=16, gpus=2) == 16
    assert default_resources(3, cpus=16, gpus=1) == ClientResources(1, 0.3333)
    assert ClientResources(1, 0.3333).concurrent(cpus=16, gpus=1) == 3


def test_gpu_share_rounds_down_so_the_clients_fit() -> None:
    assert gpu_share(3) * 3 <= 1
    assert gpu_share(7) == 0.1428
    with pytest.raises(ValueError, match="clients_per_gpu=0"):
        gpu_share(0)


def test_client_resources_given_values_override_the_default() -> None:
    assert client_resources(10, client_cpus=2, client_gpus=None, cpus=4, gpus=0) == ClientResources(2, 0.0)
    assert client_resources(10, client_cpus=None, client_gpus=0.5, cpus=4, gpus=1) == ClientResources(1, 0.5)
    assert client_resources(10, client_cpus=None, client_gpus=2, cpus=4, gpus=2) == ClientResources(1, 2.0)


@pytest.mark.parametrize(("cpus_each", "gpus_each", "message"), [
    (3, None, r"--client-cpus=3 must be in \[1, 2\]"),
    (0, None, r"--client-cpus=0"),
    (1.5, None, "whole CPUs"),
    (None, 1.0, r"--client-gpus=1 must be in \[0, 0\]"),
])
def test_client_resources_more_than_the_machine_has_is_refused(cpus_each: float | None, gpus_each: float | None,
                                                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        client_resources(10, client_cpus=cpus_each, client_gpus=gpus_each, cpus=2, gpus=0)  # type: ignore[arg-type]


def test_client_resources_fractional_gpus_above_one_are_refused() -> None:
    with pytest.raises(ValueError, match="whole GPUs"):
        client_resources(10, client_cpus=None, client_gpus=1.5, cpus=8, gpus=2)
