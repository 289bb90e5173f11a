"""The server's unlabeled proxy set for ensemble distillation (FedDF).

A proxy set must come from somewhere other than the clients' data and the server's
test set. For MNIST-1D it is freshly generated: the dataset's own generator with a
seed used nowhere else, so the task matches and no client record is reused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PROXY_DATASETS = ("mnist1d",)
PROXY_SEED = 31_337
"""Base seed of generated proxy sets; distinct from the official and pretraining seeds."""


def load_proxy(dataset: str, *, size: int, seed: int) -> npt.NDArray[np.float32]:
    """Unlabeled proxy inputs for ``dataset``: ``size`` samples (rounded up to a multiple of 10, then cut).

    Raises
    ------
    ValueError
        For a dataset without a proxy source or a size < 1.
    """
    if dataset not in PROXY_DATASETS:
        raise ValueError(f"no proxy set for dataset {dataset!r}; available for {', '.join(PROXY_DATASETS)}")
    if size < 1:
        raise ValueError(f"proxy size must be >= 1, got {size}")
    from fedkd.data.mnist1d import make_mnist1d_corpus

    corpus = make_mnist1d_corpus(-(-size // 10) * 10, seed=PROXY_SEED + seed)
    return corpus.x[:size]
