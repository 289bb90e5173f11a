"""Run the fedkd app through Flower on a private SuperLink and return its results folder.

``flwr run`` alone has two traps: with ``--stream`` it exits 0 even when the run
failed, and it leaves a local SuperLink running. :func:`run_simulation` starts a
private SuperLink on a free port, runs the app with ``flwr run``, reads the run's
final status with ``flwr ls``, and stops the SuperLink it started (by PID) whatever
happened. The command line around it is :mod:`simulations.run`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fedkd.config import ConfigError, FedKDConfig
from fedkd.device import visible_gpus
from simulations.console import ResentRounds, console_line, failure_reason, strip_ansi
from simulations.placement import client_resources, machine_resources
from simulations.prepare_teachers import prepare_teachers as prepare
from simulations.prepare_teachers import pretrain_public_teacher

APP_DIR = Path(__file__).resolve().parent.parent
FLOWER_ENV = {
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}
CONNECTION = "fedkd-private"


class SimulationFailed(RuntimeError):
    """The Flower run did not finish as completed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def toml_value(value: Any) -> str:
    """A run-config value as Flower's ``--run-config`` parser expects it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def run_config_string(values: Mapping[str, Any]) -> str:
    """``{"kd-alpha": 0.3}`` -> ``kd-alpha=0.3``, space separated."""
    return " ".join(f"{k}={toml_value(v)}" for k, v in values.items())


@contextmanager
def private_superlink(home: Path, env: dict[str, str]) -> Iterator[None]:
    """Start a simulation SuperLink on a free port for ``home``; stop it on exit."""
    port = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n'
        f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    log = open(home / "superlink.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [_bin("flower-superlink"), "--insecure", "--simulation", "--isolation", "subprocess",
         "--host", "127.0.0.1", "--port", str(port), "--database", str(home / "state.db")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    # Its own process group: whoever must stop a harness that died uncleanly (SIGKILL) finds its id here.
    (home / "superlink.pid").write_text(str(process.pid))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SimulationFailed(
                    f"flower-superlink exited with {process.returncode}; see {home / 'superlink.log'}"
                )
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise SimulationFailed(f"flower-superlink did not listen on port {port} within 60 s")
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def run_status(run_id: str, env: dict[str, str]) -> str:
    """The run's status as ``flwr ls`` reports it, e.g. ``finished:completed``."""
    listing = subprocess.run(
        [_bin("flwr"), "ls", "--run-id", run_id, "--format", "json"],
        env=env, capture_output=True, text=True, check=False, cwd=APP_DIR,
    )
    try:
        runs = json.loads(listing.stdout)["runs"]
    except (json.JSONDecodeError, KeyError) as error:
        raise SimulationFailed(f"flwr ls gave no run list: {listing.stdout}{listing.stderr}") from error
    return str(runs[0]["status"]) if runs else "unknown"


