"""BBC News as language-model text: one site per topic, token blocks of a fixed length.

Each article becomes one block: its first ``length`` tokens (headline and opening), right-padded, so a
block is one sequence and one sample for DP-SGD. The federated sites get the ``train`` part of
:func:`fedkd.data.bbc_news.split_parts`, one topic each (five sites); the server holds out the ``test``
part (every topic). The split is the classification task's, so no article is in two parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from fedkd.data.bbc_news import CATEGORIES, read_articles, split_parts


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
class LMTexts:
    """The sites' texts (one tuple per topic, in :data:`CATEGORIES` order) and the server's held-out texts."""

    sites: tuple[tuple[str, ...], ...]
    test: tuple[str, ...]


def bbc_lm_texts(*, max_per_site: int = 0, max_test: int = 0) -> LMTexts:
    """BBC News split for the causal-LM task: site ``i`` holds the train articles of topic ``CATEGORIES[i]``.

    ``max_per_site`` and ``max_test`` (0: all) keep the first articles of each, for tiny runs.
    """
    articles = read_articles()
    parts = split_parts(articles.labels)
    sites = []
    for label in range(len(CATEGORIES)):
        chosen = [articles.texts[i] for i in parts["train"] if articles.labels[i] == label]
        sites.append(tuple(chosen[:max_per_site] if max_per_site else chosen))
    test = [articles.texts[i] for i in parts["test"]]
    return LMTexts(tuple(sites), tuple(test[:max_test] if max_test else test))
