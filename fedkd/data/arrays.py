"""In-memory labelled datasets as plain NumPy arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch


@dataclass(frozen=True)
class ArrayDataset:
    """Inputs and integer labels held in memory, with an optional teacher view.

    Attributes
    ----------
    x : numpy.ndarray
        ``float32`` inputs, shape ``(n, *input_shape)``: what the student sees.
    y : numpy.ndarray
        ``int64`` labels, shape ``(n,)``.
    teacher_x : numpy.ndarray or None
        ``float32`` inputs for the teacher, shape ``(n, *teacher_input_shape)``: the
        same samples in another representation (say, sentence embeddings of the texts
        whose hashed words are ``x``). ``None``: the teacher sees ``x``.
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    teacher_x: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"inputs hold {self.x.shape[0]} samples but labels hold {self.y.shape[0]}"
            )
        if self.teacher_x is not None and self.teacher_x.shape[0] != self.x.shape[0]:
            raise ValueError(
                f"teacher inputs hold {self.teacher_x.shape[0]} samples but inputs hold {self.x.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: npt.NDArray[np.int64]) -> ArrayDataset:
        """The samples at ``indices``, in that order, in both views."""
        teacher_x = self.teacher_x[indices] if self.teacher_x is not None else None
        return ArrayDataset(self.x[indices], self.y[indices], teacher_x)

    def teacher_view(self) -> ArrayDataset:
        """The samples as the teacher sees them: ``teacher_x`` (or ``x`` if none) and ``y``."""
        return ArrayDataset(self.teacher_x if self.teacher_x is not None else self.x, self.y)

    def fingerprint(self) -> str:
        """A SHA-256 of the inputs, labels and teacher inputs: equal data give equal fingerprints.

        Without a teacher view the value is the same as before teacher views existed,
        so existing cache keys stay valid.
        """
        digest = hashlib.sha256()
        digest.update(str(self.x.shape).encode())
        digest.update(np.ascontiguousarray(self.x).tobytes())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        if self.teacher_x is not None:
            digest.update(b"teacher" + str(self.teacher_x.shape).encode())
            digest.update(np.ascontiguousarray(self.teacher_x).tobytes())
        return digest.hexdigest()


class InputShapes:
    """The input shapes of anything holding a ``train`` split: a dataset's splits, a site's data."""

    train: ArrayDataset

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.train.x.shape[1:])

    @property
    def teacher_input_shape(self) -> tuple[int, ...]:
        """Shape of one input of the teacher view (``input_shape`` without one)."""
        return tuple(self.train.teacher_view().x.shape[1:])


@dataclass(frozen=True)
class DatasetSplits(InputShapes):
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


def as_tensors(data: ArrayDataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels as tensors on ``device``."""
    return torch.from_numpy(data.x).to(device), torch.from_numpy(data.y).to(device)
