"""8-bit stochastic quantization with one scale per tensor (QSGD-style, Alistarh et al., 2017).

With ``s = max|x| / 127``, each value becomes ``q = floor(x / s + u)`` for ``u ~ U[0, 1)``,
an integer in [-127, 127], so ``E[q * s] = x``: the decoded update is unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.compression.codec import Parts

LEVELS = 127


@dataclass(frozen=True)
class Int8Codec:
    """One byte a value plus one float32 scale a tensor."""

    name: str = "int8"

    def encode(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> Parts:
        x = tensor.detach().to(torch.float32)
        peak = float(x.abs().max()) if x.numel() else 0.0
        scale = peak / LEVELS if peak > 0 else 1.0
        noise = torch.rand(x.shape, generator=generator, dtype=torch.float32)
        q = torch.floor(x / scale + noise).clamp_(-LEVELS, LEVELS).to(torch.int8)
        return {"q": q, "scale": torch.tensor(scale, dtype=torch.float32)}

    def decode(self, parts: Parts) -> torch.Tensor:
        return parts["q"].to(torch.float32) * parts["scale"]
