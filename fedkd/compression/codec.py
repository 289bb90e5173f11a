"""The interface every codec implements: a tensor to named parts and back."""

from __future__ import annotations

from typing import Protocol

import torch

Parts = dict[str, torch.Tensor]

# The part of a tensor a codec leaves as it is (non-float tensors, or too small to gain).
RAW = "raw"


class Codec(Protocol):
    """Encodes one tensor into named tensors (the parts that travel) and decodes them back."""

    @property
    def name(self) -> str:
        """The codec's config name."""
        ...

    def encode(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> Parts:
        """The parts that represent ``tensor``."""
        ...

    def decode(self, parts: Parts) -> torch.Tensor:
        """The tensor the parts represent (float32)."""
        ...
