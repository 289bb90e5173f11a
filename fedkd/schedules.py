"""Schedules of a hyperparameter over federated rounds (temperature, alpha)."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cosine")


def scheduled_value(kind: str, *, start: float, final: float, server_round: int, num_rounds: int) -> float:
    """The value in round ``server_round`` (1-based) of ``num_rounds``.

    ``constant`` stays at ``start``; ``linear`` and ``cosine`` go from ``start`` in
    round 1 to ``final`` in the last round (cosine annealing: slow at both ends,
    as in Loshchilov and Hutter's SGDR). Rounds outside ``[1, num_rounds]`` take
    the nearest end.

    Raises
    ------
    ValueError
        For an unknown kind or ``num_rounds < 1``.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule {kind!r} is not known; choose one of {', '.join(SCHEDULES)}")
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be >= 1, got {num_rounds}")
    if kind == "constant" or num_rounds == 1:
        return start
    progress = min(max((server_round - 1) / (num_rounds - 1), 0.0), 1.0)
    if kind == "linear":
        return start + (final - start) * progress
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
