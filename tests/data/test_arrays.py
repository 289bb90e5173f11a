"""ArrayDataset's teacher view: validated, carried by subsets, part of the fingerprint."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fedkd.data.arrays import ArrayDataset, DatasetSplits


def _dataset(n: int = 6, *, teacher: bool = True) -> ArrayDataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.arange(n, dtype=np.int64) % 3
    teacher_x = rng.normal(size=(n, 7)).astype(np.float32) if teacher else None
    return ArrayDataset(x, y, teacher_x)


def test_array_dataset_teacher_x_of_another_length_raises_value_error_naming_both() -> None:
    with pytest.raises(ValueError, match="teacher inputs hold 5 samples but inputs hold 6"):
        ArrayDataset(np.zeros((6, 4), np.float32), np.zeros(6, np.int64), np.zeros((5, 7), np.float32))


def test_array_dataset_teacher_view_gives_teacher_inputs_with_the_same_labels() -> None:
    data = _dataset()

    view = data.teacher_view()

    assert data.teacher_x is not None
    assert view.x is data.teacher_x and view.y is data.y and view.teacher_x is None


def test_array_dataset_teacher_view_without_teacher_inputs_is_the_student_view() -> None:
    data = _dataset(teacher=False)

    view = data.teacher_view()

    assert view.x is data.x and view.y is data.y
    assert view.fingerprint() == data.fingerprint()


def test_array_dataset_subset_keeps_both_views_aligned() -> None:
    data = _dataset()
    indices = np.array([4, 0, 2], dtype=np.int64)

    part = data.subset(indices)

    assert data.teacher_x is not None and part.teacher_x is not None
    assert np.array_equal(part.x, data.x[indices]) and np.array_equal(part.y, data.y[indices])
    assert np.array_equal(part.teacher_x, data.teacher_x[indices])
    assert data.subset(indices).teacher_view().fingerprint() == data.teacher_view().subset(indices).fingerprint()


def test_array_dataset_fingerprint_covers_teacher_inputs_and_is_unchanged_without_them() -> None:
    data = _dataset()
    assert data.teacher_x is not None
    changed = data.teacher_x.copy()
    changed[0, 0] += 1.0
    plain = ArrayDataset(data.x, data.y)
    # The fingerprint of a dataset without a teacher view, computed as before teacher views existed.
    digest = hashlib.sha256(str(data.x.shape).encode() + data.x.tobytes() + data.y.tobytes()).hexdigest()

    assert plain.fingerprint() == digest
    assert data.fingerprint() != plain.fingerprint()
    assert ArrayDataset(data.x, data.y, changed).fingerprint() != data.fingerprint()
    assert ArrayDataset(data.x.copy(), data.y.copy(), data.teacher_x.copy()).fingerprint() == data.fingerprint()


def test_dataset_splits_teacher_input_shape_is_the_teacher_view_or_the_input_shape() -> None:
    with_view = DatasetSplits("a", _dataset(), _dataset(3), num_classes=3)
    without = DatasetSplits("b", _dataset(teacher=False), _dataset(3, teacher=False), num_classes=3)

    assert with_view.input_shape == (4,) and with_view.teacher_input_shape == (7,)
    assert without.input_shape == (4,) and without.teacher_input_shape == (4,)
