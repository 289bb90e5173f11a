"""Benchmark: what a deployment round costs against the same round simulated.

The same sites (the simulation's own MNIST-1D shards, written to ``train.npz`` /
``test.npz`` folders), the same config and rounds, run twice on this machine:

- **simulated**: ``simulations.run`` (Flower's Ray engine, one CPU per client);
- **deployed**: a SuperLink and one ``flower-supernode`` per site on 127.0.0.1
  (plain loopback), ``flwr run``. Flower starts a fresh ClientApp process for every
  message there, so each message pays a Python start, the imports, and loading the
  site's data and its teacher from the site's disk cache.

It prints and saves (``bench/results/deployment_round_cost.json``) the
steady-state seconds per round of each (median of rounds 2..N, from the results
files' ``round_seconds``; round 1 is reported apart: teachers train there in the
deployment, before it in the simulation), the seconds a fresh process needs to
import the ClientApp (measured here, median of 3), and the load average around it.
The claim to check is ``deployed <= simulated + waves * process start``, with
two message waves (train, evaluate) a round.

Run: ``python bench/deployment_round_cost.py [--sites 3] [--rounds 6]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from clients.site import load_site  # noqa: E402
from fedkd.config import FedKDConfig  # noqa: E402
from fedkd.node_config import NodeConfig  # noqa: E402
from fedkd.results import read_results  # noqa: E402
from simulations.flower_run import run_simulation  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "deployment_round_cost.json"
BIN = Path(sys.executable).parent
WAIT_S = 300


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_sites(config: FedKDConfig, num_sites: int, folder: Path) -> list[Path]:
    """The simulation's shards of ``config``, each written as a site folder (``train.npz``, ``test.npz``)."""
    folders = []
    for partition in range(num_sites):
        site = load_site(config, NodeConfig(partition_id=partition, num_partitions=num_sites))
        target = folder / f"site-{partition}"
        target.mkdir(parents=True)
        np.savez(target / "train.npz", x=site.train.x, y=site.train.y)
        np.savez(target / "test.npz", x=site.test.x, y=site.test.y)
        folders.append(target)
    return folders


def steady_seconds(results: Path) -> tuple[float, float]:
    """Round 1's seconds and the median of rounds 2..N of a results folder."""
    rounds = [r for r in read_results(results)["rounds"] if r["round"] >= 1]
    return rounds[0]["round_seconds"], statistics.median(r["round_seconds"] for r in rounds[1:])


def process_start_seconds(repeats: int = 3) -> float:
    """Median wall seconds of a fresh Python process importing the ClientApp (what each deployed message pays)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import clients.app"], cwd=REPO, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Loopback:
    """A SuperLink and its SuperNodes on 127.0.0.1, each in its own session, stopped by PID."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> None:
        with open(self.folder / f"{name}.log", "wb") as log:
            self.processes.append(subprocess.Popen(command, env={**self.env, **(extra_env or {})}, cwd=REPO,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> None:
        for process in self.processes:
            for signum in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, signum)
                    process.wait(timeout=20)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def deploy(sites: list[Path], run_config: dict[str, Any], folder: Path) -> Path:
    """Run ``run_config`` on a loopback deployment of ``sites``; return its results folder."""
    env = {**os.environ, "FLWR_HOME": str(folder / "flwr-home"), "FLWR_TELEMETRY_ENABLED": "0",
           "FLWR_DISABLE_UPDATE_CHECK": "1", "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
           "OMP_NUM_THREADS": "1"}
    (folder / "flwr-home").mkdir()
    port = free_port()
    (folder / "flwr-home" / "config.toml").write_text(f'[superlink.bench]\naddress = "127.0.0.1:{port}"\n'
                                                      "insecure = true\n")
    loopback = Loopback(folder, env)
    try:
        loopback.start("superlink", [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port",
                                     str(port), "--disable-runtime-dependency-installation", "--database",
                                     str(folder / "state.db")])
        for number, site in enumerate(sites):
            loopback.start(f"site-{number}", [str(BIN / "flower-supernode"), "--insecure", "--superlink",
                                              f"127.0.0.1:{port}", "--port", str(free_port()), "--node-config",
                                              f"data-dir='{site}'"],
                           {"FEDKD_CACHE_DIR": str(site / "cache")})
        _wait_online(len(sites), env)
        overrides = " ".join(f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in run_config.items())
        subprocess.run([str(BIN / "flwr"), "run", str(REPO), "bench", "--stream", "--run-config", overrides],
                       env=env, cwd=REPO, check=True, capture_output=True, timeout=3600)
        listing = subprocess.run([str(BIN / "flwr"), "ls", "bench", "--format", "json"], env=env, cwd=REPO,
                                 capture_output=True, text=True, check=True)
        statuses = [r["status"] for r in json.loads(listing.stdout)["runs"]]
        if statuses != ["finished:completed"]:
            raise RuntimeError(f"the deployed run did not complete: {statuses}")
    finally:
        loopback.stop()
    return Path(run_config["output-dir"]) / str(run_config["run-name"])


def _wait_online(count: int, env: dict[str, str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        listing = subprocess.run([str(BIN / "flwr"), "supernode", "ls", "bench", "--format", "json"], env=env,
                                 cwd=REPO, capture_output=True, text=True, check=False)
        try:
            nodes = json.loads(listing.stdout).get("nodes", [])  # no "nodes" until the SuperLink answers
        except json.JSONDecodeError:
            nodes = []
        if sum(n["status"] == "online" for n in nodes) >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"{count} SuperNodes did not come online within {WAIT_S} s")


def main() -> None:
    """Measure both and print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # Teachers trained on each shard (no public-pool pretraining): the same teacher work in both.
        shared = {"num-server-rounds": args.rounds, "cache-dir": str(root / "sim-cache"), "teacher-pretraining": "none"}
        config = FedKDConfig.from_mapping(shared)
        sites = write_sites(config, args.sites, root / "sites")
        simulated = run_simulation(num_supernodes=args.sites, echo=False, prepare_teachers=True,
                                   run_config={**shared, "output-dir": str(root / "results"), "run-name": "sim"})
        deployed = deploy(sites, {"num-server-rounds": args.rounds, "teacher-pretraining": "none",
                                  "output-dir": str(root / "results"), "run-name": "deployed"}, root)
        (sim_first, sim_steady), (dep_first, dep_steady) = steady_seconds(simulated), steady_seconds(deployed)
        start = process_start_seconds()
    figures = {
        "sites": args.sites,
        "rounds": args.rounds,
        "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        "simulated_round1_seconds": sim_first,
        "simulated_round_seconds_median": sim_steady,
        "deployed_round1_seconds": dep_first,
        "deployed_round_seconds_median": dep_steady,
        "clientapp_process_start_seconds": start,
        "waves_per_round": 2,
        "deployed_minus_simulated_seconds": dep_steady - sim_steady,
        "within_simulated_plus_process_starts": dep_steady <= sim_steady + 2 * start,
    }
    save_figures(args.out, figures, show=True)


if __name__ == "__main__":
    main()
