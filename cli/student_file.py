"""Load a saved student for a command, turning every way it can be wrong into one line."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from fedkd.checkpoint import CheckpointError, load_model, read_metadata


class CommandError(ValueError):
    """A command cannot do its work; the message is one line for the person."""


def load_student(path: Path) -> tuple[nn.Module, tuple[int, ...], int]:
    """The model in ``path`` (a ``student.safetensors`` of a run), its input shape and class count.

    Raises
    ------
    CommandError
        If the file is missing or not a fedkd checkpoint.
    """
    try:
        model, _ = load_model(path)
        metadata = read_metadata(path)
        shape = tuple(int(v) for v in json.loads(metadata["input_shape"]))
        return model.cpu().eval(), shape, int(metadata["num_classes"])
    except (CheckpointError, KeyError, ValueError) as error:
        raise CommandError(f"--student {path}: {error}") from error
