"""A tiny random Llama (same code paths as SmolLM2, seconds on a CPU) and a stand-in tokenizer."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fedkd.llm.text import TokenBlocks

VOCAB = 61


@pytest.fixture(scope="session")
def tiny_llama() -> Any:
    """Used only by modules marked ``needs_llm``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


@pytest.fixture()
def blocks() -> TokenBlocks:
    """Eight 12-token blocks, two of them right-padded."""
    ids = torch.randint(3, VOCAB, (8, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    mask[5, 6:] = 0
    return TokenBlocks(ids.masked_fill(mask == 0, 0), mask)
