"""The public-pool teacher: one recipe, one cache entry per machine, reused by every run and site."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import fedkd.pretraining
from fedkd.checkpoint import load_model
from fedkd.config import FedKDConfig
from fedkd.pretraining import cached_pretrained, pretrain_key, pretrain_recipe, pretrain_teacher, pretrained_path

TINY = {"teacher-pretrain-samples": 200, "teacher-pretrain-epochs": 1}


def test_pretrain_recipe_ignores_the_run_seed_and_cache_dir_so_every_run_shares_one_teacher() -> None:
    first = pretrain_recipe(FedKDConfig.from_mapping({"seed": 0}))
    second = pretrain_recipe(FedKDConfig.from_mapping({"seed": 7, "cache-dir": "/elsewhere"}))

    assert first is not None and first == second and pretrain_key(first) == pretrain_key(second)


@pytest.mark.parametrize("field, value", [("samples", 1000), ("epochs", 3), ("learning_rate", 0.1),
                                          ("architecture", "mlp"), ("pool_seed", 1), ("batch_size", 64)])
def test_pretrain_key_changes_with_every_recipe_field(field: str, value: object) -> None:
    recipe = pretrain_recipe(FedKDConfig())
    assert recipe is not None

    changed = dataclasses.replace(recipe, **{field: value})

    assert pretrain_key(changed) != pretrain_key(recipe)


@pytest.mark.parametrize("values", [{"teacher-pretraining": "none"}, {"teacher-dp": True},
                                    {"dataset": "fashion-mnist", "teacher": "cnn-small"}])
def test_pretrain_recipe_is_none_where_sites_train_on_their_shard(values: dict[str, object]) -> None:
    assert pretrain_recipe(FedKDConfig.from_mapping(values)) is None


def test_pretrain_teacher_second_call_reuses_the_cached_teacher_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    recipe = pretrain_recipe(FedKDConfig.from_mapping(TINY))
    assert recipe is not None

    # Execute: pretrain once, then again with training made impossible.
    path = pretrain_teacher(recipe, cache_dir=tmp_path, device=torch.device("cpu"))
    written = path.read_bytes()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached public-pool teacher was trained again")

    monkeypatch.setattr(fedkd.pretraining, "distill", no_training)
    again = pretrain_teacher(recipe, cache_dir=tmp_path, device=torch.device("cpu"))

    # Assert: one file at the recipe's key, unchanged, with its test accuracy recorded.
    assert path == again == pretrained_path(recipe, tmp_path) and again.read_bytes() == written
    info = cached_pretrained(recipe, tmp_path)
    assert info is not None and 0.0 <= float(str(info["test_accuracy"])) <= 1.0
    assert load_model(path)[1] == "cnn1d"


def test_pretrain_teacher_corrupt_cache_entry_is_removed_and_rebuilt(tmp_path: Path) -> None:
    recipe = pretrain_recipe(FedKDConfig.from_mapping(TINY))
    assert recipe is not None
    path = pretrained_path(recipe, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a safetensors file")
    path.with_suffix(".json").write_text("{}")

    rebuilt = pretrain_teacher(recipe, cache_dir=tmp_path, device=torch.device("cpu"))

    assert load_model(rebuilt)[1] == "cnn1d" and cached_pretrained(recipe, tmp_path) is not None
