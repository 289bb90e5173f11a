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
    """A stand-in tokenizer for the tiny Llama: each word's hash picks one of 58 token ids, then padding.

    Called with one string (a prompt), it returns that prompt's ids unpadded; ``decode`` writes token
    ``i`` as the word ``w<i>``, so a text's word count is its token count.
    """

    pad_token_id = 0

    def __call__(self, texts: str | list[str], *, max_length: int | None = None, truncation: bool = False,
                 padding: str = "do_not_pad", return_tensors: str = "pt") -> dict[str, torch.Tensor]:
        if isinstance(texts, str):
            prompt = torch.tensor([[self.token(word) for word in texts.split()]])
            return {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)}
        assert max_length is not None, "a batch of texts is cut into blocks of max_length"
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, text in enumerate(texts):
            words = [self.token(word) for word in text.split()][:max_length]
            ids[row, : len(words)], mask[row, : len(words)] = torch.tensor(words), 1
        return {"input_ids": ids, "attention_mask": mask}

    @staticmethod
    def token(word: str) -> int:
        """The id of ``word``: 3 to 60 (0 pads, 1 and 2 are the tiny Llama's bos and eos)."""
        return 3 + sum(map(ord, word)) % 58

    def decode(self, ids: torch.Tensor, skip_special_tokens: bool = False) -> str:
        """Token ``i`` as the word ``w<i>``; the special ids 0-2 left out when ``skip_special_tokens``."""
        return " ".join(f"w{int(i)}" for i in ids if not (skip_special_tokens and int(i) < 3))
