"""A real site's data directory: read when right, refused by file name when wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedkd.data.site import load_site_dir


def _write(folder: Path, name: str, **arrays: np.ndarray) -> None:
    folder.mkdir(exist_ok=True)
    np.savez(folder / name, **arrays)  # type: ignore[arg-type]


def test_site_dir_round_trip(tmp_path: Path) -> None:
    x, y = np.random.default_rng(0).normal(size=(20, 40)), np.arange(20) % 10
    _write(tmp_path, "train.npz", x=x, y=y)
    _write(tmp_path, "test.npz", x=x[:5], y=y[:5])

    site = load_site_dir(tmp_path, input_shape=(40,), num_classes=10)

    assert site.train.x.dtype == np.float32 and np.allclose(site.train.x, x)
    assert site.test.y.tolist() == y[:5].tolist() and site.input_shape == (40,)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((4, 40))}, "train.npz must be an .npz file with arrays 'x' and 'y'"),
        ({"x": np.zeros((4, 41)), "y": np.zeros(4, dtype=int)}, r"train.npz: inputs have shape \(41,\)"),
        ({"x": np.zeros((4, 40)), "y": np.array([0, 1, 2, 10])}, r"train.npz: labels must lie in \[0, 10\)"),
        ({"x": np.zeros((4, 40)), "y": np.zeros(4)}, "train.npz: labels must be a 1-D integer array"),
    ],
)
def test_bad_site_file_is_refused_naming_it(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    _write(tmp_path, "train.npz", **arrays)
    _write(tmp_path, "test.npz", x=np.zeros((2, 40)), y=np.zeros(2, dtype=int))

    with pytest.raises(ValueError, match=message):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)


def test_missing_site_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.npz does not exist"):
        load_site_dir(tmp_path, input_shape=(40,), num_classes=10)