def simulation_env(home: Path, *, verbose: bool = False, ray_address: str | None = None,
                   environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the private SuperLink and ``flwr run``: Flower's switches, ``FLWR_HOME``, the Ray cluster.

    Flower's simulation calls ``ray.init()`` without an address, which joins the Ray cluster
    named by ``RAY_ADDRESS`` or, failing that, the last one ``ray start`` left on this machine.
    ``ray_address`` (``host:port`` of a running cluster's head) is put in ``RAY_ADDRESS``; without
    it a ``RAY_ADDRESS`` already set is kept, and otherwise it is ``local``, so that the run starts
    its own Ray instance instead of joining a cluster someone else started.
    """
    environ = os.environ if environ is None else environ
    # The SuperLink starts flower-superexec by name: put this interpreter's scripts first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    return {**environ, **FLOWER_ENV, "FLWR_HOME": str(home), "PATH": path, "FEDKD_VERBOSE": str(int(verbose)),
            "RAY_ADDRESS": ray_address or environ.get("RAY_ADDRESS") or "local"}


def run_simulation(
    *,
    num_supernodes: int = 10,
    run_config: Mapping[str, Any] | None = None,
    app_dir: Path = APP_DIR,
    timeout: float = 3600,
    echo: bool = True,
    client_cpus: int | None = None,
    client_gpus: float | None = None,
    prepare_teachers: bool = False,
    verbose: bool = False,
    ray_address: str | None = None,
    label: str = "",
) -> Path:
    """Run the app with ``flwr run`` on a private SuperLink; return the results folder.

    Parameters
    ----------
    num_supernodes : int
        Number of simulated clients.
    run_config : mapping, optional
        Run-config overrides (kebab-case keys).
    app_dir : pathlib.Path
        The Flower app (the folder holding ``pyproject.toml``).
    timeout : float
        Seconds before the run is abandoned.
    echo : bool
        Print the run's lines as they arrive: round lines, warnings and errors (all lines if ``verbose``).
    client_cpus : int, optional
        CPUs Ray reserves per client; default 1 (Flower's own default is 2).
    client_gpus : float, optional
        GPUs per client; fractions share a GPU (0.25: four clients per GPU). Default:
        0 on a CPU machine, else each GPU shared by as many clients as there are CPUs
        for (:func:`simulations.placement.default_resources`).
    prepare_teachers : bool
        Train (or load) every site's teacher into the disk cache before the
        SuperLink starts, in as many worker processes as clients run at once, so
        that round 1 does not wait for teacher training.
    verbose : bool
        Echo every line of Flower's output, not only fedkd's round lines and warnings.
    ray_address : str, optional
        ``host:port`` of a running Ray cluster's head (``ray start --head``) to run the clients
        on, across its nodes; default: a Ray instance of the run's own (:func:`simulation_env`).
    label : str
        A run beside the main one (``"CE-only baseline"``): its round lines are echoed
        with this label after ``[fedkd]``, its set-up lines not at all.

    A run whose sites start from the public-pool teacher (``teacher-pretraining``)
    has it pretrained here, once per machine, before anything else.

    Raises
    ------
    SimulationFailed
        If the run did not finish as ``finished:completed``.
    """
    if num_supernodes < 1:
        raise ValueError(f"num_supernodes={num_supernodes} must be >= 1")
    cpus, gpus = machine_resources()
    resources = client_resources(num_supernodes, client_cpus=client_cpus, client_gpus=client_gpus,
                                 cpus=cpus, gpus=gpus)
    setup = echo and not label
    try:
        config: FedKDConfig | None = resolved_config(run_config or {}, app_dir)
    except ConfigError:
        config = None  # the server refuses it too; the run's failure says why, as without the harness
    if setup:
        print(f"[fedkd] {num_supernodes} clients, {resources.concurrent(cpus=cpus, gpus=gpus)} at once "
              f"({resources.num_cpus} CPU, {resources.num_gpus:g} GPU each; {cpus} CPUs, {gpus} GPUs)", flush=True)
    if config is not None:
        pretrain_public_teacher(config, echo=setup)
    if config is not None and prepare_teachers:
        prepare(config, num_supernodes, workers=resources.concurrent(cpus=cpus, gpus=gpus),
                gpus=visible_gpus() or tuple(str(i) for i in range(gpus)), echo=setup)
    home = Path(tempfile.mkdtemp(prefix="fedkd-flwr-"))
    env = simulation_env(home, verbose=verbose, ray_address=ray_address)
    federation = f"num-supernodes={num_supernodes} {resources.federation_config()}"
    command = [_bin("flwr"), "run", str(app_dir), CONNECTION, "--stream", "--federation-config", federation]
    if run_config:
        command += ["--run-config", run_config_string(run_config)]
    lines: list[str] = []
    try:
        with private_superlink(home, env):
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, cwd=app_dir)
            assert process.stdout is not None
            started = time.monotonic()
            colour = sys.stdout.isatty()
            resent = ResentRounds()
            for line in process.stdout:
                lines.append(line)
                shown = console_line(line, verbose=verbose, colour=colour) if echo else None
                if shown is not None and resent.resent(shown):
                    shown = None
                if shown is not None and label:
                    shown = shown.replace("[fedkd] round ", f"[fedkd] {label} round ", 1)
                if shown is not None:
                    print(shown, flush=True)
                if time.monotonic() - started > timeout:
                    process.kill()
                    raise SimulationFailed(f"the run took longer than {timeout} s")
            process.wait()
            output = strip_ansi("".join(lines))
            match = re.search(r"Successfully started run (\d+)", output)
            if not match:
                raise SimulationFailed(f"flwr run started no run:\n{output[-3000:]}")
            status = run_status(match.group(1), env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if status != "finished:completed":
        detail = output[-3000:] if verbose else failure_reason(output) + " (--verbose shows Flower's full output)"
        raise SimulationFailed(f"run {match.group(1)} ended as {status!r}: {detail}")
    found = re.findall(r"\[fedkd\] done: results in (\S+)", output)
    if not found:
        raise SimulationFailed(f"the run finished but reported no results folder:\n{output[-3000:]}")
    return Path(found[-1])


def resolved_config(run_config: Mapping[str, Any], app_dir: Path = APP_DIR) -> FedKDConfig:
    """The config a run with these run-config overrides resolves to at the server."""
    return FedKDConfig.from_run_config({**FedKDConfig().to_dict(), **run_config}, base_dir=app_dir)
