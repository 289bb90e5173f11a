"""Refuse non-finite numbers: one NaN in a site's data or a student's weights poisons a whole federation.

FedAvg is a weighted sum, so a single ``nan`` or ``inf`` from one site spreads to
every weight of the global student. Every door a number comes in by (site data,
teacher checkpoints, a site's reply, the run config) checks with these helpers and
names what it found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt
import torch


class NonFiniteError(ValueError):
    """An array or value holds ``nan`` or ``inf``."""


def describe_non_finite(name: str, values: npt.NDArray[np.generic] | torch.Tensor) -> str | None:
    """A sentence naming the non-finite entries of ``values`` (count, first value and index), or ``None``."""
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating)):
        return None
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    index = first[0] if len(first) == 1 else first
    return (f"{name} holds {int(bad.sum())} non-finite value(s) of {array.size} "
            f"(first: {array[first].item()!r} at index {index})")


def first_non_finite(arrays: Mapping[str, npt.NDArray[np.generic] | torch.Tensor]) -> str | None:
    """:func:`describe_non_finite` of the first array in ``arrays`` that has non-finite entries."""
    for name, values in arrays.items():
        reason = describe_non_finite(name, values)
        if reason is not None:
            return reason
    return None


def non_finite_scalars(values: Iterable[tuple[str, object]]) -> str | None:
    """Name the first float (or list of floats) among ``(key, value)`` pairs that is ``nan`` or ``inf``."""
    for key, value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, float) and not np.isfinite(item):
                return f"{key}={item!r} is not a finite number"
    return None


def require_finite(where: str, arrays: Mapping[str, npt.NDArray[np.generic] | torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` naming ``where`` and the first array with a non-finite entry."""
    reason = first_non_finite(arrays)
    if reason is not None:
        raise NonFiniteError(f"{where}: {reason}")
