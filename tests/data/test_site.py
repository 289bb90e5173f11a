"""A site's teacher view: read from a real site's files, carried by a simulated site's split."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fedkd.data import ArrayDataset
from fedkd.data.site import SiteData, load_site_dir, split_shard


def _write_split(folder: Path, name: str, n: int, *, teacher_shape: tuple[int, ...] | None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    arrays = {"x": rng.normal(size=(n, 40)), "y": (np.arange(n) % 5).astype(np.int32)}
    if teacher_shape is not None:
        arrays["teacher_x"] = rng.normal(size=(n, *teacher_shape))
    folder.mkdir(exist_ok=True)
    np.savez(folder / name, **arrays)  # type: ignore[arg-type]
    return arrays


def test_load_site_dir_with_teacher_inputs_reads_both_views_as_float32(tmp_path: Path) -> None:
    # Prepare
    train = _write_split(tmp_path, "train.npz", 12, teacher_shape=(16,))
    test = _write_split(tmp_path, "test.npz", 4, teacher_shape=(16,))

    # Execute
    site = load_site_dir(tmp_path, input_shape=(40,), num_classes=5, teacher_input_shape=(16,))

    # Assert
    assert site.input_shape == (40,) and site.teacher_input_shape == (16,)
    assert site.train.teacher_x is not None and site.train.teacher_x.dtype == np.float32
    assert np.array_equal(site.train.teacher_x, train["teacher_x"].astype(np.float32))
    assert np.array_equal(site.test.teacher_view().x, test["teacher_x"].astype(np.float32))


def test_load_site_dir_task_with_teacher_view_and_file_without_one_raises_naming_the_file(tmp_path: Path) -> None:
    _write_split(tmp_path, "train.npz", 12, teacher_shape=None)
    _write_split(tmp_path, "test.npz", 4, teacher_shape=(16,))

    message = f"{re.escape(str(tmp_path / 'train.npz'))}: the task needs teacher inputs 'teacher_x' of shape"
    with pytest.raises(ValueError, match=message):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=5, teacher_input_shape=(16,))


def test_load_site_dir_teacher_inputs_of_the_wrong_shape_raise_naming_the_file(tmp_path: Path) -> None:
    _write_split(tmp_path, "train.npz", 12, teacher_shape=(15,))
    _write_split(tmp_path, "test.npz", 4, teacher_shape=(16,))

    message = f"{re.escape(str(tmp_path / 'train.npz'))}: teacher inputs have shape \\(12, 15\\)"
    with pytest.raises(ValueError, match=message):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=5, teacher_input_shape=(16,))


def test_load_site_dir_task_without_teacher_view_refuses_teacher_inputs(tmp_path: Path) -> None:
    _write_split(tmp_path, "train.npz", 12, teacher_shape=None)
    _write_split(tmp_path, "test.npz", 4, teacher_shape=(16,))

    with pytest.raises(ValueError, match="test.npz: holds 'teacher_x' but the task has no teacher view"):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=5)


def test_split_shard_carries_the_teacher_view_of_every_sample() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 40)).astype(np.float32)
    shard = ArrayDataset(x, np.arange(30, dtype=np.int64) % 5, x[:, :8] * 2.0)

    site = split_shard(shard, test_fraction=0.2, seed=0, num_classes=5)

    assert site.teacher_input_shape == (8,) and site.input_shape == (40,)
    for part in (site.train, site.test):
        assert part.teacher_x is not None
        assert np.array_equal(part.teacher_x, part.x[:, :8] * 2.0)


def test_site_data_without_teacher_view_has_teacher_input_shape_equal_to_input_shape() -> None:
    data = ArrayDataset(np.zeros((3, 8, 8), np.float32), np.zeros(3, np.int64))

    assert SiteData(train=data, test=data, num_classes=10).teacher_input_shape == (8, 8)
