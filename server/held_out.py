"""The server's held-out set: the file it owns (``server-test-data``) or the dataset's own test split."""

from __future__ import annotations

from pathlib import Path

from fedkd.config import ConfigError, FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import DATASETS, load_dataset
from fedkd.data.validation import DataError, read_npz


def held_out_set(config: FedKDConfig, cache_dir: Path) -> ArrayDataset:
    """The data the global student is evaluated on every round.

    With ``server-test-data`` set, its ``.npz`` (arrays ``x``, ``y``) is read and
    checked against the dataset's spec; the dataset itself is then never loaded, so a
    deployed server needs only its own file.

    Raises
    ------
    ConfigError
        Naming ``server-test-data`` and what is wrong with the file (missing, not an
        ``.npz``, wrong shape, non-finite values, labels out of range, empty).
    """
    if not config.server_test_data:
        data_dir = Path(config.data_dir) if config.data_dir else None
        return load_dataset(config.dataset, data_dir=data_dir, cache_dir=cache_dir).test
    path = Path(config.server_test_data).expanduser()
    try:
        data = read_npz(path, DATASETS[config.dataset])
    except DataError as error:
        raise ConfigError(f"server-test-data: {error}") from error
    if len(data) == 0:
        raise ConfigError(f"server-test-data: {path} holds no samples")
    return data
