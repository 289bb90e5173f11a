"""The site teacher: fine-tuned once, cached as adapters and head, loaded frozen from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import fedkd.encoder.teacher as teacher_module
from fedkd.encoder.teacher import EncoderTeacherRecipe, load_encoder_teacher, teacher_path
from fedkd.encoder.text import EncodedTexts, encode_texts
from fedkd.encoder.training import predict_logits
from tests.encoder.tiny import WordTokenizer, tiny_bert
from tests.optional_data import needs_llm

pytestmark = needs_llm

RECIPE = EncoderTeacherRecipe(steps=3, learning_rate=0.01, batch_size=4, rank=2, alpha=4)


def _data() -> EncodedTexts:
    texts = ["alpha beta gamma", "delta epsilon", "alpha alpha beta", "zeta eta theta iota", "beta gamma"] * 2
    return encode_texts(WordTokenizer(), texts, [0, 1, 0, 2, 1] * 2, max_tokens=8)


def test_load_encoder_teacher_second_call_loads_cache_without_training(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    base, data = tiny_bert(), _data()
    first, first_cached = load_encoder_teacher(base, data, RECIPE, num_classes=3, cache_dir=tmp_path,
                                               base_name="tiny")

    def no_training(*args: object, **kwargs: object) -> list[float]:
        raise AssertionError("a cached teacher must not train again")

    monkeypatch.setattr(teacher_module, "train_steps", no_training)

    # Execute
    second, second_cached = load_encoder_teacher(base, data, RECIPE, num_classes=3, cache_dir=tmp_path,
                                                 base_name="tiny")

    # Assert
    assert (first_cached, second_cached) == (False, True)
    torch.testing.assert_close(predict_logits(second, data), predict_logits(first, data))
    assert not any(p.requires_grad for p in second.parameters()) and not second.training


def test_load_encoder_teacher_cache_file_holds_adapters_and_head_only(tmp_path: Path) -> None:
    # Prepare
    base, data = tiny_bert(), _data()

    # Execute
    load_encoder_teacher(base, data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")

    # Assert
    stored = load_file(str(teacher_path(data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")))
    assert {"head.weight", "head.bias"} <= set(stored)
    assert all("lora_" in name for name in set(stored) - {"head.weight", "head.bias"})


def test_load_encoder_teacher_fine_tuning_changes_the_head(tmp_path: Path) -> None:
    # Prepare: the untrained teacher of the same seed
    from fedkd.encoder.model import make_encoder_classifier, shared_state

    base, data = tiny_bert(), _data()
    untrained = shared_state(make_encoder_classifier(base, num_classes=3, layers=0, rank=2, alpha=4, seed=0))

    # Execute
    teacher, _ = load_encoder_teacher(base, data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")

    # Assert
    assert not torch.equal(teacher.head.weight.detach(), untrained["head.weight"])


def test_teacher_path_other_labels_other_file(tmp_path: Path) -> None:
    data = _data()
    relabelled = EncodedTexts(data.input_ids, data.attention_mask, torch.zeros_like(data.labels))

    first = teacher_path(data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")
    second = teacher_path(relabelled, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")

    assert first != second


def test_load_encoder_teacher_cache_of_another_shape_raises_naming_file(tmp_path: Path) -> None:
    # Prepare: a teacher cached with 3 classes, its file copied where the 4-class teacher would be
    base, data = tiny_bert(), _data()
    load_encoder_teacher(base, data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")
    source = teacher_path(data, RECIPE, num_classes=3, cache_dir=tmp_path, base_name="tiny")
    target = teacher_path(data, RECIPE, num_classes=4, cache_dir=tmp_path, base_name="tiny")
    target.write_bytes(source.read_bytes())

    # Execute / Assert
    with pytest.raises(ValueError, match="delete it"):
        load_encoder_teacher(base, data, RECIPE, num_classes=4, cache_dir=tmp_path, base_name="tiny")
