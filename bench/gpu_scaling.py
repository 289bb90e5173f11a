"""Benchmark: how a simulation's speed and GPU memory scale with the clients sharing a GPU.

Runs the default job through ``flwr run`` with a fixed number of clients (8) and
1, 2, 4 and 8 of them at once on one GPU (``--client-gpus`` 1, 1/2, 1/4, 1/8;
each client's student and teacher on its GPU), and, on a machine with two GPUs or
more, each client on two whole GPUs with its teacher on the second
(``teacher-device=cuda:1``). For each case it prints and saves
(``bench/results/gpu_scaling.json``) the steady-state rounds per minute (from
the median round time of rounds 2..N) and the peak memory used on every GPU
during the run (polled with ``nvidia-smi``; it includes each client's CUDA context).

Teachers are trained once into a shared cache before the first timed case, so no
case pays for them. Without a GPU it says so and exits 0 without writing results.

Run: ``python bench/gpu_scaling.py [--rounds 6] [--clients 8]``.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from fedkd.results import read_results  # noqa: E402
from simulations.flower_run import SimulationFailed, run_simulation  # noqa: E402
from simulations.placement import gpu_share, machine_resources  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gpu_scaling.json"


class MemoryPoller:
    """Polls ``nvidia-smi`` in a thread; keeps each GPU's peak used memory (MiB)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def sample() -> dict[int, int]:
        """Used memory per GPU index now, in MiB; empty if ``nvidia-smi`` is missing."""
        if shutil.which("nvidia-smi") is None:
            return {}
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, check=False, timeout=10).stdout
        rows = [line.split(",") for line in out.strip().splitlines() if "," in line]
        return {int(index): int(float(used)) for index, used in rows}

    def _loop(self) -> None:
        while not self._stop.is_set():
            for index, used in self.sample().items():
                self.peak[index] = max(used, self.peak.get(index, 0))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemoryPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def run_case(name: str, *, clients: int, rounds: int, client_gpus: float, overrides: dict[str, Any],
             scratch: Path, timeout: float, prepare_teachers: bool = False) -> dict[str, Any]:
    """One timed simulation; its rounds per minute and peak GPU memory, or its error."""
    run_config = {"num-server-rounds": rounds, "output-dir": str(scratch / "runs"), "run-name": name,
                  "cache-dir": str(scratch / "cache"), **overrides}
    baseline = MemoryPoller.sample()
    with MemoryPoller() as poller:
        start = time.perf_counter()
        try:
            folder = run_simulation(num_supernodes=clients, run_config=run_config, client_cpus=1,
                                    client_gpus=client_gpus, echo=False, timeout=timeout,
                                    prepare_teachers=prepare_teachers)
        except SimulationFailed as error:
            return {"case": name, "error": str(error)[-2000:]}
        wall = time.perf_counter() - start
    seconds = [r["round_seconds"] for r in read_results(folder)["rounds"] if r["round"] >= 2]
    median = statistics.median(seconds)
    return {
        "case": name,
        "client_gpus": client_gpus,
        "teacher_device": overrides.get("teacher-device", "auto"),
        "round_seconds_median": median,
        "rounds_per_minute": 60 / median,
        "wall_seconds": wall,
        "peak_memory_mib": {str(k): v for k, v in sorted(poller.peak.items())},
        "idle_memory_mib": {str(k): v for k, v in sorted(baseline.items())},
    }


def main() -> int:
    """Run every case that fits this machine; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per case")
    args = parser.parse_args()
    cpus, gpus = machine_resources()
    if gpus == 0:
        print("gpu_scaling: no GPU visible to torch (torch.cuda.device_count() is 0); nothing to measure, "
              "no results written.")
        return 0
    cases: list[tuple[str, float, dict[str, Any]]] = [
        (f"1gpu-{k}-at-once", gpu_share(k), {}) for k in (1, 2, 4, 8) if k <= min(cpus, args.clients)
    ]
    if gpus >= 2:
        cases.append(("2gpu-teacher-on-cuda1", 2.0, {"teacher-device": "cuda:1"}))
    results = []
    with tempfile.TemporaryDirectory(prefix="fedkd-gpu-scaling-") as folder:
        scratch = Path(folder)
        print("gpu_scaling: training the teachers once (untimed)", flush=True)
        warm = run_case("warm-up", clients=args.clients, rounds=1, client_gpus=gpu_share(min(cpus, args.clients)),
                        overrides={}, scratch=scratch, timeout=args.timeout, prepare_teachers=True)
        if "error" in warm:
            print(f"gpu_scaling: the warm-up run failed: {warm['error']}", file=sys.stderr)
            return 1
        for name, share, overrides in cases:
            result = run_case(name, clients=args.clients, rounds=args.rounds, client_gpus=share,
                              overrides=overrides, scratch=scratch, timeout=args.timeout)
            results.append(result)
            if "error" in result:
                print(f"{name}: FAILED {result['error'][-500:]}", flush=True)
            else:
                print(f"{name}: {result['rounds_per_minute']:.1f} rounds/min "
                      f"({result['round_seconds_median']:.2f} s/round), peak MiB per GPU "
                      f"{result['peak_memory_mib']} (idle {result['idle_memory_mib']})", flush=True)
    import torch

    document = {
        "machine": {"cpus": cpus, "gpus": gpus, "gpu_names": [torch.cuda.get_device_name(i) for i in range(gpus)],
                    "platform": platform.platform(), "torch": torch.__version__},
        "clients": args.clients,
        "rounds": args.rounds,
        "cases": results,
    }
    save_figures(OUT, document)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
