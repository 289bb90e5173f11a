"""Faults at the doors of configuration and site data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from fedkd.config import ConfigError, FedKDConfig
from fedkd.data.site import load_site_dir
from fedkd.limits import FileLimitError
from fedkd.node_config import NodeConfig
from simulations.faults.fault import Fault

NUM_TRAIN = 480  # 480 x 40 = 19,200 input values: one NaN among them poisoned a federation before


def _nothing(folder: Path) -> None:
    pass


def _config(values: dict[str, Any]) -> Any:
    return lambda folder: FedKDConfig.from_mapping(values) and None


def _node(values: dict[str, Any]) -> Any:
    return lambda folder: NodeConfig.from_mapping(values) and None


def _config_fault(key: str, value: Any, expect: str = "") -> Fault:
    return Fault(f"config-{key}-{value}", "config", f"run config `{key}={value!r}`", _nothing,
                 _config({key: value}), expect or f"{key}={value!r}", ConfigError)


def good_arrays(n: int = NUM_TRAIN) -> dict[str, np.ndarray]:
    """A valid MNIST-1D-shaped split: ``n`` inputs of 40 values, labels 0-9."""
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(n, 40)).astype(np.float32), "y": (np.arange(n) % 10).astype(np.int64)}


def write_site(folder: Path, train: dict[str, np.ndarray] | None = None,
               test: dict[str, np.ndarray] | None = None) -> Path:
    """A site folder with ``train.npz`` and ``test.npz`` (valid unless given)."""
    site = folder / "site"
    site.mkdir(exist_ok=True)
    np.savez(site / "train.npz", **(train if train is not None else good_arrays()))  # type: ignore[arg-type]
    np.savez(site / "test.npz", **(test if test is not None else good_arrays(60)))  # type: ignore[arg-type]
    return site


def read_site(folder: Path, max_bytes: int = 1 << 30, teacher: tuple[int, ...] | None = None) -> None:
    """Load the site folder as a MNIST-1D site would."""
    load_site_dir(folder / "site", input_shape=(40,), num_classes=10, teacher_input_shape=teacher,
                  max_bytes=max_bytes)


def _site_fault(id_: str, description: str, prepare: Any, expect: str, *, refused: type[Exception] = ValueError,
                max_bytes: int = 1 << 30, teacher: tuple[int, ...] | None = None) -> Fault:
    return Fault(id_, "site data", description, prepare, lambda folder: read_site(folder, max_bytes, teacher),
                 expect, refused)


def _one_nan(folder: Path) -> None:
    arrays = good_arrays()
    arrays["x"][123, 7] = np.nan
    write_site(folder, arrays)


def _bad_teacher_x(folder: Path) -> None:
    arrays = good_arrays()
    arrays["teacher_x"] = np.zeros((NUM_TRAIN, 8), dtype=np.float32)
    arrays["teacher_x"][5, 2] = np.inf
    write_site(folder, arrays, {**good_arrays(60), "teacher_x": np.zeros((60, 8), dtype=np.float32)})


def _overflow(folder: Path) -> None:
    arrays = good_arrays()
    x = arrays["x"].astype(np.float64)
    x[0, 0] = 1e300
    write_site(folder, {**arrays, "x": x})


def _replace_train(data: bytes) -> Any:
    def prepare(folder: Path) -> None:
        write_site(folder)
        (folder / "site" / "train.npz").write_bytes(data)
    return prepare


def _npy_renamed(folder: Path) -> None:
    write_site(folder)
    buffer = io.BytesIO()
    np.save(buffer, good_arrays()["x"])
    (folder / "site" / "train.npz").write_bytes(buffer.getvalue())


def _zip_bomb(folder: Path) -> None:
    write_site(folder)
    with zipfile.ZipFile(folder / "site" / "train.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w") as member:
            npy_format.write_array(member, np.zeros((20_000, 40), dtype=np.float32))  # 3.2 MB of zeros
        with archive.open("y.npy", "w") as member:
            npy_format.write_array(member, np.zeros(20_000, dtype=np.int64))


def _lying_header(folder: Path) -> None:
    write_site(folder)
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)})
    buffer.write(b"\0" * 64)
    with zipfile.ZipFile(folder / "site" / "train.npz", "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())
        with archive.open("y.npy", "w") as member:
            npy_format.write_array(member, np.zeros(4, dtype=np.int64))


def _objects(folder: Path) -> None:
    write_site(folder)
    np.savez(folder / "site" / "train.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2, np.int64))


def _folder_as_file(folder: Path) -> None:
    write_site(folder)
    (folder / "site" / "train.npz").unlink()
    (folder / "site" / "train.npz").mkdir()


def _labels(y: np.ndarray) -> Any:
    return lambda folder: write_site(folder, {**good_arrays(len(y)), "y": y})


INPUT_FAULTS = [
    _config_fault("learning-rate", float("inf")),
    _config_fault("learning-rate", float("nan")),
    _config_fault("kd-temperature", float("inf")),
    _config_fault("dp-noise-multiplier", float("inf")),
    _config_fault("dirichlet-alpha", float("nan")),
    _config_fault("local-test-fraction", float("nan")),
    _config_fault("client-dp-clipping-norm", float("-inf")),
    _config_fault("trimmed-avg-beta", 0.5),
    _config_fault("learning-rate", "0.1", "learning-rate='0.1' must be of type float"),
    _config_fault("learning-rates", 0.1, "unknown config key 'learning-rates'"),
    Fault("node-max-data-bytes-0", "node config", "node config `max-data-bytes=0`", _nothing,
          _node({"max-data-bytes": 0}), "max-data-bytes=0", ConfigError),
    Fault("node-max-checkpoint-bytes-string", "node config", "node config `max-checkpoint-bytes='1GB'`", _nothing,
          _node({"max-checkpoint-bytes": "1GB"}), "max-checkpoint-bytes='1GB' must be an integer", ConfigError),
    Fault("node-unknown-key", "node config", "node config key `data-folder` (a typo)", _nothing,
          _node({"data-folder": "/srv/site"}), "unknown node-config key 'data-folder'", ConfigError),
    _site_fault("site-one-nan", "one NaN among 19,200 input values of `train.npz`", _one_nan,
                "train.npz: x holds 1 non-finite value(s) of 19200 (first: nan at index (123, 7))"),
    _site_fault("site-inf-teacher-view", "`inf` in the teacher inputs `teacher_x`", _bad_teacher_x,
                "teacher_x holds 1 non-finite value(s)", teacher=(8,)),
    _site_fault("site-float64-overflow", "a float64 input of 1e300 (infinite as float32)", _overflow,
                "(as float32): x holds 1 non-finite value(s) of 19200 (first: inf at index (0, 0))"),
    _site_fault("site-npy-renamed", "a single `.npy` array renamed `train.npz`", _npy_renamed,
                "a single .npy array renamed .npz"),
    _site_fault("site-garbage", "random bytes as `train.npz`", _replace_train(b"\x00GARBAGE" * 16),
                "not a zip archive (starts with b'\\x00GARBA')"),
    _site_fault("site-empty-file", "an empty (0-byte) `train.npz`", _replace_train(b""),
                "not a zip archive (starts with b'')"),
    _site_fault("site-over-limit", "`train.npz` larger than the site's `max-data-bytes`", lambda f: write_site(f),
                "over this site's limit of 20000 (node-config max-data-bytes); refused unread",
                refused=FileLimitError, max_bytes=20_000),
    _site_fault("site-zip-bomb", "a 4 KB `train.npz` that expands to 3.4 MB", _zip_bomb,
                "expands to 3360256 bytes, over this site's limit of 1000000", refused=FileLimitError,
                max_bytes=1_000_000),
    _site_fault("site-lying-header", "an `.npy` member whose header claims 100000 x 100000 floats", _lying_header,
                "declares shape (100000, 100000) (40000000000 bytes) but holds"),
    _site_fault("site-object-array", "Python objects (a pickle) in `train.npz`", _objects,
                "holds Python objects (object); only numeric arrays are read"),
    _site_fault("site-folder-not-file", "a folder named `train.npz`", _folder_as_file,
                "site data file <dir>/site/train.npz is not a regular file", refused=FileLimitError),
    _site_fault("site-label-out-of-range", "label 10 in a 10-class task", _labels(np.array([0, 10, 3])),
                "labels must lie in [0, 10), got [0, 10]"),
    _site_fault("site-float-labels", "float labels", _labels(np.array([0.0, 1.5])),
                "labels must be a 1-D integer array, got float64"),
]
