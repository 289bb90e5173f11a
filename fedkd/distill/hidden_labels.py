"""Hidden labels: the seeded share of a site's train split used with the distillation term only."""

from __future__ import annotations

import numpy as np
import torch


def labelled_mask(num_samples: int, unlabeled_fraction: float, *, seed: int) -> torch.Tensor | None:
    """Bool mask of the samples whose labels a site may use; ``None`` when all are labelled.

    A fixed seeded choice per site, the same every round: ``round(fraction * n)``
    samples have their labels hidden, at least one stays labelled.
    """
    if unlabeled_fraction <= 0:
        return None
    hidden = min(int(round(unlabeled_fraction * num_samples)), num_samples - 1)
    order = np.random.default_rng(seed).permutation(num_samples)
    mask = np.ones(num_samples, dtype=bool)
    mask[order[:hidden]] = False
    return torch.from_numpy(mask)
