"""Benchmark: what Flower's simulation costs over the same work in one plain loop.

Prints and saves (``bench/results/simulation_overhead.json``):

- the default run's wall time, end to end through ``flwr run`` (10 clients);
- the simulation's steady-state seconds per round (median of rounds 2..N), from the
  end of one round's central evaluation to the next, so it counts the per-round
  rewrite of the results files and the (throttled) plot;
- the same client work (every client distills for its local epochs, and in rounds
  due for federated evaluation (``evaluate-every``) evaluates, then weighted FedAvg
  and the central evaluation) done in one plain PyTorch loop in this process,
  seconds per round (median of rounds 2..N);
- their ratio, measured in the same invocation, and the load average around it
  (the figures are only comparable on an otherwise idle machine).

Run: ``python bench/simulation_overhead.py [--num-supernodes 10] [--rounds 20] [--evaluate-every K]``
(``K`` defaults to the config's ``evaluate-every``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from clients.site import load_site, load_teacher  # noqa: E402
from fedkd.config import FedKDConfig  # noqa: E402
from fedkd.data.registry import load_dataset  # noqa: E402
from fedkd.device import resolve_device  # noqa: E402
from fedkd.distill.schedules import round_values  # noqa: E402
from fedkd.distill.site_round import logit_knowledge  # noqa: E402
from fedkd.distill.training import OptimizerSettings, distill  # noqa: E402
from fedkd.evaluation import evaluate  # noqa: E402
from fedkd.models import build_model  # noqa: E402
from fedkd.node_config import NodeConfig  # noqa: E402
from fedkd.results import read_results  # noqa: E402
from fedkd.seeding import derive_seed  # noqa: E402
from server.distillation_strategy import evaluation_due  # noqa: E402
from simulations.flower_run import run_simulation  # noqa: E402
from simulations.placement import client_resources, machine_resources  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "simulation_overhead.json"


def plain_loop_round_seconds(config: FedKDConfig, num_clients: int) -> list[float]:
    """Seconds per round of the federated work done sequentially in this process."""
    nodes = [NodeConfig(partition_id=i, num_partitions=num_clients) for i in range(num_clients)]
    sites = [load_site(config, node) for node in nodes]
    teachers = [load_teacher(config, node, site) for node, site in zip(nodes, sites, strict=True)]
    splits = load_dataset(config.dataset, data_dir=None, cache_dir=Path(config.cache_dir))
    device = resolve_device(config.student_device)
    torch.manual_seed(config.seed)
    global_student = build_model(config.student, input_shape=splits.input_shape, num_classes=splits.num_classes)
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    seconds = []
    for server_round in range(1, config.num_server_rounds + 1):
        start = time.perf_counter()
        states, weights = [], []
        for node, site, teacher in zip(nodes, sites, teachers, strict=True):
            student = build_model(config.student, input_shape=splits.input_shape, num_classes=splits.num_classes)
            student.load_state_dict(global_student.state_dict())
            stats = distill(student, site.train, teacher.train_logits, settings=settings,
                            objective=logit_knowledge(config, round_values(config, server_round)), device=device,
                            seed=derive_seed(config.seed, "train", node.identity, server_round))
            states.append(student.state_dict())
            weights.append(stats.num_examples)
        total = sum(weights)
        averaged = {k: sum(s[k].float() * (w / total) for s, w in zip(states, weights, strict=True)) for k in states[0]}
        global_student.load_state_dict(averaged)
        if evaluation_due(server_round, config):
            for site in sites:
                evaluate(global_student, site.test, device=device)
        evaluate(global_student, splits.test, device=device)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    """Run both measurements and print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-supernodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=FedKDConfig().num_server_rounds)
    parser.add_argument("--evaluate-every", type=int, default=FedKDConfig().evaluate_every)
    parser.add_argument("--client-cpus", type=int, default=None,
                        help="CPUs per client (default 1; 2 on a 2-core box runs one client at a time, as before)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="reuse this cache (pretrained and site teachers, datasets); default: a fresh one, so "
                             "the wall time counts training every teacher")
    args = parser.parse_args()
    load_before = os.getloadavg()
    cpus, gpus = machine_resources()
    resources = client_resources(args.num_supernodes, client_cpus=args.client_cpus, client_gpus=None, cpus=cpus,
                                 gpus=gpus)
    with tempfile.TemporaryDirectory() as scratch:
        overrides = {"num-server-rounds": args.rounds, "output-dir": scratch, "run-name": "bench",
                     "cache-dir": str(args.cache_dir or Path(scratch) / "cache"),
                     "evaluate-every": args.evaluate_every}
        start = time.perf_counter()
        folder = run_simulation(num_supernodes=args.num_supernodes, run_config=overrides, echo=False,
                                client_cpus=resources.num_cpus)
        wall = time.perf_counter() - start
        rounds = read_results(folder)["rounds"]
        simulated = [r["round_seconds"] for r in rounds if r["round"] >= 2]
        config = FedKDConfig.from_mapping(overrides)
        plain = plain_loop_round_seconds(config, args.num_supernodes)[1:]
    figures = {
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "num_supernodes": args.num_supernodes,
        "rounds": args.rounds,
        "evaluate_every": args.evaluate_every,
        "client_resources": {"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus,
                             "at_once": resources.concurrent(cpus=cpus, gpus=gpus)},
        "load_average_1min_before_after": [load_before[0], os.getloadavg()[0]],
        "default_run_wall_seconds": wall,
        "cache": "given (teachers already trained)" if args.cache_dir else "fresh",
        "simulation_round_seconds_median": statistics.median(simulated),
        "plain_loop_round_seconds_median": statistics.median(plain),
        "ratio_simulation_over_plain": statistics.median(simulated) / statistics.median(plain),
    }
    save_figures(args.out, figures, show=True)


if __name__ == "__main__":
    main()
