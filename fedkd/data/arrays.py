"""In-memory labelled datasets as plain NumPy arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ArrayDataset:
    """Inputs and integer labels held in memory.

    Attributes
    ----------
    x : numpy.ndarray
        ``float32`` inputs, shape ``(n, *input_shape)``.
    y : numpy.ndarray
        ``int64`` labels, shape ``(n,)``.
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"inputs hold {self.x.shape[0]} samples but labels hold {self.y.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: npt.NDArray[np.int64]) -> ArrayDataset:
        """The samples at ``indices``, in that order."""
        return ArrayDataset(self.x[indices], self.y[indices])

    def fingerprint(self) -> str:
        """A SHA-256 of the inputs and labels: equal data give equal fingerprints."""
        digest = hashlib.sha256()
        digest.update(str(self.x.shape).encode())
        digest.update(np.ascontiguousarray(self.x).tobytes())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's official train and test splits.

    Attributes
    ----------
    name : str
        Registry name.
    train, test : ArrayDataset
        The splits; the server keeps ``test`` as the global held-out set.
    num_classes : int
        Number of label values.
    """

    name: str
    train: ArrayDataset
    test: ArrayDataset
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.train.x.shape[1:])
