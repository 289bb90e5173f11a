"""Low-rank factors of 2-D updates by truncated SVD (FedKD, Wu et al., 2022, Nat. Commun.).

An ``m x n`` matrix ``W = U S V^T`` travels as ``U_r S_r`` (``m x r``) and ``V_r^T``
(``r x n``): exact when ``rank(W) <= r``, the best rank-``r`` approximation otherwise
(Eckart-Young). Tensors that are not 2-D, or too small for the factors to be
smaller than the matrix, travel raw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.compression.codec import RAW, Parts


@dataclass(frozen=True)
class LowRankCodec:
    """Rank-``rank`` factors of matrices; other tensors unchanged."""

    rank: int
    name: str = "lowrank"

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank={self.rank} must be >= 1")

    def encode(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> Parts:
        x = tensor.detach().to(torch.float32)
        if x.dim() != 2 or self.rank * (x.shape[0] + x.shape[1]) >= x.numel():
            return {RAW: x}
        u, s, vh = torch.linalg.svd(x, full_matrices=False)
        return {"left": (u[:, : self.rank] * s[: self.rank]).contiguous(), "right": vh[: self.rank].contiguous()}

    def decode(self, parts: Parts) -> torch.Tensor:
        if RAW in parts:
            return parts[RAW].to(torch.float32)
        return parts["left"] @ parts["right"]
