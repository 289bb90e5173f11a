"""Device names resolve against the GPUs this process sees (a Ray actor sees its own)."""

from __future__ import annotations

import pytest

from fedkd.device import choose_device, resolve_device, visible_gpus


def test_visible_gpus_ray_actor_environment_lists_its_gpus() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "3"}) == ("3",)
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,5"}) == ("2", "5")
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == ()
    assert visible_gpus({}) is None


def test_choose_device_auto_is_the_first_visible_gpu_else_cpu() -> None:
    assert choose_device("auto", cuda_count=1, environ={"CUDA_VISIBLE_DEVICES": "3"}) == "cuda:0"
    assert choose_device("auto", cuda_count=0, environ={"CUDA_VISIBLE_DEVICES": ""}) == "cpu"
    assert choose_device("cuda", cuda_count=2, environ={}) == "cuda:0"
    assert choose_device("cuda:1", cuda_count=2, environ={"CUDA_VISIBLE_DEVICES": "4,6"}) == "cuda:1"
    assert choose_device("cpu", cuda_count=2, environ={}) == "cpu"


def test_choose_device_gpu_the_actor_lacks_names_its_visible_devices() -> None:
    with pytest.raises(ValueError, match=r"'cuda:1'.*sees 1 GPU.*CUDA_VISIBLE_DEVICES='3'.*--client-gpus"):
        choose_device("cuda:1", cuda_count=1, environ={"CUDA_VISIBLE_DEVICES": "3"})
    with pytest.raises(ValueError, match=r"'cuda'.*sees 0 GPU"):
        choose_device("cuda", cuda_count=0, environ={})


def test_choose_device_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'tpu'"):
        choose_device("tpu", cuda_count=1, environ={})


def test_resolve_device_auto_matches_this_machine() -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
