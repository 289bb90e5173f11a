"""Real datasets, a site's splits, and the registry that names them."""

from fedkd.data.arrays import ArrayDataset, DatasetSplits
from fedkd.data.registry import DATASETS, DatasetSpec, load_dataset

__all__ = ["DATASETS", "ArrayDataset", "DatasetSpec", "DatasetSplits", "load_dataset"]
