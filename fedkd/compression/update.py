"""A model update (a state dict of tensors) through one codec, with optional error feedback.

The encoded update is a flat mapping ``"<tensor name>::<part>" -> tensor``, ready to
travel as one record. Non-float tensors (counters, indices) travel raw.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fedkd.compression.codec import RAW, Codec, Parts

SEPARATOR = "::"


def encode_update(
    update: Mapping[str, torch.Tensor],
    codec: Codec,
    *,
    residual: Mapping[str, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Encode every tensor of ``update``.

    Parameters
    ----------
    update : mapping of str to torch.Tensor
        The update, tensor by tensor.
    codec : Codec
        How each float tensor is encoded.
    residual : mapping, optional
        Error feedback: what earlier encodings dropped, added to ``update`` before
        encoding. ``None`` turns error feedback off.
    generator : torch.Generator, optional
        Randomness of stochastic codecs.

    Returns
    -------
    tuple of (dict, dict)
        The encoded parts under ``"<name>::<part>"`` keys, and the new residual
        (``update + residual - decoded``; empty without error feedback).
    """
    encoded: dict[str, torch.Tensor] = {}
    remainder: dict[str, torch.Tensor] = {}
    for name, tensor in update.items():
        if SEPARATOR in name:
            raise ValueError(f"tensor name {name!r} may not contain {SEPARATOR!r}")
        value = tensor.detach().cpu()
        if not value.is_floating_point():
            parts: Parts = {RAW: value}
        else:
            value = value.to(torch.float32)
            if residual is not None and name in residual:
                value = value + residual[name]
            parts = codec.encode(value, generator=generator)
            if residual is not None:
                remainder[name] = value - codec.decode(parts)
        encoded.update({f"{name}{SEPARATOR}{part}": data for part, data in parts.items()})
    return encoded, remainder


def decode_update(encoded: Mapping[str, torch.Tensor], codec: Codec) -> dict[str, torch.Tensor]:
    """The update an :func:`encode_update` result represents, in the order its tensors were encoded.

    Raises
    ------
    ValueError
        For a key without the ``"<name>::<part>"`` form.
    """
    grouped: dict[str, Parts] = {}
    for key, tensor in encoded.items():
        name, separator, part = key.rpartition(SEPARATOR)
        if not separator or not name:
            raise ValueError(f"encoded key {key!r} is not of the form '<name>{SEPARATOR}<part>'")
        grouped.setdefault(name, {})[part] = tensor
    return {name: parts[RAW] if set(parts) == {RAW} else codec.decode(parts) for name, parts in grouped.items()}
