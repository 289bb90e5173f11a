"""A site's private data: a train split and a local test split.

Both identities of a client end here. In simulation a shard of a named dataset is
split locally; at a real site the two splits are read from the site's data
directory. Nothing downstream knows which world it is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset, InputShapes
from fedkd.data.npz import read_npz
from fedkd.finite import require_finite
from fedkd.limits import DEFAULT_MAX_DATA_BYTES


@dataclass(frozen=True)
class SiteData(InputShapes):
    """The data one site holds.

    Attributes
    ----------
    train : ArrayDataset
        Used to train the teacher and to distill the student.
    test : ArrayDataset
        Local held-out split for federated evaluation.
    num_classes : int
        Number of label values of the task.
    """

    train: ArrayDataset
    test: ArrayDataset
    num_classes: int


def split_shard(
    shard: ArrayDataset, *, test_fraction: float, seed: int, num_classes: int
) -> SiteData:
    """Split a site's shard into train and local test parts by a seeded shuffle.

    At least one sample stays in train; the test part may be empty for tiny shards.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    order: npt.NDArray[np.int64] = np.random.default_rng(seed).permutation(len(shard))
    num_test = min(int(round(test_fraction * len(shard))), max(len(shard) - 1, 0))
    return SiteData(
        train=shard.subset(np.sort(order[num_test:])),
        test=shard.subset(np.sort(order[:num_test])),
        num_classes=num_classes,
    )


def _read_split(
    path: Path, input_shape: tuple[int, ...], num_classes: int, teacher_input_shape: tuple[int, ...] | None,
    max_bytes: int,
) -> ArrayDataset:
    arrays = read_npz(path, ("x", "y"), ("teacher_x",), max_bytes=max_bytes)
    x, y, teacher_x = arrays["x"], arrays["y"], arrays.get("teacher_x")
    if tuple(x.shape[1:]) != input_shape:
        raise ValueError(f"{path}: inputs have shape {tuple(x.shape[1:])}, the task needs {input_shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{path}: labels must lie in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    if teacher_input_shape is None and teacher_x is not None:
        raise ValueError(f"{path}: holds 'teacher_x' but the task has no teacher view")
    if teacher_input_shape is not None:
        if teacher_x is None:
            raise ValueError(f"{path}: the task needs teacher inputs 'teacher_x' of shape {teacher_input_shape}")
        if tuple(teacher_x.shape) != (x.shape[0], *teacher_input_shape):
            raise ValueError(
                f"{path}: teacher inputs have shape {tuple(teacher_x.shape)}, "
                f"the task needs {(x.shape[0], *teacher_input_shape)}"
            )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{path}: inputs 'x' must be real numbers, got {x.dtype}")
    require_finite(str(path), {"x": x} if teacher_x is None else {"x": x, "teacher_x": teacher_x})
    with np.errstate(over="ignore"):  # an overflow to inf is refused just below, by name
        x32: npt.NDArray[np.float32] = x.astype(np.float32)
        teacher32: npt.NDArray[np.float32] | None = None if teacher_x is None else teacher_x.astype(np.float32)
    require_finite(f"{path} (as float32)", {"x": x32} if teacher32 is None else {"x": x32, "teacher_x": teacher32})
    return ArrayDataset(x32, y.astype(np.int64), teacher32)


def load_site_dir(
    directory: Path,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    teacher_input_shape: tuple[int, ...] | None = None,
    max_bytes: int = DEFAULT_MAX_DATA_BYTES,
) -> SiteData:
    """Read a real site's ``train.npz`` and ``test.npz`` (arrays ``x`` and ``y``).

    Parameters
    ----------
    directory : pathlib.Path
        The site's data directory.
    input_shape : tuple of int
        Shape of one input ``x``.
    num_classes : int
        Number of label values.
    teacher_input_shape : tuple of int, optional
        For a task with a teacher view (see :attr:`fedkd.data.registry.DatasetSpec.teacher_input_shape`):
        each file must then also hold ``teacher_x`` of this shape per sample. ``None``:
        the task has none, and a file holding ``teacher_x`` is refused.
    max_bytes : int
        The site's limit on each file, on disk and decompressed (node-config ``max-data-bytes``).

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the file and what is wrong with it: a size over ``max_bytes``, an input
        that is ``nan`` or ``inf``, a label out of range, a shape the task does not have.
    """
    return SiteData(
        train=_read_split(directory / "train.npz", input_shape, num_classes, teacher_input_shape, max_bytes),
        test=_read_split(directory / "test.npz", input_shape, num_classes, teacher_input_shape, max_bytes),
        num_classes=num_classes,
    )
