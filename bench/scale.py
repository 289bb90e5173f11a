"""Benchmark: the harness at 10, 100, 1,000 and 10,000 simulated sites on one machine.

For each site count it runs :func:`simulations.flower_run.run_simulation` on MNIST-1D (the default
Dirichlet(0.5) split) with ``fraction-train`` and ``fraction-evaluate`` at 0.1 and records:

- ``wall_seconds``: teacher preparation plus the whole Flower run (SuperLink, ``flwr run``,
  Ray start-up, every round, shut-down), as a user waits for it;
- ``teacher_seconds``: training (or loading) every site's teacher before round 1, the step
  ``simulations.run`` runs by default, timed on its own here;
- ``round_seconds_total`` and ``round_seconds_median``: the rounds' ``round_seconds`` (from the
  end of one round's central evaluation to the next, results writing included), summed over
  rounds 1..N and their median; the rest of the run, ``startup_seconds``, is the SuperLink,
  Ray and the server's round-0 evaluation;
- ``peak_rss_mb``: the peak, over samples every 0.5 s, of the resident memory summed over the
  whole process tree (this process, the teacher workers, the SuperLink, the simulation
  process, Ray's GCS, raylet and workers). A sum of RSS counts shared pages (torch's
  libraries) once per process, so it overstates the memory used; ``peak_pss_mb`` (proportional
  set size, shared pages divided among their users) is the fairer figure, recorded beside it;
- the final global accuracy, the load average (1 min) before and after, and the niceness the
  benchmark ran at (on a shared machine, wall seconds mean little without both).

Choices. At 10 sites a fraction of 0.1 samples one site, below the strategy's minimum of two,
so two sites train each round (``sampled_per_round`` says how many). Federated evaluation runs
every 5 rounds and in the last (``evaluate-every=5``): each evaluation is a second message wave
to a fresh sample of sites, most of which (at 1,000 sites) have never been seen by the client
process serving them and load their shard first, so evaluating every round would roughly double
the round time while the server's central evaluation of the global student, the figure that is
reported, still runs every round. Teachers are prepared in a cache folder of their own that is
kept between site counts and runs (``--cache-dir``), so a rerun times the loading of cached
teachers; pass a fresh folder to time their training.

Each site count's row is written to ``bench/results/scale.json`` as soon as it is done
(atomically, merged with the rows already there), so an interrupted run keeps what it finished.

Run: ``python bench/scale.py [--sites 10 100 1000 10000] [--rounds 20] [--evaluate-every 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedkd.io import write_atomic  # noqa: E402
from fedkd.results import read_results  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "scale.json"
MNIST1D_TRAIN_SAMPLES = 4000


def tree_memory(root: psutil.Process, *, pss: bool = False) -> int:
    """Bytes of resident (or, with ``pss``, proportional) memory summed over ``root`` and its descendants.

    Processes that end while being read are skipped.
    """
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            total += process.memory_full_info().pss if pss else process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


class PeakMemory:
    """Sample a process tree's memory in a thread every ``interval`` seconds and keep the peaks.

    Use as a context manager; ``peak_rss`` and ``peak_pss`` are in bytes.
    """

    def __init__(self, pid: int | None = None, *, interval: float = 0.5) -> None:
        if interval <= 0:
            raise ValueError(f"interval={interval} must be > 0")
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample now."""
        self.peak_rss = max(self.peak_rss, tree_memory(self.root))
        self.peak_pss = max(self.peak_pss, tree_memory(self.root, pss=True))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def merged(document: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with ``row`` in its ``rows``, replacing a row of the same ``num_supernodes``, sorted by it."""
    rows = [r for r in document.get("rows", []) if r["num_supernodes"] != row["num_supernodes"]]
    return {**document, "rows": sorted([*rows, dict(row)], key=lambda r: int(r["num_supernodes"]))}


def save_row(path: Path, row: Mapping[str, Any], machine: Mapping[str, Any]) -> None:
    """Merge ``row`` into the JSON at ``path`` (created if absent) and write it atomically."""
    document = json.loads(path.read_text()) if path.is_file() else {}
    write_atomic(path, json.dumps({**merged(document, row), "machine": dict(machine)}, indent=2).encode())


def sampled(num_supernodes: int, fraction: float, minimum: int = 2) -> int:
    """Sites Flower's FedAvg samples per round: ``max(int(n * fraction), minimum)``, at most ``n``."""
    return min(num_supernodes, max(int(num_supernodes * fraction), minimum))


def skip_reason(num_supernodes: int) -> str:
    """Why MNIST-1D cannot be split among ``num_supernodes`` sites, or ``""`` when it can."""
    if num_supernodes <= MNIST1D_TRAIN_SAMPLES:
        return ""
    return (f"MNIST-1D has {MNIST1D_TRAIN_SAMPLES} training samples, fewer than one per site at "
            f"{num_supernodes} sites")


def measure(num_supernodes: int, *, rounds: int, fraction: float, evaluate_every: int, cache_dir: Path,
            client_cpus: int | None, timeout: float) -> dict[str, Any]:
    """Prepare the teachers, run the federation, and return the row of figures."""
    from simulations.flower_run import resolved_config, run_simulation
    from simulations.placement import client_resources, machine_resources
    from simulations.prepare_teachers import prepare_teachers

    cpus, gpus = machine_resources()
    resources = client_resources(num_supernodes, client_cpus=client_cpus, client_gpus=None, cpus=cpus, gpus=gpus)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        overrides = {"num-server-rounds": rounds, "fraction-train": fraction, "fraction-evaluate": fraction,
                     "evaluate-every": evaluate_every, "output-dir": scratch, "run-name": "scale",
                     "cache-dir": str(cache_dir)}
        with PeakMemory() as memory:
            start = time.perf_counter()
            trained, loaded = prepare_teachers(resolved_config(overrides), num_supernodes,
                                               workers=resources.concurrent(cpus=cpus, gpus=gpus))
            teacher_seconds = time.perf_counter() - start
            folder = run_simulation(num_supernodes=num_supernodes, run_config=overrides, echo=True,
                                    client_cpus=resources.num_cpus, timeout=timeout)
            wall = time.perf_counter() - start
        document = read_results(folder)
    per_round = [r["round_seconds"] for r in document["rounds"] if r["round"] >= 1]
    in_rounds = sum(per_round)
    return {
        "num_supernodes": num_supernodes,
        "rounds": rounds,
        "fraction": fraction,
        "sampled_per_round": sampled(num_supernodes, fraction),
        "evaluate_every": evaluate_every,
        "at_once": resources.concurrent(cpus=cpus, gpus=gpus),
        "teachers_trained": trained,
        "teachers_loaded": loaded,
        "wall_seconds": wall,
        "teacher_seconds": teacher_seconds,
        "round_seconds_total": in_rounds,
        "round_seconds_median": statistics.median(per_round),
        "round_seconds_first": per_round[0],
        "startup_seconds": wall - teacher_seconds - in_rounds,
        "peak_rss_mb": memory.peak_rss / 2**20,
        "peak_pss_mb": memory.peak_pss / 2**20,
        "memory_samples": memory.samples,
        "final_global_accuracy": document["rounds"][-1]["global_accuracy"],
        "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        "niceness": os.nice(0),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure each site count, printing and saving its row as soon as it is done."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--evaluate-every", type=int, default=5)
    parser.add_argument("--client-cpus", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fedkd-scale-cache")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds before a run is abandoned")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import torch

    machine = {"cpus": os.cpu_count(), "memory_gb": psutil.virtual_memory().total / 2**30,
               "platform": platform.platform(), "torch": torch.__version__, "python": platform.python_version()}
    for count in args.sites:
        reason = skip_reason(count)
        if reason:
            save_row(args.out, {"num_supernodes": count, "skipped": reason}, machine)
            print(f"{count} sites: not run: {reason}", flush=True)
            continue
        row = measure(count, rounds=args.rounds, fraction=args.fraction, evaluate_every=args.evaluate_every,
                      cache_dir=args.cache_dir, client_cpus=args.client_cpus, timeout=args.timeout)
        save_row(args.out, row, machine)
        print(f"{count} sites: wall {row['wall_seconds']:.0f}s (teachers {row['teacher_seconds']:.0f}s, "
              f"rounds {row['round_seconds_total']:.0f}s, median round {row['round_seconds_median']:.1f}s), "
              f"peak RSS {row['peak_rss_mb']:.0f} MB (PSS {row['peak_pss_mb']:.0f} MB), "
              f"accuracy {row['final_global_accuracy']:.4f}, load {row['load_average_1min_before_after']}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
