"""Server-side ensemble distillation (FedDF, Lin et al. 2020, "Ensemble Distillation for Robust Model
Fusion in Federated Learning").

After averaging, the global student is refined on an unlabeled proxy set held by
the server: its softened outputs are pulled towards the mean of the client
students' logits, ``KL(softmax(mean_k z_k / T) || softmax(z / T))``, with Adam.
Only the clients' students are used, never their data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedkd.evaluation import predict_logits
from fedkd.losses.logit import soft_target_loss


def ensemble_logits(members: Sequence[nn.Module], proxy_x: torch.Tensor) -> torch.Tensor:
    """The mean logits of ``members`` on ``proxy_x`` (FedDF's averaged-logit ensemble).

    Raises
    ------
    ValueError
        For an empty ensemble.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    return torch.stack([predict_logits(m, proxy_x) for m in members]).mean(dim=0)


def ensemble_distill(
    student: nn.Module,
    members: Sequence[nn.Module],
    proxy_x: torch.Tensor,
    *,
    steps: int,
    learning_rate: float,
    temperature: float,
    batch_size: int,
    seed: int,
) -> float:
    """Refine ``student`` in place towards the ensemble of ``members`` on ``proxy_x``.

    Parameters
    ----------
    student : torch.nn.Module
        The averaged global student, on the same device as ``proxy_x``.
    members : sequence of torch.nn.Module
        The round's client students.
    proxy_x : torch.Tensor
        Unlabeled proxy inputs.
    steps : int
        Adam steps; 0 leaves the student unchanged.
    learning_rate, temperature : float
        Adam's step size; the softening temperature.
    batch_size : int
        Proxy samples per step, drawn at random from ``seed``.

    Returns
    -------
    float
        The mean distillation loss over the steps (0 for no steps).
    """
    if steps == 0:
        return 0.0
    targets = ensemble_logits(members, proxy_x)
    optimizer = torch.optim.Adam(student.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    student.train()
    total = 0.0
    for _ in range(steps):
        index = torch.randint(0, proxy_x.shape[0], (min(batch_size, proxy_x.shape[0]),), generator=generator)
        index = index.to(proxy_x.device)
        loss = soft_target_loss(student(proxy_x[index]), targets[index], temperature=temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        total += loss.item()
    student.eval()
    return total / steps
