"""Local differential privacy: DP-SGD on a site's training, and the ledger that accounts for it.

DP-SGD (Abadi et al., 2016): every step samples each record independently with
probability ``q`` (Poisson sampling), clips each record's gradient to norm ``C``,
sums, adds Gaussian noise of standard deviation ``sigma * C`` and averages over the
expected batch size. Per-sample gradients come from Opacus.

A :class:`PrivacyLedger` is the history of ``(sigma, q, steps)`` of every DP-SGD run
on one site's data. Its epsilon is recomputed from the whole history by a fresh
Opacus accountant (RDP or PRV), so it composes across rounds, and its state is
plain data, so it can be stored on the site's disk and survive restarts. Anyone
holding the history can recompute the figure.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.grad_sample import GradSampleModule, GradSampleModuleFastGradientClipping
from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from opacus.validators import ModuleValidator
from torch import nn

from fedkd.config import DP_ACCOUNTANTS, GRAD_SAMPLE_MODES
from fedkd.data.arrays import ArrayDataset
from fedkd.objective import LogitKnowledge, sample_losses
from fedkd.results import write_atomic
from fedkd.train import OptimizerSettings, TrainStats, as_tensors

# Opacus calls logging.basicConfig() when imported; the root handler it adds would
# print every log line of the host application (Flower's among them) a second time.
for _handler in list(logging.getLogger().handlers):
    if getattr(_handler.formatter, "_fmt", None) == "%(asctime)s:%(levelname)s:%(message)s":
        logging.getLogger().removeHandler(_handler)

# What a site's reported epsilon covers, by the code sites report it with.
PRIVACY_SCOPES: dict[int, str] = {
    0: "no DP: no privacy guarantee",
    1: "the student's DP-SGD only: it does NOT cover the teacher's influence "
    "(the teacher saw this site's records without DP, and every soft label depends on them)",
    2: "the student's and the teacher's DP-SGD on this site's records, composed into one figure",
    3: "the student's DP-SGD; the teacher is declared trained on non-sensitive data",
}


@dataclass(frozen=True)
class DPSettings:
    """DP-SGD parameters of one training run.

    Attributes
    ----------
    noise_multiplier : float
        ``sigma``: noise standard deviation over the clipping norm (>= 0).
    max_grad_norm : float
        ``C``: per-sample gradient clipping norm (> 0).
    grad_sample_mode : {"hooks", "functorch", "ghost"}
        How Opacus computes per-sample gradients (or, for ghost clipping, their norms).
    """

    noise_multiplier: float
    max_grad_norm: float
    grad_sample_mode: str = "hooks"

    def __post_init__(self) -> None:
        if not self.noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {self.noise_multiplier}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.grad_sample_mode not in GRAD_SAMPLE_MODES:
            raise ValueError(f"grad_sample_mode must be one of {GRAD_SAMPLE_MODES}, got {self.grad_sample_mode!r}")


def _accountant(name: str) -> RDPAccountant | PRVAccountant:
    if name == "rdp":
        return RDPAccountant()
    if name == "prv":
        return PRVAccountant()
    raise ValueError(f"accountant must be one of {DP_ACCOUNTANTS}, got {name!r}")


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
    """

    accountant: str = "rdp"
    history: list[tuple[float, float, int]] = field(default_factory=list)
    noise_multiplier: float | None = None

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
        """Plain data: ``{"accountant", "history", "noise_multiplier"}``."""
        return {"accountant": self.accountant, "history": [list(h) for h in self.history],
                "noise_multiplier": self.noise_multiplier}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_dict` output, validating it."""
        try:
            history = [(float(s), float(q), int(n)) for s, q, n in state["history"]]
            sigma = state.get("noise_multiplier")
            return cls(str(state["accountant"]), history, None if sigma is None else float(sigma))
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


def make_private_module(model: nn.Module) -> nn.Module:
    """Replace layers Opacus cannot handle (BatchNorm becomes GroupNorm) and validate."""
    fixed: nn.Module = ModuleValidator.fix(model)
    ModuleValidator.validate(fixed, strict=True)
    return fixed


def dp_distill(
    student: nn.Module,
    data: ArrayDataset,
    teacher_logits: torch.Tensor | None,
    *,
    settings: OptimizerSettings,
    dp: DPSettings,
    alpha: float,
    temperature: float,
    device: torch.device,
    seed: int,
    knowledge: LogitKnowledge | None = None,
    labelled: torch.Tensor | None = None,
) -> tuple[TrainStats, tuple[float, float, int]]:
    """Train ``student`` in place with DP-SGD and the per-sample distillation loss.

    ``knowledge`` (the logit objective: loss type, trust gating) overrides
    ``alpha`` and ``temperature``; ``labelled`` masks samples whose labels are hidden.
    Feature and relational knowledge are not offered here: relational terms couple
    the samples of a batch, which per-sample clipping cannot bound.

    Each epoch is ``round(1/q)`` steps with Poisson sampling at ``q = batch/n``.
    An empty batch still takes its step: clipped sum zero, plus noise, as the
    analysis assumes. The student's own parameters are updated; no Opacus wrapper
    remains on it afterwards.

    Returns
    -------
    tuple of (TrainStats, (noise_multiplier, sample_rate, steps))
        Mean loss parts over the samples seen, and the history entry to record.
    """
    knowledge = knowledge or LogitKnowledge(alpha=alpha, temperature=temperature)
    student.to(device).train()
    x, y = as_tensors(data, device)
    soft = teacher_logits.to(device) if teacher_logits is not None and knowledge.uses_teacher else None
    mask = labelled.to(device) if labelled is not None else None
    q = sample_rate(settings.batch_size, len(data))
    steps = steps_per_epoch(settings.batch_size, len(data)) * settings.epochs
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    sgd = torch.optim.SGD(student.parameters(), lr=settings.learning_rate, momentum=settings.momentum)
    wrapped: GradSampleModule
    optimizer: DPOptimizer
    if dp.grad_sample_mode == "ghost":
        wrapped = GradSampleModuleFastGradientClipping(student, batch_first=True, loss_reduction="mean",
                                                       max_grad_norm=dp.max_grad_norm, use_ghost_clipping=True)
        optimizer = DPOptimizerFastGradientClipping(sgd, noise_multiplier=dp.noise_multiplier,
                                                    max_grad_norm=dp.max_grad_norm,
                                                    expected_batch_size=settings.batch_size, loss_reduction="mean",
                                                    generator=noise)
    else:
        wrapped = GradSampleModule(student, batch_first=True, loss_reduction="mean",
                                   force_functorch=dp.grad_sample_mode == "functorch")
        optimizer = DPOptimizer(sgd, noise_multiplier=dp.noise_multiplier, max_grad_norm=dp.max_grad_norm,
                                expected_batch_size=settings.batch_size, loss_reduction="mean", generator=noise)
    sampler = torch.Generator().manual_seed(seed)
    totals = torch.zeros(3, device=device)
    seen = 0
    try:
        with warnings.catch_warnings():
            # Opacus' hooks fire on the first layer although inputs need no gradient: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for _ in range(steps):
                index = (torch.rand(len(data), generator=sampler) < q).nonzero().squeeze(1).to(device)
                parts = sample_losses(wrapped(x[index]), soft[index] if soft is not None else None, y[index],
                                      knowledge, labelled=mask[index] if mask is not None else None)
                optimizer.zero_grad(set_to_none=True)
                if dp.grad_sample_mode == "ghost":
                    # Backward twice: per-sample norms, then the loss reweighted by each clipping factor.
                    DPTensorFastGradientClipping(wrapped, optimizer, parts.total, "mean").backward()
                else:
                    # The mean over the sampled batch; zero (not NaN) for an empty one.
                    (parts.total.sum() / max(len(index), 1)).backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                totals += torch.stack([parts.total.sum(), parts.ce.sum(), parts.kd.sum()]).detach()
                seen += len(index)
    finally:
        wrapped._close()
    mean = (totals / max(seen, 1)).tolist()
    stats = TrainStats(loss=mean[0], ce=mean[1], kd=mean[2], num_examples=len(data))
    return stats, (dp.noise_multiplier, q, steps)
