"""A tiny random BERT: the code paths of all-MiniLM-L6-v2 (a BertModel) in a fraction of a second on a CPU."""

from __future__ import annotations

from typing import Any

import torch

from tests.llm.tiny import VOCAB, WordTokenizer

__all__ = ["VOCAB", "WordTokenizer", "tiny_bert"]


def tiny_bert(layers: int = 4, seed: int = 0) -> Any:
    """``layers`` layers of width 16 over a 61-token vocabulary, in ``eval()`` mode, frozen."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
                        num_attention_heads=2, max_position_embeddings=64, pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config, add_pooling_layer=False).eval()
    model.requires_grad_(False)
    return model
