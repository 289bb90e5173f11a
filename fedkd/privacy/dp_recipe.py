"""The student's DP-SGD recipe of a run: its optimiser settings and the steps it plans per round.

Under local DP the student may train with its own batch, learning rate and epochs
(``dp-batch-size``, ``dp-learning-rate``, ``dp-local-epochs``; 0 falls back to the
plain keys), so the run without DP keeps its own tuning and the DP run its own.
"""

from __future__ import annotations

from fedkd.config import FedKDConfig
from fedkd.distill.training import OptimizerSettings
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.ledger import sample_rate, steps_per_epoch


def dp_optimizer_settings(config: FedKDConfig) -> OptimizerSettings:
    """The student's SGD settings under local DP; ``batch_size`` is the expected (logical) Poisson batch."""
    return OptimizerSettings(
        learning_rate=config.dp_learning_rate or config.learning_rate,
        momentum=config.momentum,
        batch_size=config.dp_batch_size or config.batch_size,
        epochs=config.dp_local_epochs or config.local_epochs,
    )


def dp_round_entry(config: FedKDConfig, noise_multiplier: float, num_examples: int) -> tuple[float, float, int]:
    """The ledger entry ``(sigma, q, steps)`` one round of DP-SGD on ``num_examples`` records adds."""
    settings = dp_optimizer_settings(config)
    steps = steps_per_epoch(settings.batch_size, num_examples) * settings.epochs
    return noise_multiplier, sample_rate(settings.batch_size, num_examples), steps


def dp_settings(config: FedKDConfig, noise_multiplier: float) -> DPSettings:
    """The DP-SGD parameters of one round at ``noise_multiplier``."""
    return DPSettings(noise_multiplier, config.dp_max_grad_norm, config.dp_grad_sample_mode,
                      config.dp_physical_batch_size)
