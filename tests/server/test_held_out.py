"""The server's held-out set: its own ``server-test-data`` file, validated, or the dataset's test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedkd.config import ConfigError, FedKDConfig
from fedkd.data import DatasetSplits
from server.held_out import held_out_set


def test_held_out_set_without_a_file_is_the_datasets_test_split(cache_root: Path, mnist1d: DatasetSplits) -> None:
    data = held_out_set(FedKDConfig(), cache_root)

    assert data.fingerprint() == mnist1d.test.fingerprint()


def test_held_out_set_reads_the_servers_file(tmp_path: Path, cache_root: Path, mnist1d: DatasetSplits) -> None:
    path = tmp_path / "server-test.npz"
    np.savez(path, x=mnist1d.test.x[:100].astype(np.float64), y=mnist1d.test.y[:100].astype(np.int32))

    data = held_out_set(FedKDConfig(server_test_data=str(path)), cache_root)

    assert len(data) == 100 and data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert np.array_equal(data.x, mnist1d.test.x[:100]) and np.array_equal(data.y, mnist1d.test.y[:100])


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"x": np.zeros((5, 39), np.float32), "y": np.zeros(5, np.int64)}, "shape (5, 39), the dataset needs (n, 40)"),
        ({"x": np.full((5, 40), np.nan, np.float32), "y": np.zeros(5, np.int64)}, "non-finite value nan"),
        ({"x": np.zeros((5, 40), np.float32), "y": np.full(5, 12)}, "holds label 12 at index 0"),
        ({"x": np.zeros((0, 40), np.float32), "y": np.zeros(0, np.int64)}, "holds no samples"),
        ({"inputs": np.zeros((5, 40), np.float32)}, "has no array 'x'"),
    ],
    ids=["wrong-shape", "nan", "label-out-of-range", "empty", "missing-key"],
)
def test_held_out_set_bad_file_is_a_config_error_naming_the_key_and_value(
    tmp_path: Path, cache_root: Path, arrays: dict[str, np.ndarray], expected: str
) -> None:
    path = tmp_path / "server-test.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="server-test-data") as raised:
        held_out_set(FedKDConfig(server_test_data=str(path)), cache_root)

    assert expected in str(raised.value) and str(path) in str(raised.value)


def test_held_out_set_missing_file_is_named(tmp_path: Path, cache_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"server-test-data: .*absent\.npz: file does not exist"):
        held_out_set(FedKDConfig(server_test_data=str(tmp_path / "absent.npz")), cache_root)


def test_config_server_test_data_must_be_absolute() -> None:
    with pytest.raises(ConfigError, match="server-test-data='held-out.npz'.*absolute"):
        FedKDConfig(server_test_data="held-out.npz")
