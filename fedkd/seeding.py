"""Deterministic seeds for every random choice of a run."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(*parts: int | str) -> int:
    """A 31-bit seed derived from ``parts`` by SHA-256 (stable across processes)."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
