"""Top-k sparsification: keep the ``fraction`` of entries largest in magnitude, drop the rest.

The dropped mass is not lost when the caller keeps it as error feedback
(:func:`fedkd.compression.update.encode_update`, Stich et al., 2018): it is added
to the next round's update before selecting again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fedkd.compression.codec import Parts


def kept(numel: int, fraction: float) -> int:
    """How many entries of ``numel`` survive: ``ceil(fraction * numel)``, at least one."""
    return max(1, math.ceil(fraction * numel)) if numel else 0


@dataclass(frozen=True)
class TopKCodec:
    """The kept values (float32), their flat indices (int32) and the tensor's shape."""

    fraction: float
    name: str = "topk"

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction={self.fraction} must be in (0, 1]")

    def encode(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> Parts:
        flat = tensor.detach().to(torch.float32).reshape(-1)
        indices = torch.topk(flat.abs(), kept(flat.numel(), self.fraction), sorted=False).indices
        return {"values": flat[indices], "indices": indices.to(torch.int32),
                "shape": torch.tensor(tensor.shape, dtype=torch.int64)}

    def decode(self, parts: Parts) -> torch.Tensor:
        shape = [int(n) for n in parts["shape"]]
        flat = torch.zeros(math.prod(shape), dtype=torch.float32)
        flat[parts["indices"].to(torch.int64)] = parts["values"].to(torch.float32)
        return flat.reshape(shape)
