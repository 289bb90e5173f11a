"""The byte-bounded LRU cache: keeps the most recently used within its budget, always the newest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedkd.bounded_cache import BoundedCache, nbytes


def _cache(max_bytes: int) -> BoundedCache[str, np.ndarray]:
    return BoundedCache(max_bytes, nbytes)


def test_bounded_cache_over_budget_drops_the_least_recently_used() -> None:
    cache = _cache(250)
    cache.put("a", np.zeros(100, dtype=np.uint8))
    cache.put("b", np.zeros(100, dtype=np.uint8))
    assert cache.get("a") is not None  # "a" is now more recent than "b"

    cache.put("c", np.zeros(100, dtype=np.uint8))

    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.bytes == 200 and len(cache) == 2


def test_bounded_cache_entry_larger_than_the_budget_is_kept_alone() -> None:
    cache = _cache(10)
    cache.put("a", np.zeros(5, dtype=np.uint8))
    cache.put("big", np.zeros(50, dtype=np.uint8))
    assert list(k for k in ("a", "big") if k in cache) == ["big"]
    assert cache.bytes == 50


def test_bounded_cache_put_same_key_replaces_its_size() -> None:
    cache = _cache(1000)
    cache.put("a", np.zeros(100, dtype=np.uint8))
    cache.put("a", np.zeros(300, dtype=np.uint8))
    assert cache.bytes == 300 and len(cache) == 1
    cache.clear()
    assert cache.bytes == 0 and cache.get("a") is None


def test_bounded_cache_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes=-1"):
        _cache(-1)


def test_nbytes_counts_arrays_tensors_and_module_weights() -> None:
    module = torch.nn.Linear(3, 2)  # 6 weights + 2 biases, float32
    assert nbytes(np.zeros(4, dtype=np.float64), torch.zeros(5, dtype=torch.int16), module, None) == 32 + 10 + 32
