"""Choosing the device a model runs on."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """Turn a config value into a device.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.

    Raises
    ------
    ValueError
        If CUDA is asked for but not available, or the name is not a device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a torch device") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    return device
