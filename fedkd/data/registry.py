"""The datasets fedkd knows by name, with the facts config validation needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fedkd.data.arrays import DatasetSplits
from fedkd.data.bbc_news import EMBEDDING_DIM, NUM_FEATURES, load_bbc_news
from fedkd.data.digits import load_digits
from fedkd.data.fashion_mnist import load_fashion_mnist, locate_files
from fedkd.data.mnist1d import load_mnist1d
from fedkd.extras import require


@dataclass(frozen=True)
class DatasetSpec:
    """What is known of a dataset before loading it.

    Attributes
    ----------
    input_shape : tuple of int
        Shape of one input.
    num_classes : int
        Number of label values.
    load : callable
        ``load(data_dir, cache_dir) -> DatasetSplits``.
    teacher_input_shape : tuple of int, optional
        Shape of one input of the teacher view, for a dataset whose teacher sees
        other inputs than the student; ``None``: the teacher sees ``input_shape``.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    load: Callable[[Path | None, Path], DatasetSplits]
    teacher_input_shape: tuple[int, ...] | None = None


DATASETS: dict[str, DatasetSpec] = {
    "mnist1d": DatasetSpec((40,), 10, lambda data_dir, cache_dir: load_mnist1d()),
    "fashion-mnist": DatasetSpec((28, 28), 10, load_fashion_mnist),
    "digits": DatasetSpec((8, 8), 10, lambda data_dir, cache_dir: load_digits()),
    "bbc-news": DatasetSpec((NUM_FEATURES,), 5, load_bbc_news, teacher_input_shape=(EMBEDDING_DIM,)),
}


def check_available(name: str, *, data_dir: Path | None, cache_dir: Path) -> None:
    """Make sure ``name`` can be loaded, without loading it: files found (or downloaded), packages installed.

    Raises
    ------
    fedkd.data.fashion_mnist.DatasetUnavailable
        Fashion-MNIST files that are neither on disk nor downloadable (the message says how to get them).
    fedkd.extras.MissingExtra
        A dataset whose packages (an extra) are not installed.
    ValueError
        For an unknown name.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    if name == "fashion-mnist":
        locate_files(data_dir, cache_dir)
    elif name == "bbc-news":
        require("text")


@lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: Path | None, cache_dir: Path) -> DatasetSplits:
    return DATASETS[name].load(data_dir, cache_dir)


def load_dataset(name: str, *, data_dir: Path | None, cache_dir: Path) -> DatasetSplits:
    """Load a dataset by registry name; repeated calls in a process reuse it.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return _load_cached(name, data_dir, cache_dir)
