"""The encoder classifier: mean pooling, truncation, LoRA student, and its shared state."""

from __future__ import annotations

import pytest
import torch

from fedkd.encoder.model import (
    load_shared_state,
    make_encoder_classifier,
    mean_pool,
    shared_state,
    truncate_encoder,
)
from tests.encoder.tiny import tiny_bert
from tests.optional_data import needs_llm

pytestmark = needs_llm


def test_mean_pool_padding_values_ignored_equals_hand_mean() -> None:
    # Prepare: row 0 has two real tokens, row 1 three; padded positions hold large values
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
                           [[1.0, 1.0], [2.0, 2.0], [6.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])

    # Execute
    pooled = mean_pool(hidden, mask)
    changed = hidden.clone()
    changed[0, 2] = -7.0
    again = mean_pool(changed, mask)

    # Assert
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0], [3.0, 1.0]]))
    torch.testing.assert_close(again, pooled)


def test_mean_pool_row_without_tokens_pools_to_zeros() -> None:
    pooled = mean_pool(torch.ones(1, 3, 4), torch.zeros(1, 3, dtype=torch.long))

    assert torch.equal(pooled, torch.zeros(1, 4))


def test_mean_pool_mismatched_mask_raises_naming_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        mean_pool(torch.ones(2, 4, 8), torch.ones(2, 3))


def test_classifier_padding_tokens_do_not_change_logits() -> None:
    # Prepare
    model = make_encoder_classifier(tiny_bert(), num_classes=3, layers=2, rank=2, alpha=4, seed=0)
    ids = torch.tensor([[5, 9, 12, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])

    # Execute: other ids under the padding
    plain = model(ids, mask)
    noisy = model(torch.tensor([[5, 9, 12, 40, 41]]), mask)

    # Assert
    torch.testing.assert_close(plain, noisy)


def test_truncate_encoder_keeps_chosen_layers_in_order() -> None:
    # Prepare
    base = tiny_bert(layers=4)

    # Execute
    small = truncate_encoder(base, (0, 3))

    # Assert
    assert len(small.encoder.layer) == 2 and small.config.num_hidden_layers == 2
    for position, index in enumerate((0, 3)):
        kept, original = small.encoder.layer[position].state_dict(), base.encoder.layer[index].state_dict()
        assert all(torch.equal(kept[name], original[name]) for name in original)
    assert len(base.encoder.layer) == 4  # the base is not modified


def test_make_encoder_classifier_student_layers_spread_first_to_last() -> None:
    # Prepare
    base = tiny_bert(layers=4)

    # Execute
    student = make_encoder_classifier(base, num_classes=5, layers=2, rank=2, alpha=4, seed=0)

    # Assert: layers 0 and 3 kept, their frozen weights the base's
    layers = student.encoder.base_model.model.encoder.layer
    assert len(layers) == 2
    torch.testing.assert_close(layers[1].output.dense.weight, base.encoder.layer[3].output.dense.weight)
    torch.testing.assert_close(layers[0].output.dense.weight, base.encoder.layer[0].output.dense.weight)


def test_make_encoder_classifier_too_many_layers_raises_naming_key() -> None:
    with pytest.raises(ValueError, match="encoder-student-layers"):
        make_encoder_classifier(tiny_bert(layers=4), num_classes=5, layers=5, rank=2, alpha=4, seed=0)


def test_shared_state_holds_only_adapters_and_head() -> None:
    # Prepare
    student = make_encoder_classifier(tiny_bert(), num_classes=5, layers=2, rank=2, alpha=4, seed=0)

    # Execute
    state = shared_state(student)

    # Assert: LoRA A/B of query and value in each of 2 layers, plus the head's weight and bias
    assert {"head.weight", "head.bias"} <= set(state)
    adapters = set(state) - {"head.weight", "head.bias"}
    assert len(adapters) == 2 * 2 * 2
    assert all("lora_" in name and (".query." in name or ".value." in name) for name in adapters)
    total = sum(p.numel() for p in student.parameters())
    assert sum(t.numel() for t in state.values()) < total / 5


def test_make_encoder_classifier_same_seed_builds_equal_students() -> None:
    base = tiny_bert()

    first = shared_state(make_encoder_classifier(base, num_classes=5, layers=2, rank=2, alpha=4, seed=3))
    second = shared_state(make_encoder_classifier(base, num_classes=5, layers=2, rank=2, alpha=4, seed=3))

    assert all(torch.equal(first[name], second[name]) for name in first)


def test_load_shared_state_round_trip_changes_logits_back() -> None:
    # Prepare: two students of different seeds, B matrices non-zero so the adapters matter
    base = tiny_bert()
    source = make_encoder_classifier(base, num_classes=3, layers=2, rank=2, alpha=4, seed=1)
    with torch.no_grad():
        for name, parameter in source.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    target = make_encoder_classifier(base, num_classes=3, layers=2, rank=2, alpha=4, seed=2)
    ids, mask = torch.randint(3, 60, (2, 6)), torch.ones(2, 6, dtype=torch.long)

    # Execute
    load_shared_state(target, shared_state(source))

    # Assert
    torch.testing.assert_close(target(ids, mask), source(ids, mask))


def test_load_shared_state_wrong_names_raises_and_changes_nothing() -> None:
    # Prepare
    student = make_encoder_classifier(tiny_bert(), num_classes=3, layers=2, rank=2, alpha=4, seed=0)
    before = shared_state(student)
    state = dict(before)
    state.pop("head.bias")
    state["head.weight"] = torch.ones_like(state["head.weight"])

    # Execute / Assert
    with pytest.raises(ValueError, match="missing"):
        load_shared_state(student, state)
    assert torch.equal(shared_state(student)["head.weight"], before["head.weight"])
