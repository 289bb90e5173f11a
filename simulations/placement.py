"""How many simulated clients run at once, and on what: the Ray resources each client asks for.

Flower runs each simulated client in a Ray actor and starts as many actors as the
machine's resources divided by one client's resources allow. Flower's own default
(2 CPUs, no GPU per client) leaves one actor on a 2-core box and every GPU idle.
The default here is one CPU per client, and on a GPU machine a fraction of a GPU
per client so that each GPU is shared by as many clients as there are CPUs for
(never more than there are clients to run). Ray then sets each actor's
``CUDA_VISIBLE_DEVICES`` to the GPU it assigned, which ``student-device=auto``
picks up (:mod:`fedkd.device`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

# Ray schedules fractional resources to four decimals.
_GPU_STEP = 10_000


@dataclass(frozen=True)
class ClientResources:
    """What one simulated client reserves: whole CPUs and a (fraction of a) GPU count."""

    num_cpus: int
    num_gpus: float

    def federation_config(self) -> str:
        """The ``--federation-config`` items Flower 1.41 reads for these resources."""
        return f"client-resources-num-cpus={self.num_cpus} client-resources-num-gpus={self.num_gpus!r}"

    def concurrent(self, *, cpus: int, gpus: int) -> int:
        """How many clients Ray runs at once on a machine with ``cpus`` CPUs and ``gpus`` GPUs."""
        by_cpu = cpus // self.num_cpus
        if self.num_gpus == 0:
            return by_cpu
        per_gpu = round(1 / self.num_gpus, 4) if self.num_gpus < 1 else 1 / self.num_gpus
        return min(by_cpu, int(math.floor(gpus * per_gpu + 1e-9)))


def machine_resources() -> tuple[int, int]:
    """The CPUs this process may use and the GPUs it sees."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    import torch

    return cpus, torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_share(clients_per_gpu: int) -> float:
    """The GPU fraction that lets ``clients_per_gpu`` clients share one GPU (rounded down to Ray's step)."""
    if clients_per_gpu < 1:
        raise ValueError(f"clients_per_gpu={clients_per_gpu} must be >= 1")
    return math.floor(_GPU_STEP / clients_per_gpu) / _GPU_STEP


def default_resources(num_supernodes: int, *, cpus: int, gpus: int) -> ClientResources:
    """One CPU per client; on GPUs, each GPU shared by ``min(cpus / gpus, clients / gpus)`` clients."""
    if gpus == 0:
        return ClientResources(1, 0.0)
    per_gpu = max(1, min(cpus // gpus, math.ceil(num_supernodes / gpus)))
    return ClientResources(1, gpu_share(per_gpu))


def client_resources(num_supernodes: int, *, client_cpus: int | None, client_gpus: float | None,
                     cpus: int, gpus: int) -> ClientResources:
    """The resources each client reserves: the given ones, the rest from :func:`default_resources`.

    Raises
    ------
    ValueError
        If a client would ask for more than the machine has (Ray would then start no
        client and the run would wait forever), for a fraction of a CPU (Flower takes
        whole CPUs), or for a GPU count above 1 that is not whole (Ray's rule).
    """
    default = default_resources(num_supernodes, cpus=cpus, gpus=gpus)
    num_cpus = default.num_cpus if client_cpus is None else client_cpus
    num_gpus = default.num_gpus if client_gpus is None else float(client_gpus)
    if isinstance(num_cpus, float) and not num_cpus.is_integer():
        raise ValueError(f"--client-cpus={num_cpus}: Flower reserves whole CPUs per client")
    num_cpus = int(num_cpus)
    if not 1 <= num_cpus <= cpus:
        raise ValueError(f"--client-cpus={num_cpus} must be in [1, {cpus}] (this machine has {cpus} CPUs)")
    if num_gpus < 0 or num_gpus > gpus:
        raise ValueError(f"--client-gpus={num_gpus:g} must be in [0, {gpus}] (this machine has {gpus} GPUs)")
    if num_gpus > 1 and not num_gpus.is_integer():
        raise ValueError(f"--client-gpus={num_gpus:g}: above 1, Ray gives whole GPUs only")
    return ClientResources(num_cpus, num_gpus)
