"""A real deployment on 127.0.0.1, run with the commands of docs/deployment.md.

One SuperLink with TLS and SuperNode authentication, three SuperNodes with data
prepared by ``fedkd site prepare`` from MNIST-1D shards (the third with its own
``mlp`` teacher checkpoint; the others train ``cnn1d`` teachers), the server
evaluating on its own held-out file (``server-test-data``), and two SuperNodes
that must be refused: one with an unregistered key, one without the CA. Every
command comes from the page's code blocks, with this test's values for the
variables; every process started here is stopped by its PID in ``finally``.
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
import pytest
import torch

from fedkd.checkpoint import load_model, read_metadata, save_model
from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import load_dataset
from fedkd.data.site import load_site_dir
from fedkd.evaluation import evaluate
from fedkd.teacher import TeacherRecipe, train_teacher

pytestmark = pytest.mark.e2e

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


def test_deployment_tls_and_supernode_auth_three_sites_completes_and_refuses_strangers(tmp_path: Path) -> None:
    # Prepare: the doc's variables for one machine, and a private Flower home.
    home = tmp_path / "flwr-home"
    home.mkdir()
    env = {**os.environ, "FLWR_HOME": str(home), "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
           "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1",
           "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    certs = tmp_path / "certs"
    values: dict[str, object] = {
        "SERVER_HOST": "127.0.0.1", "PORT": free_port(), "CERTS": certs, "STATE": tmp_path / "state",
        "NUM_SITES": 4, "CONNECTION": "fedkd-deploy", "DATASET": "mnist1d", "CA": certs / "ca.crt",
        "ROUNDS": 2, "TEACHER_EPOCHS": 3, "RESULTS": tmp_path / "results", "RUN_NAME": "deploy",
    }
    (tmp_path / "state").mkdir()
    shards = make_sites(tmp_path, values)
    (certs_line,) = doc_commands("fedkd certs")
    (superlink_line,) = doc_commands("flower-superlink")
    (register_line,) = doc_commands("flwr supernode register")
    (prepare_line,) = doc_commands("fedkd site prepare")
    check_plain, check_teacher = doc_commands("fedkd site check")
    supernode_plain, supernode_teacher = doc_commands("flower-supernode")
    (run_line,) = doc_commands("flwr run")
    (ls_line,) = doc_commands("flwr ls")
    (connection_toml,) = doc_blocks("toml")

    with processes(tmp_path, env) as started:
        # Execute: certificates, the SuperLink, the connection, three registered keys (the fourth stays unknown).
        made = run(expand(certs_line, values), env)
        assert made.returncode == 0, made.stderr
        superlink = started.start("superlink", argv(expand(superlink_line, values)))
        wait_for_port(int(str(values["PORT"])), superlink)
        (home / "config.toml").write_text(expand(connection_toml, values))
        for site in (1, 2, 3):
            registered = run(expand(register_line, {**values, "SITE": site}), env)
            assert registered.returncode == 0, registered.stdout + registered.stderr

        # Each site prepares and checks its data, then starts exactly the command the check printed.
        for site, shard in enumerate(shards, start=1):
            site_values = {**values, "SITE": site, "SITE_NPZ": shard, "SITE_DATA": tmp_path / f"site-{site}",
                           "KEY": certs / f"supernode-{site}", "RUNTIME_PORT": free_port(),
                           "TEACHER": tmp_path / "teacher-mlp.safetensors"}
            prepared = run(expand(prepare_line, site_values), env)
            assert prepared.returncode == 0, prepared.stderr
            if site == 3:
                site_teacher(tmp_path / "site-3", tmp_path / "teacher-mlp.safetensors")
            check_line, supernode_line = (check_teacher, supernode_teacher) if site == 3 else (check_plain,
                                                                                              supernode_plain)
            checked = run(expand(check_line, site_values), env)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            printed = checked.stdout.strip().splitlines()[-1]
            assert printed == expand(supernode_line, site_values)
            started.start(f"supernode-{site}", argv(printed), env={"FEDKD_CACHE_DIR": str(tmp_path / f"cache-{site}")})

        # Two strangers: a key the SuperLink never registered, and a SuperNode that does not trust the CA.
        stranger_values = {**values, "SITE_DATA": tmp_path / "site-1", "KEY": certs / "supernode-4",
                           "RUNTIME_PORT": free_port()}
        unregistered = started.start("unregistered", argv(expand(supernode_plain, stranger_values)))
        no_ca_line = expand(supernode_plain, {**stranger_values, "KEY": certs / "supernode-1",
                                              "RUNTIME_PORT": free_port()})
        no_ca = started.start("no-ca", argv(no_ca_line.replace(f"--root-certificates {certs / 'ca.crt'} ", "")))

        deadline = time.monotonic() + WAIT_S
        while sum(n["status"] == "online" for n in online_nodes(values, env)) < 3:
            assert time.monotonic() < deadline, "the three sites did not come online: " + started.tail("supernode-1")
            time.sleep(2)
        finished = run(expand(run_line, values), env, timeout=RUN_TIMEOUT_S)
        status = json.loads(run(expand(ls_line, values), env).stdout)["runs"]
        nodes = online_nodes(values, env)
        unregistered_code, no_ca_code = wait_for_exit(unregistered), wait_for_exit(no_ca)

    # Assert: the run completed, the strangers were refused and never joined.
    match = re.search(r"Successfully started run (\d+)", finished.stdout + finished.stderr)
    assert match, finished.stdout[-3000:] + finished.stderr[-3000:]
    (run_status,) = [r["status"] for r in status if r["run-id"] == match.group(1)]
    assert run_status == "finished:completed", started.tail("superlink")
    assert len(nodes) == 3 and all(n["status"] == "online" for n in nodes)
    assert unregistered_code != 0 and "Failed to activate SuperNode" in started.tail("unregistered")
    assert no_ca_code != 0 and "CERTIFICATE_VERIFY_FAILED" in started.tail("no-ca")

    # The results: every round, all three sites, the server evaluating on its own file.
    folder = tmp_path / "results" / "deploy"
    document = json.loads((folder / "results.json").read_text())
    rounds = document["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert rounds[-1]["clients_trained"] == 3 and rounds[-1]["clients_evaluated"] == 3
    assert document["config"]["server-test-data"] == str(values["SERVER_TEST"])
    with np.load(str(values["SERVER_TEST"])) as held_out:
        server_test = ArrayDataset(held_out["x"], held_out["y"])
    student, _ = load_model(folder / "student.safetensors")
    final = evaluate(student, server_test, device=torch.device("cpu"))
    assert rounds[-1]["global_accuracy"] == pytest.approx(final.accuracy, abs=1e-6)
    assert rounds[-1]["global_accuracy"] > 0.15  # ten classes: chance is 0.1
    for name in ("results.csv", "accuracy.png", "config.yaml"):
        assert (folder / name).is_file(), name

    # The third site used its mlp checkpoint (logits cached under a checkpoint key); the others trained cnn1d.
    assert list((tmp_path / "cache-3" / "teachers").glob("ckpt-*.logits.safetensors"))
    assert not list((tmp_path / "cache-3" / "teachers").glob("*.json"))
    for site in (1, 2):
        trained = [p for p in (tmp_path / f"cache-{site}" / "teachers").glob("*.safetensors")
                   if not p.name.endswith(".logits.safetensors")]
        assert [read_metadata(p)["architecture"] for p in trained] == ["cnn1d"]
