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

from fedkd.finite import NonFiniteError, require_finite
from fedkd.io import atomic_path
from fedkd.limits import DEFAULT_MAX_CHECKPOINT_BYTES, FileLimitError, regular_file_size
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


def read_metadata(path: Path, *, max_bytes: int = DEFAULT_MAX_CHECKPOINT_BYTES) -> dict[str, str]:
    """The string metadata stored in a checkpoint, read from its header only.

    The file is measured first: a non-regular file (``/dev/zero``) or one over
    ``max_bytes`` is refused unread.
    """
    try:
        regular_file_size(path, max_bytes=max_bytes, what="checkpoint", limit_key="max-checkpoint-bytes")
    except (FileNotFoundError, FileLimitError) as error:
        raise CheckpointError(str(error)) from None
    try:
        with safe_open(str(path), framework="pt") as reader:
            return dict(reader.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is not a safetensors file: {error}") from error


def _dimensions(path: Path, metadata: dict[str, str], expected: tuple[tuple[int, ...], int] | None
                ) -> tuple[tuple[int, ...], int]:
    """Input shape and class count: from the metadata, checked against ``expected``, else ``expected``."""
    if "input_shape" not in metadata or "num_classes" not in metadata:
        if expected is None:
            raise CheckpointError(f"checkpoint {path} metadata {metadata} lacks 'input_shape' and 'num_classes'; "
                                  "they cannot be inferred without the dataset")
        return expected
    try:
        shape = tuple(json.loads(metadata["input_shape"]))
        num_classes = int(metadata["num_classes"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} metadata {metadata} cannot build a model: {error}") from error
    if not all(isinstance(v, int) and v > 0 for v in shape) or num_classes < 1:
        raise CheckpointError(f"checkpoint {path} metadata input_shape={metadata['input_shape']} "
                              f"num_classes={metadata['num_classes']} are not positive integers")
    if expected is not None and (shape, num_classes) != expected:
        raise CheckpointError(
            f"checkpoint {path} is for inputs {shape} and {num_classes} classes; "
            f"this task needs inputs {expected[0]} and {expected[1]} classes"
        )
    return shape, num_classes


def _read_tensors(path: Path, name: str, expected_shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The tensors of ``path``, after their names and shapes (from the header) match ``expected_shapes``."""
    with safe_open(str(path), framework="pt") as reader:
        shapes = {key: tuple(reader.get_slice(key).get_shape()) for key in reader.keys()}
        if set(shapes) != set(expected_shapes):
            missing, extra = sorted(set(expected_shapes) - set(shapes)), sorted(set(shapes) - set(expected_shapes))
            raise CheckpointError(f"checkpoint {path} does not fit {name!r}: missing {missing}, unexpected {extra}")
        for key, shape in shapes.items():
            if shape != expected_shapes[key]:
                raise CheckpointError(
                    f"checkpoint {path} tensor {key!r} has shape {shape}, {name!r} needs {expected_shapes[key]}"
                )
        return {key: reader.get_tensor(key) for key in shapes}


def load_model(path: Path, *, architecture: str | None = None, expected: tuple[tuple[int, ...], int] | None = None,
               max_bytes: int = DEFAULT_MAX_CHECKPOINT_BYTES) -> tuple[nn.Module, str]:
    """Rebuild a model from a checkpoint written by :func:`save_model`.

    Nothing is allocated before the file has been checked: its size (``max_bytes``),
    its dimensions against ``expected``, and its tensor names and shapes (read from
    the header) against the architecture built on PyTorch's ``meta`` device. Tensors
    holding ``nan`` or ``inf`` are refused.

    Parameters
    ----------
    path : pathlib.Path
        The ``.safetensors`` file.
    architecture : str, optional
        Overrides (or supplies, for a checkpoint written elsewhere) the
        architecture name.
    expected : tuple of (tuple of int, int), optional
        The task's input shape and class count: the checkpoint's metadata must
        match them, and a checkpoint without those metadata takes them.
    max_bytes : int
        The largest file accepted (a site's node-config ``max-checkpoint-bytes``).

    Returns
    -------
    tuple of (torch.nn.Module, str)
        The model with its weights loaded, and its architecture name.

    Raises
    ------
    CheckpointError
        Naming the file and what does not fit.
    """
    metadata = read_metadata(path, max_bytes=max_bytes)
    name = architecture or metadata.get("architecture")
    if not name:
        raise CheckpointError(f"checkpoint {path} names no architecture; pass one explicitly")
    input_shape, num_classes = _dimensions(path, metadata, expected)
    try:
        with torch.device("meta"):
            skeleton = build_model(name, input_shape=input_shape, num_classes=num_classes)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} metadata {metadata} cannot build a model: {error}") from error
    expected_shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    try:
        tensors = _read_tensors(path, name, expected_shapes)
    except SafetensorError as error:
        raise CheckpointError(f"checkpoint {path} is not a whole safetensors file: {error}") from error
    try:
        require_finite(f"checkpoint {path}", tensors)
    except NonFiniteError as error:
        raise CheckpointError(str(error)) from None
    model = build_model(name, input_shape=input_shape, num_classes=num_classes)
    model.load_state_dict(tensors)
    return model, name
