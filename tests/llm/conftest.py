"""Fixtures of the causal-LM tests: a tiny random Llama and a few token blocks."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fedkd.llm.text import TokenBlocks
from tests.llm.tiny import VOCAB, tiny_llama_model


@pytest.fixture(scope="session")
def tiny_llama() -> Any:
    """Used only by modules marked ``needs_llm``."""
    return tiny_llama_model()


@pytest.fixture()
def blocks() -> TokenBlocks:
    """Eight 12-token blocks, two of them right-padded."""
    ids = torch.randint(3, VOCAB, (8, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    mask[5, 6:] = 0
    return TokenBlocks(ids.masked_fill(mask == 0, 0), mask)
