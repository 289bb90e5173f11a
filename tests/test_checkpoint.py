"""Safetensors checkpoints: exact round trips, and refusals that name the file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fedkd.checkpoint import CheckpointError, load_model, read_metadata, save_model
from fedkd.models import INPUT_RANKS, MODELS, build_model

SHAPES = {1: (40,), 2: (28, 28)}


def _save_mlp(path: Path, input_shape: tuple[int, ...] = (40,)) -> torch.nn.Module:
    model = build_model("mlp", input_shape=input_shape, num_classes=10)
    save_model(path, model, architecture="mlp", input_shape=input_shape, num_classes=10)
    return model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_then_load_model_restores_identical_weights_and_outputs(tmp_path: Path, name: str) -> None:
    # Prepare: a model whose weights are not the defaults of a fresh build.
    shape = SHAPES[INPUT_RANKS[name][0]]
    torch.manual_seed(0)
    model = build_model(name, input_shape=shape, num_classes=7)
    path = tmp_path / "sub" / f"{name}.safetensors"

    # Execute
    save_model(path, model, architecture=name, input_shape=shape, num_classes=7)
    torch.manual_seed(1)  # a differently initialised model is built inside load_model
    loaded, architecture = load_model(path)

    # Assert
    assert architecture == name and type(loaded) is type(model)
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(original)
    for key, tensor in original.items():
        assert torch.equal(tensor, restored[key]), key
    x = torch.randn(3, *shape)
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    assert read_metadata(path)["architecture"] == name
    assert json.loads(read_metadata(path)["input_shape"]) == list(shape)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_load_model_missing_file_raises_checkpoint_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.safetensors"

    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} does not exist"):
        load_model(path)


@pytest.mark.parametrize("content", [b"\x00\x01not a checkpoint" * 10, b"", b"\xff" * 8 + b"{}"])
def test_load_model_garbage_file_raises_checkpoint_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(content)

    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} is not a safetensors file"):
        load_model(path)


class _Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_load_model_pickle_file_raises_checkpoint_error_and_is_never_unpickled(tmp_path: Path) -> None:
    # Prepare: a torch.save'd file that runs code when unpickled.
    marker = tmp_path / "code-ran"
    path = tmp_path / "teacher.pt"
    torch.save({"weights": build_model("mlp", input_shape=(40,), num_classes=10).state_dict(),
                "payload": _Payload(marker)}, path)

    # Execute / Assert: refused by name, and nothing ran.
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} is not a safetensors file"):
        load_model(path)
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} is not a safetensors file"):
        load_model(path, architecture="mlp")
    assert not marker.exists()
    # The payload is live: unpickling the same file does run it.
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_load_model_other_architecture_raises_checkpoint_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mlp.safetensors"
    _save_mlp(path)

    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} does not fit 'cnn1d': missing "):
        load_model(path, architecture="cnn1d")


def test_load_model_tensor_of_wrong_shape_raises_checkpoint_error_naming_the_file(tmp_path: Path) -> None:
    # Same names as an MLP for 40 inputs, but the first layer was made for 28x28 images.
    path = tmp_path / "mixed.safetensors"
    image_mlp = build_model("mlp", input_shape=(28, 28), num_classes=10)
    metadata = {"format": "fedkd-model-1", "architecture": "mlp", "input_shape": "[40]", "num_classes": "10"}
    save_file({k: v.contiguous() for k, v in image_mlp.state_dict().items()}, str(path), metadata=metadata)

    message = rf"checkpoint {re.escape(str(path))} tensor 'net.1.weight' has shape \(100, 784\)"
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_load_model_missing_tensor_raises_checkpoint_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "partial.safetensors"
    state = build_model("mlp", input_shape=(40,), num_classes=10).state_dict()
    del state["net.5.bias"]
    metadata = {"format": "fedkd-model-1", "architecture": "mlp", "input_shape": "[40]", "num_classes": "10"}
    save_file(state, str(path), metadata=metadata)

    message = rf"checkpoint {re.escape(str(path))} does not fit 'mlp': missing \['net.5.bias'\]"
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


@pytest.mark.parametrize("metadata", [{}, {"architecture": "mlp"}, {"architecture": "mlp", "input_shape": "[40]"}])
def test_load_model_incomplete_metadata_raises_checkpoint_error_naming_the_file(
    tmp_path: Path, metadata: dict[str, str]
) -> None:
    path = tmp_path / "bare.safetensors"
    save_file(build_model("mlp", input_shape=(40,), num_classes=10).state_dict(), str(path), metadata=metadata)

    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(path))} "):
        load_model(path)


def test_save_model_failed_replace_keeps_the_old_checkpoint_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    old = _save_mlp(path)

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _save_mlp(path)
    monkeypatch.undo()

    loaded, _ = load_model(path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in old.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_load_model_metadata_of_four_terabytes_is_refused_from_the_header_before_building(tmp_path: Path) -> None:
    # Prepare: an mlp for (40,) inputs whose metadata claims (100000, 100000): a real build would take 4 TB.
    path = tmp_path / "huge.safetensors"
    tensors = {k: v.contiguous() for k, v in build_model("mlp", input_shape=(40,), num_classes=10).state_dict().items()}
    save_file(tensors, path, metadata={"architecture": "mlp", "input_shape": "[100000, 100000]", "num_classes": "10"})

    # Execute / Assert: the skeleton on the meta device costs nothing; the header's shapes refuse it.
    with pytest.raises(CheckpointError, match=r"tensor 'net.1.weight' has shape \(100, 40\), 'mlp' needs "
                                              r"\(100, 10000000000\)"):
        load_model(path)


def test_load_model_without_dimensions_takes_the_expected_ones(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    path = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)

    loaded, name = load_model(path, architecture="mlp", expected=((40,), 10))

    assert name == "mlp"
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    with pytest.raises(CheckpointError, match="lacks 'input_shape' and 'num_classes'"):
        load_model(path, architecture="mlp")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_load_model_non_finite_weight_is_refused_naming_it(tmp_path: Path, value: float) -> None:
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    with torch.no_grad():
        model.state_dict()["net.1.bias"][7] = value
    path = tmp_path / "poisoned.safetensors"
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)

    with pytest.raises(CheckpointError, match=re.escape(f"net.1.bias holds 1 non-finite value(s) of 100 (first: "
                                                        f"{value!r} at index 7)")):
        load_model(path)


def test_read_metadata_device_or_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    _save_mlp(path)

    with pytest.raises(CheckpointError, match="/dev/zero is not a regular file"):
        read_metadata(Path("/dev/zero"))
    with pytest.raises(CheckpointError, match=r"over this site's limit of 100 \(node-config max-checkpoint-bytes\)"):
        read_metadata(path, max_bytes=100)
