"""Screen one local-DP lever quickly: FedAvg of the KD student over the simulated sites, in one process.

The same sites, teachers, seeds, per-round objective and DP-SGD code as a Flower run
(``clients.local_round``), without Flower: every site trains a copy of the global
student each round, the server averages them weighted by records and tests the
result. Noise is calibrated per site for the whole run, as ``dp-target-epsilon`` does.
A screen only ranks levers; the curves on ``docs/privacy.md`` run through Flower.
Each run is appended to ``--out`` (JSON, written atomically).

Run: ``python -m simulations.dp_screen --lever "batch 128" --epsilon 8 --batch 128 --lr 0.1 --epochs 1``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from clients.site import load_site, load_teacher
from fedkd.checkpoint import load_model
from fedkd.data.registry import load_dataset
from fedkd.distill.schedules import round_values
from fedkd.distill.site_round import logit_knowledge
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import evaluate
from fedkd.io import resolve_cache_dir, write_atomic
from fedkd.node_config import NodeConfig
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.dp_sgd import dp_distill
from fedkd.privacy.ledger import calibrate_noise, sample_rate, steps_per_epoch
from fedkd.seeding import derive_seed, seed_everything
from fedkd.student import build_student
from simulations.flower_run import resolved_config
from simulations.method_catalog import HINTON_KD

CPU = torch.device("cpu")


def screen(args: argparse.Namespace) -> dict[str, Any]:
    """One screened run: final and best accuracy of the global student, and its per-round curve."""
    values = {**HINTON_KD, "experiment": args.experiment, "num-server-rounds": args.rounds, "kd-alpha": args.alpha,
              "local-dp": args.epsilon > 0, "seed": args.seed, **({"student": args.student} if args.student else {})}
    config = resolved_config(values)
    start = time.perf_counter()
    seed_everything(config.seed)
    student = build_student(config)
    if args.init:
        student.load_state_dict(load_model(Path(args.init), architecture=config.student)[0].state_dict())
    test = load_dataset(config.dataset, data_dir=None, cache_dir=resolve_cache_dir(config.cache_dir)).test
    nodes = [NodeConfig.from_mapping({"partition-id": i, "num-partitions": args.sites}) for i in range(args.sites)]
    sites = [load_site(config, node) for node in nodes]
    teachers = [load_teacher(config, node, site) if args.alpha < 1 else None
                for node, site in zip(nodes, sites, strict=True)]
    settings = OptimizerSettings(args.lr, args.momentum, args.batch, args.epochs)
    sigmas = [calibrate_noise(target_epsilon=args.epsilon, delta=1e-5,
                              sample_rate=sample_rate(args.batch, len(site.train)),
                              steps=steps_per_epoch(args.batch, len(site.train)) * args.epochs * args.rounds,
                              accountant="rdp") if args.epsilon > 0 else 0.0 for site in sites]
    curve = []
    for server_round in range(1, args.rounds + 1):
        objective = logit_knowledge(config, round_values(config, server_round))
        states, weights = [], []
        for node, site, teacher, sigma in zip(nodes, sites, teachers, sigmas, strict=True):
            local = copy.deepcopy(student)
            soft = teacher.train_logits if teacher is not None else None
            seed = derive_seed(config.seed, "train", node.identity, server_round)
            if args.epsilon > 0:
                dp_distill(local, site.train, soft, settings=settings, dp=DPSettings(sigma, args.clip),
                           objective=objective, device=CPU, seed=seed)
            else:
                distill(local, site.train, soft, objective=objective, settings=settings, device=CPU, seed=seed)
            states.append(local.state_dict())
            weights.append(len(site.train))
        total = sum(weights)
        student.load_state_dict({k: sum(w * s[k].float() for s, w in zip(states, weights, strict=True)) / total
                                 for k in states[0]})
        curve.append(evaluate(student, test, device=CPU).accuracy)
    return {"dataset": args.dataset_name, "lever": args.lever, "epsilon": args.epsilon, "final": curve[-1],
            "best": max(curve), "curve": curve, "sigma": [min(sigmas), max(sigmas)],
            "seconds": round(time.perf_counter() - start), "settings": {k: v for k, v in vars(args).items()
                                                                       if k not in ("out", "lever")}}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lever", required=True, help="what this run changes, for the table")
    parser.add_argument("--experiment", default="mnist1d-dirichlet.yaml")
    parser.add_argument("--dataset-name", default="MNIST-1D")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=8.0, help="0: no DP")
    parser.add_argument("--batch", type=int, default=32, help="expected Poisson batch under DP")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--alpha", type=float, default=0.5, help="kd-alpha; 1 is CE only (no teachers trained)")
    parser.add_argument("--student", default="", help="student architecture (default: the experiment's)")
    parser.add_argument("--init", default="", help="start from this student checkpoint (e.g. public pretraining)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs") / "privacy-screen.json")
    args = parser.parse_args(argv)
    run = screen(args)
    document = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    document["runs"].append(run)
    write_atomic(args.out, json.dumps(document, indent=1).encode())
    print(json.dumps({k: run[k] for k in ("lever", "epsilon", "final", "best", "sigma", "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
