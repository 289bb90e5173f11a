"""An encoder classifier: a BERT-style encoder, mean pooling over the attention mask, a linear head.

The teacher keeps every layer of all-MiniLM-L6-v2 (Wang et al., "MiniLM", NeurIPS 2020; the sentence
model of Reimers and Gurevych, 2019); the student is a copy keeping ``layers`` of them, spread from the
first to the last (:func:`fedkd.llm.student.spread_layers`). Both get LoRA adapters (Hu et al., ICLR 2022)
on the attention's ``query`` and ``value`` projections and a fresh linear head; the encoder's own weights
stay frozen. The trained tensors, adapters and head, are the model's whole shared state
(:func:`shared_state`): the base weights are public and equal at every site.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from fedkd.extras import require
from fedkd.llm.student import spread_layers
from fedkd.state_fit import check_state_fits

LORA_TARGETS = ("query", "value")
"""The linear layers of a BERT attention block that get adapters."""


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``hidden`` ``(batch, tokens, width)`` over the tokens whose mask is 1; padding is ignored.

    A row without any real token pools to zeros.
    """
    if hidden.shape[:2] != attention_mask.shape:
        raise ValueError(f"hidden states {tuple(hidden.shape)} and attention mask {tuple(attention_mask.shape)} "
                         "must share (batch, tokens)")
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class EncoderClassifier(torch.nn.Module):
    """``head(mean_pool(encoder(ids, mask)))``: class logits of token sequences."""

    def __init__(self, encoder: Any, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))  # type: ignore[no-any-return]


def truncate_encoder(encoder: Any, keep: Sequence[int]) -> Any:
    """A deep copy of a BERT-style ``encoder`` keeping only the layers ``keep``, in that order."""
    total = len(encoder.encoder.layer)
    if not keep or any(not 0 <= index < total for index in keep):
        raise ValueError(f"encoder layer indices must lie in [0, {total}), got {list(keep)}")
    small = copy.deepcopy(encoder)
    small.encoder.layer = torch.nn.ModuleList([small.encoder.layer[index] for index in keep])
    small.config.num_hidden_layers = len(keep)
    return small


def make_encoder_classifier(base: Any, *, num_classes: int, layers: int, rank: int, alpha: int,
                            seed: int) -> EncoderClassifier:
    """``base`` (or a ``layers``-layer copy) with LoRA on query/value and a linear head; only those train.

    Parameters
    ----------
    base : transformers.PreTrainedModel
        The public encoder (e.g. ``BertModel``); not modified (the classifier wraps a deep copy).
    num_classes : int
        Width of the head.
    layers : int
        ``encoder-student-layers``: 0 keeps every layer, else this many, spread first to last.
    rank, alpha : int
        ``lora-rank`` and ``lora-alpha`` (updates scaled by ``alpha / rank``).
    seed : int
        Seeds the adapters and the head, so equal arguments build equal classifiers at every site.

    Raises
    ------
    ValueError
        For fewer than 2 classes, a rank or alpha < 1, or ``layers`` above the base's depth.
    """
    require("llm", ("peft",))
    from peft import LoraConfig, get_peft_model

    if num_classes < 2 or rank < 1 or alpha < 1:
        raise ValueError(f"an encoder classifier needs >= 2 classes, lora-rank >= 1 and lora-alpha >= 1, got "
                         f"{num_classes}, {rank} and {alpha}")
    total = len(base.encoder.layer)
    if not 0 <= layers <= total:
        raise ValueError(f"encoder-student-layers must be in [0, {total}] (the encoder's layers), got {layers}")
    encoder = truncate_encoder(base, spread_layers(total, layers)) if 0 < layers < total else copy.deepcopy(base)
    encoder.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lora = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(LORA_TARGETS), lora_dropout=0.0,
                          bias="none")
        return EncoderClassifier(get_peft_model(encoder, lora), num_classes)


def shared_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trained tensors (adapters and head) as detached CPU copies, keyed by parameter name."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_shared_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy tensors of :func:`shared_state` into ``model`` in place.

    Raises
    ------
    ValueError
        If the names or shapes differ from the model's trained tensors (nothing is changed then).
    """
    own = {name: p for name, p in model.named_parameters() if p.requires_grad}
    check_state_fits(own, state, kind="shared", owner="classifier")
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor)
