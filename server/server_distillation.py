"""Build the FedDF server step: the proxy set, the client students as models, the refinement."""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord

from fedkd.config import FedKDConfig
from fedkd.data.proxy import load_proxy
from fedkd.distill.ensemble import ensemble_distill
from fedkd.seeding import derive_seed
from fedkd.student import build_student
from server.distillation_strategy import ServerDistiller


def server_distiller(config: FedKDConfig, device: torch.device) -> ServerDistiller:
    """The FedDF step for ``config``; the proxy set is generated once, here."""
    proxy = torch.from_numpy(load_proxy(config.dataset, size=config.server_proxy_size, seed=config.seed)).to(device)

    def model_of(arrays: ArrayRecord) -> torch.nn.Module:
        model = build_student(config).to(device)
        model.load_state_dict(arrays.to_torch_state_dict())
        return model

    def distill(average: ArrayRecord, members: list[ArrayRecord], server_round: int) -> tuple[ArrayRecord, float]:
        student = model_of(average)
        loss = ensemble_distill(
            student, [model_of(m) for m in members], proxy,
            steps=config.server_distillation_steps,
            learning_rate=config.server_distillation_learning_rate,
            temperature=config.server_distillation_temperature,
            batch_size=max(config.batch_size, 128),
            seed=derive_seed(config.seed, "feddf", server_round),
        )
        return ArrayRecord({k: v.detach().cpu() for k, v in student.state_dict().items()}), loss

    return distill
