"""The shared student: a (possibly truncated) copy of the base LM with LoRA adapters, the only trained tensors.

LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022) adds ``B @ A`` of rank
``r``, scaled by ``alpha / r``, beside each targeted linear layer; the base weights stay frozen. The federated
state of the student is therefore the adapter tensors alone (:func:`adapter_state`), a fraction of a percent
of the model: every site starts from the same public base model and only adapters travel.

A truncated student keeps ``layers`` of the base's decoder layers, spread evenly from the first to the last
(:func:`spread_layers`), so the last layer, which feeds the final norm and the tied output embedding, is
kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from fedkd.llm.extra import require_llm
from fedkd.state_fit import check_state_fits

DEFAULT_TARGETS = ("q_proj", "v_proj")


def spread_layers(total: int, keep: int) -> tuple[int, ...]:
    """``keep`` layer indices out of ``total``, evenly spaced, always the first and the last.

    Raises
    ------
    ValueError
        If ``keep`` is not in ``[1, total]``.
    """
    if not 1 <= keep <= total:
        raise ValueError(f"student-layers must be in [1, {total}] (the base model's layers), got {keep}")
    if keep == 1:
        return (total - 1,)
    return tuple(sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)}))


def truncate_layers(model: Any, keep: Sequence[int]) -> Any:
    """A deep copy of a decoder-only ``model`` with only the decoder layers ``keep``, in that order."""
    total = len(model.model.layers)
    if not keep or any(not 0 <= index < total for index in keep):
        raise ValueError(f"layer indices must lie in [0, {total}), got {list(keep)}")
    small = copy.deepcopy(model)
    small.model.layers = torch.nn.ModuleList([small.model.layers[index] for index in keep])
    for position, layer in enumerate(small.model.layers):
        layer.self_attn.layer_idx = position  # the key/value cache is indexed by position
    small.config.num_hidden_layers = len(keep)
    if getattr(small.config, "layer_types", None) is not None:
        small.config.layer_types = [small.config.layer_types[index] for index in keep]
    return small


def make_lora_student(
    base: Any, *, rank: int, alpha: int, targets: Sequence[str] = DEFAULT_TARGETS, layers: int = 0, seed: int = 0
) -> Any:
    """The student: ``base`` (or a ``layers``-layer copy of it) with LoRA adapters on ``targets``.

    Parameters
    ----------
    base : transformers.PreTrainedModel
        The public base model; it is not modified (the student wraps a deep copy).
    rank, alpha : int
        ``lora-rank`` (``r >= 1``) and ``lora-alpha`` (the update is scaled by ``alpha / r``).
    targets : sequence of str
        ``lora-targets``: names of the linear layers to adapt, e.g. ``("q_proj", "v_proj")``.
    layers : int
        ``student-layers``: 0 keeps every layer, else a truncated copy with this many (:func:`spread_layers`).
    seed : int
        Seeds the adapters' initialisation (``A`` random, ``B`` zero), so every site builds the same student.

    Raises
    ------
    ValueError
        For a rank or alpha < 1, no targets, or a target no layer has.
    """
    require_llm()
    from peft import LoraConfig, get_peft_model

    if rank < 1 or alpha < 1:
        raise ValueError(f"lora-rank must be >= 1 and lora-alpha >= 1, got {rank} and {alpha}")
    if not targets:
        raise ValueError("lora-targets must name at least one linear layer")
    names = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    unknown = sorted(set(targets) - names)
    if unknown:
        raise ValueError(f"lora-targets {unknown} are not layers of the base model")
    total = len(base.model.layers)
    model = truncate_layers(base, spread_layers(total, layers)) if 0 < layers < total else copy.deepcopy(base)
    model.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0, bias="none")
        return get_peft_model(model, config)


def adapter_state(student: Any) -> dict[str, torch.Tensor]:
    """The student's shared state: its LoRA tensors only (detached CPU copies), keyed by parameter name."""
    require_llm()
    from peft import get_peft_model_state_dict

    return {name: tensor.detach().cpu().clone() for name, tensor in get_peft_model_state_dict(student).items()}


def load_adapter_state(student: Any, state: Mapping[str, torch.Tensor]) -> None:
    """Copy adapter tensors from :func:`adapter_state` into ``student``, in place.

    Raises
    ------
    ValueError
        If the names or shapes differ from the student's own adapters (nothing is changed then).
    """
    require_llm()
    from peft import set_peft_model_state_dict

    own = adapter_state(student)
    check_state_fits(own, state, kind="adapter", owner="student")
    set_peft_model_state_dict(student, dict(state))


def trainable_parameters(student: Any) -> list[torch.nn.Parameter]:
    """The parameters the optimiser updates (the adapters)."""
    return [parameter for parameter in student.parameters() if parameter.requires_grad]
