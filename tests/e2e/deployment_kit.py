"""What the deployment end-to-end tests share: the doc's commands, process control, ports and site data.

Every process started through :class:`Processes` runs in its own session, logs to a
file and is stopped by its PID (SIGTERM to its group, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from fedkd.checkpoint import save_model
from fedkd.data.registry import load_dataset
from fedkd.data.site import load_site_dir
from fedkd.teacher import TeacherRecipe, train_teacher

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deployment.md"
BIN = Path(sys.executable).parent
WAIT_S = 180  # bound of every wait for a process or a node
RUN_TIMEOUT_S = 900


def doc_blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/deployment.md in ``language``."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def doc_commands(prefix: str) -> list[str]:
    """The doc's shell command lines that start with ``prefix``, in page order."""
    lines = [line.strip() for block in doc_blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix + " ")]


def expand(text: str, values: Mapping[str, object]) -> str:
    """``$NAME`` replaced by ``values[NAME]``; a variable without a value is an error."""
    return re.sub(r"\$([A-Z_]+)", lambda m: str(values[m.group(1)]), text)


def argv(line: str) -> list[str]:
    """An expanded command line as an argument list; ``fedkd`` runs this checkout's ``cli.main``."""
    words = shlex.split(line)
    if words[0] == "fedkd":
        return [sys.executable, "-m", "cli.main", *words[1:]]
    return [str(BIN / words[0]), *words[1:]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """Background processes, each in its own session, logged to a file and stopped by PID."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.log(name), "wb") as log:
            process = subprocess.Popen(command, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=REPO, start_new_session=True)
        self.started[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL ``name``'s whole process group (a SuperNode and the ClientApp process it started) and reap it."""
        process = self.started[name]
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def tail(self, name: str) -> str:
        return self.log(name).read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        """SIGTERM to each process group (a refused SuperNode's SuperExec child outlives it), then SIGKILL."""
        for process in self.started.values():
            _signal_group(process.pid, signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        time.sleep(1)
        for process in self.started.values():
            _signal_group(process.pid, signal.SIGKILL)  # children left in the group


def _signal_group(pid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


@contextmanager
def processes(folder: Path, env: dict[str, str]) -> Iterator[Processes]:
    running = Processes(folder, env)
    try:
        yield running
    finally:
        running.stop_all()


def run(line: str, env: dict[str, str], timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(line), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "flower-superlink exited early"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"flower-superlink did not listen on {port} within {WAIT_S} s")


def online_nodes(values: Mapping[str, object], env: dict[str, str]) -> list[dict[str, str]]:
    listing = run(expand("flwr supernode ls $CONNECTION --format json", values), env)
    nodes: list[dict[str, str]] = json.loads(listing.stdout)["nodes"]
    return nodes


def make_sites(tmp: Path, values: dict[str, object]) -> list[Path]:
    """Three MNIST-1D shards of 400 training samples, and the server's own 500 held-out samples."""
    splits = load_dataset("mnist1d", data_dir=None, cache_dir=tmp / "dataset-cache")
    order = np.random.default_rng(0).permutation(len(splits.train))
    shards = []
    for site in range(3):
        path = tmp / f"shard-{site + 1}.npz"
        rows = order[site * 400:(site + 1) * 400]
        np.savez(path, x=splits.train.x[rows], y=splits.train.y[rows])
        shards.append(path)
    np.savez(tmp / "server-test.npz", x=splits.test.x[:500], y=splits.test.y[:500])
    values["SERVER_TEST"] = tmp / "server-test.npz"
    return shards


def site_teacher(data_dir: Path, path: Path) -> None:
    """The third site's own teacher, an ``mlp`` trained elsewhere and handed over as a checkpoint."""
    site = load_site_dir(data_dir, input_shape=(40,), num_classes=10)
    model, _ = train_teacher(TeacherRecipe("mlp", 5, 0.05, 0.9, 32, 0), site, device=torch.device("cpu"))
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)


def wait_for_exit(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a SuperNode that must be refused still runs after {WAIT_S} s") from None


def flower_env(home: Path) -> dict[str, str]:
    """The environment of every Flower command: a private ``FLWR_HOME``, no installs, telemetry or update checks."""
    home.mkdir(exist_ok=True)
    return {**os.environ, "FLWR_HOME": str(home), "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1",
            "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
