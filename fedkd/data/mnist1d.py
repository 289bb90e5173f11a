"""MNIST-1D (Greydanus, 2020), generated locally from the ``mnist1d`` package.

The package's ``get_dataset()`` tries a download first; ``make_dataset`` with the
default arguments builds the same 4000/1000 split offline (length-40 signals).
"""

from __future__ import annotations

import numpy as np

from fedkd.data.arrays import ArrayDataset, DatasetSplits


def load_mnist1d() -> DatasetSplits:
    """Generate MNIST-1D with the dataset's default arguments (seed 42)."""
    from mnist1d.data import get_dataset_args, make_dataset

    raw = make_dataset(get_dataset_args())
    return DatasetSplits(
        name="mnist1d",
        train=ArrayDataset(raw["x"].astype(np.float32), raw["y"].astype(np.int64)),
        test=ArrayDataset(raw["x_test"].astype(np.float32), raw["y_test"].astype(np.int64)),
        num_classes=10,
    )
