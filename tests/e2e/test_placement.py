"""Ray gives each client actor its own GPU(s); ``auto`` then names that GPU (logical GPUs, no hardware)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from fedkd.device import choose_device, visible_gpus
from simulations.placement import gpu_share

pytestmark = pytest.mark.e2e


def test_ray_fractional_gpus_each_actor_sees_one_gpu_and_auto_is_that_gpu() -> None:
    ray = pytest.importorskip("ray")
    # Prepare: a Ray instance with 2 logical GPUs, as Flower's backend starts it; 4 clients at 0.5 GPU each.
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"}})
    try:
        @ray.remote(num_cpus=0, num_gpus=gpu_share(2))
        class Client:
            def visible(self) -> str | None:
                return os.environ.get("CUDA_VISIBLE_DEVICES")

        # Execute
        actors = [Client.remote() for _ in range(4)]  # type: ignore[attr-defined]
        seen = ray.get([actor.visible.remote() for actor in actors])
    finally:
        ray.shutdown()

    # Assert: each actor sees exactly one GPU, two actors share each GPU, and "auto" is the actor's GPU.
    per_actor = [visible_gpus({"CUDA_VISIBLE_DEVICES": value}) for value in seen]
    assert all(gpus is not None and len(gpus) == 1 for gpus in per_actor)
    assert Counter(gpus[0] for gpus in per_actor if gpus) == {"0": 2, "1": 2}
    assert {choose_device("auto", cuda_count=1, environ={"CUDA_VISIBLE_DEVICES": v}) for v in seen} == {"cuda:0"}
