"""scikit-learn's 8x8 handwritten digits (UCI optdigits test set, 1797 images)."""

from __future__ import annotations

import numpy as np

from fedkd.data.arrays import ArrayDataset, DatasetSplits

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits() -> DatasetSplits:
    """Load the digits, scaled to [0, 1], with a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return DatasetSplits(
        name="digits",
        train=ArrayDataset(x_train, y_train),
        test=ArrayDataset(x_test, y_test),
        num_classes=10,
    )
