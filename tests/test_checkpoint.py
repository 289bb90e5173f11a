"""Safetensors checkpoints: exact round trips, and refusals that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedkd.checkpoint import CheckpointError, load_model, save_model
from fedkd.models import INPUT_RANKS, MODELS, build_model

SHAPES = {1: (40,), 2: (28, 28)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_restores_identical_weights_and_outputs(tmp_path: Path, name: str) -> None:
    shape = SHAPES[INPUT_RANKS[name][0]]
    model = build_model(name, input_shape=shape, num_classes=10)
    path = tmp_path / f"{name}.safetensors"

    save_model(path, model, architecture=name, input_shape=shape, num_classes=10)
    loaded, architecture = load_model(path)

    assert architecture == name
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[key])
    x = torch.randn(3, *shape)
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    assert not list(tmp_path.glob("*.part"))


def test_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="missing.safetensors does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_garbage_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00\x01not a checkpoint" * 10)

    with pytest.raises(CheckpointError, match="garbage.safetensors is not a safetensors file"):
        load_model(path)


def test_pickle_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pt"
    torch.save(build_model("mlp", input_shape=(40,), num_classes=10).state_dict(), path)

    with pytest.raises(CheckpointError, match="teacher.pt is not a safetensors file"):
        load_model(path)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "mlp.safetensors"
    save_model(path, build_model("mlp", input_shape=(40,), num_classes=10), architecture="mlp",
               input_shape=(40,), num_classes=10)

    with pytest.raises(CheckpointError, match="mlp.safetensors does not fit 'cnn1d'"):
        load_model(path, architecture="cnn1d")
