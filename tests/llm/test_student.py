"""The LoRA student: adapter-only shared state, truncation, and the base left untouched."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fedkd.llm.student import (
    adapter_state,
    load_adapter_state,
    make_lora_student,
    spread_layers,
    trainable_parameters,
    truncate_layers,
)
from tests.optional_data import needs_llm

pytestmark = needs_llm


def test_adapter_state_lora_student_holds_only_adapter_tensors(tiny_llama: Any) -> None:
    # Prepare
    student = make_lora_student(tiny_llama, rank=4, alpha=8, targets=("q_proj", "v_proj"))

    # Execute
    state = adapter_state(student)

    # Assert: one A and one B per targeted layer, and no base weight
    assert len(state) == 2 * 2 * 4
    assert all(".lora_A." in name or ".lora_B." in name for name in state)
    assert not any("embed_tokens" in name or "mlp" in name or "norm" in name for name in state)
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in trainable_parameters(student))


def test_load_adapter_state_round_trip_changes_outputs_exactly(tiny_llama: Any) -> None:
    # Prepare: a trained-looking source (B non-zero) and a fresh target
    source = make_lora_student(tiny_llama, rank=4, alpha=8, seed=1)
    with torch.no_grad():
        for parameter in trainable_parameters(source):
            parameter.add_(0.1 * torch.randn_like(parameter))
    target = make_lora_student(tiny_llama, rank=4, alpha=8, seed=2)
    ids = torch.randint(3, 61, (2, 7), generator=torch.Generator().manual_seed(0))

    # Execute
    load_adapter_state(target, adapter_state(source))

    # Assert
    for name, tensor in adapter_state(source).items():
        torch.testing.assert_close(adapter_state(target)[name], tensor, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(target(input_ids=ids).logits, source(input_ids=ids).logits)


def test_load_adapter_state_wrong_names_or_shapes_raise_and_change_nothing(tiny_llama: Any) -> None:
    # Prepare
    student = make_lora_student(tiny_llama, rank=4, alpha=8)
    before = adapter_state(student)
    other_rank = adapter_state(make_lora_student(tiny_llama, rank=2, alpha=8))
    renamed = {name + "x": tensor for name, tensor in before.items()}

    # Execute / Assert
    with pytest.raises(ValueError, match="shape"):
        load_adapter_state(student, other_rank)
    with pytest.raises(ValueError, match="missing"):
        load_adapter_state(student, renamed)
    for name, tensor in adapter_state(student).items():
        assert torch.equal(tensor, before[name])


def test_make_lora_student_leaves_base_unchanged_and_frozen_base_in_student(tiny_llama: Any) -> None:
    # Prepare
    before = {name: tensor.clone() for name, tensor in tiny_llama.state_dict().items()}

    # Execute
    student = make_lora_student(tiny_llama, rank=4, alpha=8, layers=2)

    # Assert
    assert len(tiny_llama.model.layers) == 4
    assert all(torch.equal(tensor, before[name]) for name, tensor in tiny_llama.state_dict().items())
    assert all("lora_" in name for name, p in student.named_parameters() if p.requires_grad)


def test_make_lora_student_same_seed_same_adapters_on_every_site(tiny_llama: Any) -> None:
    first = adapter_state(make_lora_student(tiny_llama, rank=4, alpha=8, seed=3))
    second = adapter_state(make_lora_student(tiny_llama, rank=4, alpha=8, seed=3))
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_make_lora_student_unknown_target_raises_naming_it(tiny_llama: Any) -> None:
    with pytest.raises(ValueError, match="qkv_proj"):
        make_lora_student(tiny_llama, rank=4, alpha=8, targets=("qkv_proj",))


@pytest.mark.parametrize(("total", "keep", "expected"), [(30, 6, (0, 6, 12, 17, 23, 29)), (4, 2, (0, 3)),
                                                          (4, 4, (0, 1, 2, 3)), (5, 1, (4,))])
def test_spread_layers_keeps_first_and_last_evenly(total: int, keep: int, expected: tuple[int, ...]) -> None:
    assert spread_layers(total, keep) == expected


def test_spread_layers_more_than_total_raises() -> None:
    with pytest.raises(ValueError, match="student-layers"):
        spread_layers(4, 5)


def test_truncate_layers_copy_matches_manual_forward_and_generates(tiny_llama: Any) -> None:
    # Prepare
    ids = torch.randint(3, 61, (1, 5), generator=torch.Generator().manual_seed(0))

    # Execute
    small = truncate_layers(tiny_llama, (0, 3))

    # Assert: same as running layers 0 and 3 of the original by hand
    assert small.config.num_hidden_layers == 2 and len(small.model.layers) == 2
    with torch.no_grad():
        inner = tiny_llama.model
        hidden = inner.embed_tokens(ids)
        position_ids = torch.arange(ids.shape[1]).unsqueeze(0)
        embeddings = inner.rotary_emb(hidden, position_ids)
        causal = torch.full((5, 5), float("-inf")).triu(1)[None, None]
        for index in (0, 3):
            hidden = inner.layers[index](hidden, attention_mask=causal, position_ids=position_ids,
                                         position_embeddings=embeddings)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        expected = tiny_llama.lm_head(inner.norm(hidden))
        torch.testing.assert_close(small(input_ids=ids).logits, expected)
        assert small.generate(input_ids=ids, max_new_tokens=3, do_sample=False).shape == (1, 8)
