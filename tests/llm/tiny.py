"""A tiny random Llama: the code paths of SmolLM2 (a LlamaForCausalLM) in seconds on a CPU."""

from __future__ import annotations

from typing import Any

import torch

VOCAB = 61


def tiny_llama_model(seed: int = 0) -> Any:
    """Four layers of width 32 over a 61-token vocabulary, tied embeddings, in ``eval()`` mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config).eval()


class WordTokenizer:
    """A stand-in tokenizer for the tiny Llama: each word's hash picks one of 58 token ids, then padding."""

    pad_token_id = 0

    def __call__(self, texts: list[str], *, max_length: int, truncation: bool, padding: str,
                 return_tensors: str) -> dict[str, torch.Tensor]:
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, text in enumerate(texts):
            words = [3 + sum(map(ord, word)) % 58 for word in text.split()][:max_length]
            ids[row, : len(words)], mask[row, : len(words)] = torch.tensor(words), 1
        return {"input_ids": ids, "attention_mask": mask}
