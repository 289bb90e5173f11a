"""A least-recently-used cache bounded by the bytes of what it holds.

A simulated client process (a Ray actor) serves many sites in turn; keeping every
site's data and teacher it has ever seen grows without bound with the number of
sites. This cache keeps the most recently used entries within a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np
import torch

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def nbytes(*items: object) -> int:
    """Bytes of the arrays, tensors and modules given (anything else counts 0)."""
    total = 0
    for item in items:
        if isinstance(item, np.ndarray):
            total += item.nbytes
        elif isinstance(item, torch.Tensor):
            total += item.element_size() * item.nelement()
        elif isinstance(item, torch.nn.Module):
            total += sum(nbytes(t) for t in (*item.parameters(), *item.buffers()))
    return total


class BoundedCache(Generic[K, V]):
    """Maps keys to values; drops the least recently used once the values exceed ``max_bytes``.

    The newest entry is always kept, even one larger than the budget on its own.

    Parameters
    ----------
    max_bytes : int
        Byte budget; 0 keeps only the newest entry.
    size_of : callable
        The bytes one value holds.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes} must be >= 0")
        self.max_bytes = max_bytes
        self.size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or ``None``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` as the most recently used; evict the oldest beyond the budget."""
        if key in self._entries:
            self.bytes -= self._entries.pop(key)[1]
        size = self.size_of(value)
        self._entries[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped
        return value

    def values(self) -> list[V]:
        """The cached values, least recently used first."""
        return [value for value, _ in self._entries.values()]

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self.bytes = 0
