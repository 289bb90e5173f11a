"""Half precision: each float32 value rounded to the nearest float16 (exact where representable)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.compression.codec import Parts


@dataclass(frozen=True)
class Fp16Codec:
    """Two bytes a value instead of four."""

    name: str = "fp16"

    def encode(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> Parts:
        return {"half": tensor.detach().to(torch.float16)}

    def decode(self, parts: Parts) -> torch.Tensor:
        return parts["half"].to(torch.float32)
