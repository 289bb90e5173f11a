"""A real site's data directory: read when right, refused by file name when wrong."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fedkd.data import ArrayDataset
from fedkd.data.site import load_site_dir, split_shard


def _write(folder: Path, name: str, **arrays: np.ndarray) -> Path:
    folder.mkdir(exist_ok=True)
    np.savez(folder / name, **arrays)  # type: ignore[arg-type]
    return folder / name


def _good(folder: Path, name: str) -> Path:
    return _write(folder, name, x=np.zeros((3, 40)), y=np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("input_shape", [(40,), (8, 8)])
def test_load_site_dir_round_trip_returns_the_saved_arrays(tmp_path: Path, input_shape: tuple[int, ...]) -> None:
    # Prepare: float64 inputs and int32 labels, as a site might save them.
    rng = np.random.default_rng(0)
    x_train, y_train = rng.normal(size=(20, *input_shape)), (np.arange(20) % 10).astype(np.int32)
    x_test, y_test = rng.normal(size=(6, *input_shape)), np.array([9, 0, 1, 2, 3, 4], dtype=np.int32)
    _write(tmp_path, "train.npz", x=x_train, y=y_train)
    _write(tmp_path, "test.npz", x=x_test, y=y_test)

    # Execute
    site = load_site_dir(tmp_path, input_shape=input_shape, num_classes=10)

    # Assert: the same values, as float32 inputs and int64 labels.
    assert site.train.x.dtype == np.float32 and site.train.y.dtype == np.int64
    assert np.array_equal(site.train.x, x_train.astype(np.float32))
    assert np.array_equal(site.test.x, x_test.astype(np.float32))
    assert site.train.y.tolist() == y_train.tolist() and site.test.y.tolist() == y_test.tolist()
    assert site.input_shape == input_shape and site.num_classes == 10


@pytest.mark.parametrize("missing", ["train.npz", "test.npz"])
def test_load_site_dir_missing_file_raises_naming_it(tmp_path: Path, missing: str) -> None:
    for name in {"train.npz", "test.npz"} - {missing}:
        _good(tmp_path, name)

    with pytest.raises(FileNotFoundError, match=f"site data file {re.escape(str(tmp_path / missing))} does not exist"):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.zeros(4, dtype=np.int64)}, "must be an .npz file with arrays 'x' and 'y'"),
        ({"x": np.zeros((4, 40))}, "must be an .npz file with arrays 'x' and 'y'"),
        ({"x": np.zeros((4, 41)), "y": np.zeros(4, dtype=np.int64)}, r": inputs have shape \(41,\), the task needs"),
        ({"x": np.zeros((4, 8, 5)), "y": np.zeros(4, dtype=np.int64)}, r": inputs have shape \(8, 5\)"),
        ({"x": np.zeros((4, 40)), "y": np.array([0, 1, 2, 10])}, r": labels must lie in \[0, 10\), got \[0, 10\]"),
        ({"x": np.zeros((4, 40)), "y": np.array([0, -1, 2, 3])}, r": labels must lie in \[0, 10\), got \[-1, 3\]"),
        ({"x": np.zeros((4, 40)), "y": np.zeros(4)}, ": labels must be a 1-D integer array"),
        ({"x": np.zeros((4, 40)), "y": np.zeros((4, 1), dtype=np.int64)}, ": labels must be a 1-D integer array"),
    ],
)
@pytest.mark.parametrize("bad", ["train.npz", "test.npz"])
def test_load_site_dir_bad_file_raises_value_error_naming_it(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str, bad: str
) -> None:
    path = _write(tmp_path, bad, **arrays)
    for name in {"train.npz", "test.npz"} - {bad}:
        _good(tmp_path, name)

    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)


def test_load_site_dir_file_that_is_not_npz_raises_value_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "train.npz").write_bytes(b"not a zip archive")
    _good(tmp_path, "test.npz")

    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "train.npz")) + " must be an .npz file"):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)


def test_load_site_dir_pickled_object_array_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "train.npz", x=np.array([object()] * 4), y=np.zeros(4, dtype=np.int64))
    _good(tmp_path, "test.npz")

    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "train.npz"))):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)


@pytest.mark.parametrize("size, fraction, expected_test", [(10, 0.2, 2), (10, 0.0, 0), (1, 0.5, 0), (7, 0.5, 4)])
def test_split_shard_keeps_every_sample_once_with_the_rounded_test_share(
    size: int, fraction: float, expected_test: int
) -> None:
    shard = ArrayDataset(np.arange(size, dtype=np.float32)[:, None], np.arange(size) % 3)

    site = split_shard(shard, test_fraction=fraction, seed=1, num_classes=3)

    rows = np.concatenate([site.train.x[:, 0], site.test.x[:, 0]]).astype(np.int64)
    assert len(site.test) == expected_test and len(site.train) >= 1
    assert np.array_equal(np.sort(rows), np.arange(size))
