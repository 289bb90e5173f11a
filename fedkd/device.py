"""Choosing the device a model runs on.

Device indices are those of the GPUs this process sees. In a Flower simulation
each client runs in a Ray actor, and Ray sets ``CUDA_VISIBLE_DEVICES`` of an actor
that asked for GPUs (``client-resources-num-gpus``) to the GPU(s) it assigned, so
there ``cuda:0`` (and ``auto``) is the client's own GPU and ``cuda:1`` its second
one (a client given two whole GPUs can keep its teacher on the second).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch


def visible_gpus(environ: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """The GPUs ``CUDA_VISIBLE_DEVICES`` lets this process see; ``None`` when it is unset (all of them)."""
    value = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def choose_device(name: str, *, cuda_count: int, environ: Mapping[str, str] | None = None) -> str:
    """The device a config value names, given how many GPUs this process sees.

    Parameters
    ----------
    name : str
        ``"auto"`` (the first visible GPU when there is one, else the CPU), ``"cpu"``,
        ``"cuda"`` or ``"cuda:N"`` (the N-th visible GPU).
    cuda_count : int
        GPUs visible to this process (``torch.cuda.device_count()``).
    environ : mapping, optional
        The environment, for the error message; ``os.environ`` by default.

    Raises
    ------
    ValueError
        If the name is not a device, or names a GPU this process does not see.
    """
    if name == "auto":
        return "cuda:0" if cuda_count > 0 else "cpu"
    if name == "cpu":
        return name
    device = "cuda:0" if name == "cuda" else name
    index = device[5:]
    if not (device.startswith("cuda:") and index.isdigit()):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")
    if int(index) >= cuda_count:
        seen = visible_gpus(environ)
        where = "" if seen is None else f" (CUDA_VISIBLE_DEVICES={','.join(seen)!r}: Ray gives each simulated " \
            "client the GPUs of --client-gpus; give it 2 to place its teacher on cuda:1)"
        raise ValueError(f"device {name!r} asked for, but this process sees {cuda_count} GPU(s){where}")
    return device


def resolve_device(name: str) -> torch.device:
    """Turn a config value into a device of this process (see :func:`choose_device`).

    Raises
    ------
    ValueError
        If CUDA is asked for but not available, or the name is not a device.
    """
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.device(choose_device(name, cuda_count=count))
