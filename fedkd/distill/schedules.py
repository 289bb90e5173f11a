"""Schedules of a hyperparameter over federated rounds, and each round's scheduled temperature and alpha."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fedkd.config import FedKDConfig

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


# Message keys of one round's scheduled values: the run config keeps each schedule's start under its own key.
ROUND_TEMPERATURE_KEY = "round-kd-temperature"
ROUND_ALPHA_KEY = "round-kd-alpha"


@dataclass(frozen=True)
class RoundValues:
    """The distillation temperature and alpha of one round, as scheduled from the run config."""

    kd_temperature: float
    kd_alpha: float

    def to_record(self) -> dict[str, float]:
        """The values under their message keys."""
        return {ROUND_TEMPERATURE_KEY: self.kd_temperature, ROUND_ALPHA_KEY: self.kd_alpha}

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> RoundValues:
        """Read the values a round's train message carries.

        Raises
        ------
        ValueError
            If a key is missing or not a number.
        """
        values = []
        for key in (ROUND_TEMPERATURE_KEY, ROUND_ALPHA_KEY):
            value = record.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"the round's config has no number under {key!r} (got {value!r})")
            values.append(float(value))
        return cls(kd_temperature=values[0], kd_alpha=values[1])


def round_values(config: FedKDConfig, server_round: int) -> RoundValues:
    """The scheduled ``kd-temperature`` and ``kd-alpha`` of ``server_round``: the one place they are computed."""
    rounds = config.num_server_rounds
    return RoundValues(
        kd_temperature=scheduled_value(config.kd_temperature_schedule, start=config.kd_temperature,
                                       final=config.kd_temperature_final, server_round=server_round,
                                       num_rounds=rounds),
        kd_alpha=scheduled_value(config.kd_alpha_schedule, start=config.kd_alpha, final=config.kd_alpha_final,
                                 server_round=server_round, num_rounds=rounds),
    )
