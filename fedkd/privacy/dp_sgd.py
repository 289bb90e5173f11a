"""DP-SGD on a site's training (Abadi et al., 2016), with Opacus' per-sample gradients.

Every step samples each record independently with probability ``q`` (Poisson
sampling), clips each record's gradient to norm ``C``, sums, adds Gaussian noise of
standard deviation ``sigma * C`` and averages over the expected batch size.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch
from opacus.grad_sample import GradSampleModule, GradSampleModuleFastGradientClipping
from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from opacus.validators import ModuleValidator
from torch import nn

from fedkd.data.arrays import ArrayDataset, as_tensors
from fedkd.distill.objective import LogitKnowledge, sample_losses
from fedkd.distill.training import OptimizerSettings, TrainStats
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.ledger import sample_rate, steps_per_epoch
from fedkd.privacy.opacus_logging import drop_opacus_root_handler

drop_opacus_root_handler()


def make_private_module(model: nn.Module) -> nn.Module:
    """Replace layers Opacus cannot handle (BatchNorm becomes GroupNorm) and validate."""
    fixed: nn.Module = ModuleValidator.fix(model)
    ModuleValidator.validate(fixed, strict=True)
    return fixed


def _chunks(index: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, bool]]:
    """The passes of one logical batch: chunks of at most ``size`` records (all at once for 0), last flagged.

    An empty batch is one empty pass: its step still adds noise.
    """
    parts = list(torch.split(index, size)) if size and len(index) else [index]
    for number, part in enumerate(parts):
        yield part, number == len(parts) - 1


def dp_distill(
    student: nn.Module,
    data: ArrayDataset,
    teacher_logits: torch.Tensor | None,
    *,
    settings: OptimizerSettings,
    dp: DPSettings,
    objective: LogitKnowledge,
    device: torch.device,
    seed: int,
    labelled: torch.Tensor | None = None,
) -> tuple[TrainStats, tuple[float, float, int]]:
    """Train ``student`` in place with DP-SGD and the per-sample distillation loss.

    ``objective`` is the per-sample logit objective (loss type, trust gating);
    ``labelled`` masks samples whose labels are hidden.
    Feature and relational knowledge are not offered here: relational terms couple
    the samples of a batch, which per-sample clipping cannot bound.

    Each epoch is ``round(1/q)`` steps with Poisson sampling at ``q = batch/n``.
    An empty batch still takes its step: clipped sum zero, plus noise, as the
    analysis assumes. With ``dp.physical_batch_size`` a logical batch is processed
    in chunks (virtual steps) that are clipped per sample and summed before one
    noisy step, so the update and the analysis are those of the logical batch.
    The student's own parameters are updated; no Opacus wrapper remains on it
    afterwards.

    Returns
    -------
    tuple of (TrainStats, (noise_multiplier, sample_rate, steps))
        Mean loss parts over the samples seen, and the history entry to record.
    """
    student.to(device).train()
    x, y = as_tensors(data, device)
    soft = teacher_logits.to(device) if teacher_logits is not None and objective.uses_teacher else None
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
                for chunk, last in _chunks(index, dp.physical_batch_size):
                    parts = sample_losses(wrapped(x[chunk]), soft[chunk] if soft is not None else None, y[chunk],
                                          objective, labelled=mask[chunk] if mask is not None else None)
                    # Keeps the clipped sum of earlier chunks of this logical batch (Opacus' skipped steps).
                    optimizer.zero_grad(set_to_none=True)
                    if dp.grad_sample_mode == "ghost":
                        # Backward twice: per-sample norms, then the loss reweighted by each clipping factor.
                        DPTensorFastGradientClipping(wrapped, optimizer, parts.total, "mean").backward()
                    else:
                        # The mean over the pass (Opacus scales it back to per-sample gradients);
                        # zero (not NaN) for an empty batch.
                        (parts.total.sum() / max(len(chunk), 1)).backward()  # type: ignore[no-untyped-call]
                    # Every chunk is clipped per sample and summed; only the last adds noise and steps.
                    optimizer.signal_skip_step(do_skip=not last)
                    optimizer.step()
                    totals += torch.stack([parts.total.sum(), parts.ce.sum(), parts.kd.sum()]).detach()
                seen += len(index)
    finally:
        wrapped._close()
    mean = (totals / max(seen, 1)).tolist()
    stats = TrainStats(loss=mean[0], ce=mean[1], kd=mean[2], num_examples=len(data))
    return stats, (dp.noise_multiplier, q, steps)
