"""MNIST-1D (Greydanus, 2020), generated locally from the ``mnist1d`` package.

The package's ``get_dataset()`` tries a download first; ``make_dataset`` with the
default arguments builds the same 4000/1000 split offline (length-40 signals).
The same generator with another seed gives fresh samples of the same task: the
"larger private corpus elsewhere" on which a teacher can be pretrained.
"""

from __future__ import annotations

import numpy as np

from fedkd.data.arrays import ArrayDataset, DatasetSplits

OFFICIAL_SEED = 42
"""The seed of the official splits (``get_dataset_args().seed``)."""

CORPUS_SEED = 20_200
"""Default seed of the fresh corpus: anything but :data:`OFFICIAL_SEED`."""


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


def make_mnist1d_corpus(num_samples: int = 20_000, *, seed: int = CORPUS_SEED) -> ArrayDataset:
    """Fresh MNIST-1D samples, disjoint from the official splits, for pretraining a teacher.

    The official generator (templates, transforms, noise) with another seed and all
    samples in one split. Like the official data it is standardised by its own mean
    and standard deviation; with thousands of samples these match the official
    ones to well under 1%.

    Parameters
    ----------
    num_samples : int
        Number of samples, a multiple of 10 (equally many per digit).
    seed : int
        Generator seed; the official seed 42 is refused, since it would repeat the
        official samples.

    Raises
    ------
    ValueError
        For the official seed, or a sample count that is not a positive multiple of 10.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    if seed == OFFICIAL_SEED:
        raise ValueError(f"seed {OFFICIAL_SEED} generates the official MNIST-1D samples; choose another")
    if num_samples <= 0 or num_samples % 10:
        raise ValueError(f"num_samples must be a positive multiple of 10, got {num_samples}")
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, 1.0
    raw = make_dataset(args)
    return ArrayDataset(raw["x"].astype(np.float32), raw["y"].astype(np.int64))
