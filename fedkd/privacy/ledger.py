"""The privacy ledger: the composed DP-SGD history of one site's data, and its epsilon.

A :class:`PrivacyLedger` is the history of ``(sigma, q, steps)`` of every DP-SGD run
on one site's data. Its epsilon is recomputed from the whole history by a fresh
Opacus accountant (RDP or PRV), so it composes across rounds, and its state is
plain data, so it can be stored on the site's disk and survive restarts. Anyone
holding the history can recompute the figure. Opacus is imported only when an
epsilon is computed, so the names here can be read without it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedkd.io import write_atomic
from fedkd.privacy.opacus_logging import drop_opacus_root_handler

if TYPE_CHECKING:
    from opacus.accountants import IAccountant

# Names of Opacus accountants (``opacus.accountants.create_accountant``) a ledger may use.
ACCOUNTANTS = ("rdp", "prv")


def _accountant(name: str) -> IAccountant:
    """A fresh accountant from Opacus' own factory."""
    if name not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {', '.join(ACCOUNTANTS)}, got {name!r}")
    from opacus.accountants import create_accountant

    drop_opacus_root_handler()
    return create_accountant(name)


@dataclass
class PrivacyLedger:
    """The composed DP-SGD history of one site's data.

    Attributes
    ----------
    accountant : {"rdp", "prv"}
        Which Opacus accountant turns the history into an epsilon.
    history : list of [float, float, int]
        ``(noise_multiplier, sample_rate, steps)`` entries, in order.
    noise_multiplier : float or None
        A noise level calibrated once for the whole run (target-epsilon mode).
    noise_run : int or None
        The run ``noise_multiplier`` was calibrated for: a ledger that outlives runs
        calibrates afresh for each.
    """

    accountant: str = "rdp"
    history: list[tuple[float, float, int]] = field(default_factory=list)
    noise_multiplier: float | None = None
    noise_run: int | None = None

    def __post_init__(self) -> None:
        _accountant(self.accountant)

    @property
    def steps(self) -> int:
        """Total DP-SGD steps taken."""
        return sum(entry[2] for entry in self.history)

    def record(self, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Add ``steps`` steps of DP-SGD at ``(noise_multiplier, sample_rate)``."""
        if steps <= 0:
            return
        if self.history and self.history[-1][:2] == (noise_multiplier, sample_rate):
            last = self.history.pop()
            steps += last[2]
        self.history.append((noise_multiplier, sample_rate, steps))

    def epsilon(self, delta: float, extra: list[tuple[float, float, int]] | None = None) -> float:
        """Epsilon of the whole history (plus ``extra`` entries) at ``delta``; inf without noise."""
        history = self.history + (extra or [])
        if not history:
            return 0.0
        if any(sigma == 0 for sigma, _, _ in history):
            return math.inf
        accountant = _accountant(self.accountant)
        accountant.history = [tuple(entry) for entry in history]
        return float(accountant.get_epsilon(delta=delta))

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"accountant", "history", "noise_multiplier", "noise_run"}``."""
        return {"accountant": self.accountant, "history": [list(h) for h in self.history],
                "noise_multiplier": self.noise_multiplier, "noise_run": self.noise_run}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_dict` output, validating it."""
        try:
            history = [(float(s), float(q), int(n)) for s, q, n in state["history"]]
            sigma, run = state.get("noise_multiplier"), state.get("noise_run")
            return cls(str(state["accountant"]), history, None if sigma is None else float(sigma),
                       None if run is None else int(run))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a privacy ledger: {state!r} ({error})") from error

    def save(self, path: Path) -> None:
        """Write the ledger atomically as JSON."""
        write_atomic(path, json.dumps(self.to_dict(), indent=2).encode())

    @classmethod
    def load(cls, path: Path, accountant: str) -> PrivacyLedger:
        """Read a ledger, or start an empty one if ``path`` does not exist."""
        if not path.is_file():
            return cls(accountant)
        try:
            ledger = cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"privacy ledger {path} is not valid JSON: {error}") from error
        if ledger.accountant != accountant:
            raise ValueError(f"privacy ledger {path} uses accountant {ledger.accountant!r}, config asks {accountant!r}")
        return ledger


def sample_rate(batch_size: int, num_examples: int) -> float:
    """Poisson sampling rate ``q = batch_size / n`` (at most 1)."""
    if num_examples <= 0:
        raise ValueError("a site with no training examples cannot train")
    return min(1.0, batch_size / num_examples)


def steps_per_epoch(batch_size: int, num_examples: int) -> int:
    """Number of Poisson-sampled steps that make one epoch in expectation."""
    return max(1, round(1 / sample_rate(batch_size, num_examples)))


def calibrate_noise(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str,
    prior: tuple[tuple[float, float, int], ...] = (),
) -> float:
    """The smallest noise multiplier (to 1%) whose ``steps`` steps, composed after
    ``prior`` history, stay within ``target_epsilon`` at ``delta``.

    Without prior history this is Opacus' ``get_noise_multiplier``; with one (e.g. a
    DP-trained teacher on the same data) it bisects on the composed epsilon.

    Raises
    ------
    ValueError
        If the prior history alone already spends the target.
    """
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon must be > 0, got {target_epsilon}")
    if not prior:
        from opacus.accountants.utils import get_noise_multiplier

        drop_opacus_root_handler()
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                          steps=steps, accountant=accountant))
    ledger = PrivacyLedger(accountant, list(prior))
    if ledger.epsilon(delta) >= target_epsilon:
        raise ValueError(f"the prior DP history already spends epsilon {ledger.epsilon(delta):.3f} "
                         f">= target {target_epsilon}")

    def spent(sigma: float) -> float:
        return ledger.epsilon(delta, extra=[(sigma, sample_rate, steps)])

    low, high = 0.01, 1.0
    while spent(high) > target_epsilon:
        low, high = high, high * 2
        if high > 1e4:
            raise ValueError(f"no noise multiplier reaches epsilon {target_epsilon}")
    while high - low > 0.01 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if spent(middle) > target_epsilon else (low, middle)
    return high
