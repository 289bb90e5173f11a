"""Model checkpoints as safetensors files that carry their architecture name.

Loading never unpickles anything: safetensors holds raw tensors and a string
metadata map, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from fedkd.io import atomic_path
from fedkd.models import build_model

FORMAT = "fedkd-model-1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed, or does not fit its architecture."""


def save_model(
    path: Path, model: nn.Module, *, architecture: str, input_shape: tuple[int, ...], num_classes: int
) -> None:
    """Write ``model``'s weights atomically to ``path`` with what is needed to rebuild it."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "architecture": architecture,
        "input_shape": json.dumps(list(input_shape)),
        "num_classes": str(num_classes),
    }
    with atomic_path(path) as temporary:
        save_file(tensors, temporary, metadata=metadata)


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata stored in a checkpoint."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as reader:
            return dict(reader.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is not a safetensors file: {error}") from error


def load_model(path: Path, *, architecture: str | None = None) -> tuple[nn.Module, str]:
    """Rebuild a model from a checkpoint written by :func:`save_model`.

    Parameters
    ----------
    path : pathlib.Path
        The ``.safetensors`` file.
    architecture : str, optional
        Overrides (or supplies, for a checkpoint written elsewhere) the
        architecture name; ``input_shape`` and ``num_classes`` must then be in
        the file's metadata.

    Returns
    -------
    tuple of (torch.nn.Module, str)
        The model with its weights loaded, and its architecture name.

    Raises
    ------
    CheckpointError
        Naming the file and what does not fit.
    """
    metadata = read_metadata(path)
    name = architecture or metadata.get("architecture")
    if not name:
        raise CheckpointError(f"checkpoint {path} names no architecture; pass one explicitly")
    try:
        input_shape = tuple(int(v) for v in json.loads(metadata["input_shape"]))
        num_classes = int(metadata["num_classes"])
        model = build_model(name, input_shape=input_shape, num_classes=num_classes)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} metadata {metadata} cannot build a model: {error}") from error
    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt") as reader:
        for key in reader.keys():
            tensors[key] = reader.get_tensor(key)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"checkpoint {path} does not fit {name!r}: missing {missing}, unexpected {extra}")
    for key, tensor in tensors.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(
                f"checkpoint {path} tensor {key!r} has shape {tuple(tensor.shape)}, "
                f"{name!r} needs {tuple(expected[key].shape)}"
            )
    model.load_state_dict(tensors)
    return model, name
