"""Check a site's (or the server's) arrays against a dataset spec before anything trains on them.

Every failure is a :class:`DataError` whose message names the file, the array key
and the offending value, so a site operator can fix the one thing that is wrong.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import DatasetSpec


class DataError(ValueError):
    """A data file or array does not fit the dataset spec; the message names the file, key and value."""


def check_inputs(x: npt.NDArray[np.generic], shape: tuple[int, ...], *, source: str, key: str = "x") -> None:
    """Refuse inputs of the wrong per-sample shape, a non-numeric dtype, or a non-finite value."""
    if x.ndim == 0 or tuple(x.shape[1:]) != shape:
        needed = ", ".join(["n", *map(str, shape)])
        raise DataError(f"{source}: {key!r} has shape {tuple(x.shape)}, the dataset needs ({needed})")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{source}: {key!r} has dtype {x.dtype}, it must be numeric (float or integer)")
    if x.size == 0:
        return
    with np.errstate(over="ignore"):
        flat = x.astype(np.float32).reshape(len(x), -1)
    finite = np.isfinite(flat)
    bad = np.flatnonzero(~finite.all(axis=1))
    if bad.size:
        first = int(bad[0])
        value = flat[first][~finite[first]][0]
        raise DataError(
            f"{source}: {key!r} holds a non-finite value {value} (as float32) in sample {first} "
            f"({bad.size} samples affected)"
        )


def check_labels(y: npt.NDArray[np.generic], num_classes: int, *, source: str, key: str = "y") -> None:
    """Refuse labels that are not a 1-D integer array in ``[0, num_classes)``."""
    if y.ndim != 1:
        raise DataError(f"{source}: {key!r} has shape {tuple(y.shape)}, labels must be 1-D")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: {key!r} has dtype {y.dtype}, labels must be integers")
    labels = y.astype(np.int64)
    outside = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if outside.size:
        first = int(outside[0])
        raise DataError(
            f"{source}: {key!r} holds label {int(labels[first])} at index {first}, labels must lie in "
            f"[0, {num_classes}) ({outside.size} labels outside)"
        )


def validate_arrays(
    x: npt.NDArray[np.generic],
    y: npt.NDArray[np.generic],
    spec: DatasetSpec,
    *,
    source: str,
    teacher_x: npt.NDArray[np.generic] | None = None,
) -> ArrayDataset:
    """Check inputs, labels and the teacher view against ``spec``; return them as float32/int64.

    Raises
    ------
    DataError
        Naming ``source``, the key and the bad value.
    """
    check_inputs(x, spec.input_shape, source=source)
    check_labels(y, spec.num_classes, source=source)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{source}: 'x' holds {x.shape[0]} samples but 'y' holds {y.shape[0]}")
    if spec.teacher_input_shape is None:
        if teacher_x is not None:
            raise DataError(f"{source}: holds 'teacher_x' but the dataset has no teacher view")
        return ArrayDataset(x.astype(np.float32), y.astype(np.int64))
    if teacher_x is None:
        raise DataError(f"{source}: the dataset needs teacher inputs 'teacher_x' of shape {spec.teacher_input_shape}")
    check_inputs(teacher_x, spec.teacher_input_shape, source=source, key="teacher_x")
    if teacher_x.shape[0] != x.shape[0]:
        raise DataError(f"{source}: 'teacher_x' holds {teacher_x.shape[0]} samples but 'x' holds {x.shape[0]}")
    return ArrayDataset(x.astype(np.float32), y.astype(np.int64), teacher_x.astype(np.float32))


def read_npz(path: Path, spec: DatasetSpec, *, exact_dtypes: bool = False) -> ArrayDataset:
    """Read and validate an ``.npz`` holding ``x`` and ``y`` (and ``teacher_x`` for a teacher view).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    spec : DatasetSpec
        The dataset the arrays must fit.
    exact_dtypes : bool
        Require ``x`` (and ``teacher_x``) to be float32 and ``y`` int64, as
        ``fedkd site prepare`` writes them; otherwise any numeric inputs and integer labels.

    Raises
    ------
    DataError
        For a missing file, a file that is not an ``.npz`` archive of plain arrays, a
        missing key, or arrays that do not fit ``spec``.
    """
    x, y, teacher_x = load_npz_arrays(path)
    if exact_dtypes:
        for key, array, dtype in (("x", x, np.float32), ("y", y, np.int64), ("teacher_x", teacher_x, np.float32)):
            if array is not None and array.dtype != dtype:
                raise DataError(f"{path}: {key!r} has dtype {array.dtype}, a site file holds {np.dtype(dtype)}")
    return validate_arrays(x, y, spec, source=str(path), teacher_x=teacher_x)


def load_npz_arrays(
    path: Path,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any] | None]:
    """``x``, ``y`` and the optional ``teacher_x`` of an ``.npz`` archive, unchecked.

    Raises
    ------
    DataError
        For a missing file, a single ``.npy`` array, garbage, pickled objects or a missing key.
    """
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: is a single .npy array, not an .npz archive with 'x' and 'y'")
        with loaded as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise DataError(f"{path}: has no array {missing[0]!r} (it holds {sorted(archive.files)})")
            teacher_x = archive["teacher_x"] if "teacher_x" in archive.files else None
            return archive["x"], archive["y"], teacher_x
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{path}: not a readable .npz archive of plain arrays ({error})") from error
