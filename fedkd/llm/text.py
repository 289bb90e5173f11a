"""BBC News as language-model text: the sites' articles (by topic, or a Dirichlet split), token blocks.

Each article becomes one block: its first ``length`` tokens (headline and opening), right-padded, so a
block is one sequence and one sample for DP-SGD. The federated sites get the ``train`` part of
:func:`fedkd.data.bbc_news.split_parts`, one topic each (five sites) or shared out by a classification
partitioner over the topic labels (:class:`SiteSplit`); the server holds out the ``test`` part (every
topic). The split is the classification task's, so no article is in two parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fedkd.data.bbc_news import CATEGORIES, read_articles, split_parts
from fedkd.data.partitioning import partition_indices
from fedkd.seeding import derive_seed


@dataclass(frozen=True)
class TokenBlocks:
    """Token ids and attention masks, both ``(blocks, length)`` int64."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.input_ids.dim() != 2 or self.input_ids.shape != self.attention_mask.shape:
            raise ValueError(f"input ids {tuple(self.input_ids.shape)} and attention mask "
                             f"{tuple(self.attention_mask.shape)} must share one (blocks, length) shape")

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def subset(self, indices: torch.Tensor) -> TokenBlocks:
        """The blocks at ``indices``."""
        return TokenBlocks(self.input_ids[indices], self.attention_mask[indices])

    def fingerprint(self) -> str:
        """A SHA-256 of the token ids and masks: equal blocks give equal fingerprints (keys a site's DP ledger)."""
        digest = hashlib.sha256(str(tuple(self.input_ids.shape)).encode())
        digest.update(self.input_ids.contiguous().numpy().tobytes())
        digest.update(self.attention_mask.contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def num_tokens(self) -> int:
        """Real (unpadded) tokens in all blocks."""
        return int(self.attention_mask.sum())


def token_blocks(tokenizer: Any, texts: tuple[str, ...] | list[str], *, length: int) -> TokenBlocks:
    """The first ``length`` tokens of each text, right-padded with the tokenizer's pad token.

    Raises
    ------
    ValueError
        If ``length < 2`` (no next token to predict) or there are no texts.
    """
    if length < 2:
        raise ValueError(f"lm-sequence-length must be >= 2, got {length}")
    if not texts:
        raise ValueError("no texts to cut into token blocks")
    encoded = tokenizer([" ".join(text.split()) for text in texts], max_length=length, truncation=True,
                        padding="max_length", return_tensors="pt")
    return TokenBlocks(encoded["input_ids"].long(), encoded["attention_mask"].long())


@dataclass(frozen=True)
class SiteSplit:
    """How simulated sites share the BBC train articles.

    ``topic``: site ``i`` holds topic ``CATEGORIES[i]`` (five sites). Any name of
    :data:`fedkd.data.partitioning.PARTITIONERS` (``iid``, ``dirichlet``, ``pathological``) splits the
    articles by their topic labels exactly as the classification task splits its samples, with the same
    ``dirichlet_alpha``, ``classes_per_client`` and ``seed``.
    """

    partitioner: str = "topic"
    num_sites: int = len(CATEGORIES)
    seed: int = 0
    dirichlet_alpha: float = 0.5
    classes_per_client: int = 2


@dataclass(frozen=True)
class LMTexts:
    """The sites' texts and their topic labels (one tuple per site) and the server's held-out texts."""

    sites: tuple[tuple[str, ...], ...]
    test: tuple[str, ...]
    site_labels: tuple[tuple[int, ...], ...] = ()


def _site_indices(labels: npt.NDArray[np.int64], split: SiteSplit) -> list[npt.NDArray[np.int64]]:
    """Positions in ``labels`` of each site's articles, in the order a site keeps them."""
    if split.partitioner == "topic":
        if split.num_sites != len(CATEGORIES):
            raise ValueError(f"lm-partitioner=topic gives one site per BBC topic ({len(CATEGORIES)} sites), "
                             f"not {split.num_sites}; choose another lm-partitioner for {split.num_sites} sites")
        return [np.flatnonzero(labels == label) for label in range(len(CATEGORIES))]
    shards = partition_indices(labels, num_partitions=split.num_sites, partitioner=split.partitioner,
                               seed=split.seed, dirichlet_alpha=split.dirichlet_alpha,
                               classes_per_client=split.classes_per_client)
    # A shard lists each topic's articles in runs (flwr-datasets cuts each class in order), so its first
    # articles (what lm-site-articles keeps) would be one topic: each site's articles go in a seeded order.
    return [np.random.default_rng(derive_seed(split.seed, "lm-site-order", site)).permutation(shard)
            for site, shard in enumerate(shards)]


def bbc_lm_texts(*, max_per_site: int = 0, max_test: int = 0, split: SiteSplit | None = None) -> LMTexts:
    """BBC News split for the causal-LM task: the ``train`` part among the sites, the ``test`` part held out.

    By default (``split`` None: :class:`SiteSplit`'s ``topic``) site ``i`` holds the train articles of topic
    ``CATEGORIES[i]``. ``max_per_site`` and ``max_test`` (0: all) keep the first articles of each, for tiny
    runs.

    Raises
    ------
    ValueError
        If the split cannot share the train articles among ``split.num_sites`` sites.
    """
    articles = read_articles()
    parts = split_parts(articles.labels)
    train = parts["train"]
    sites, site_labels = [], []
    for positions in _site_indices(articles.labels[train], split or SiteSplit()):
        chosen = train[positions[:max_per_site] if max_per_site else positions]
        sites.append(tuple(articles.texts[i] for i in chosen))
        site_labels.append(tuple(int(articles.labels[i]) for i in chosen))
    test = [articles.texts[i] for i in parts["test"]]
    return LMTexts(tuple(sites), tuple(test[:max_test] if max_test else test), tuple(site_labels))
