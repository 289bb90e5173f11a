"""Run a fedkd simulation through Flower and return its results folder.

``flwr run`` alone has two traps: with ``--stream`` it exits 0 even when the run
failed, and it leaves a local SuperLink running. This harness starts a private
SuperLink on a free port, runs the app with ``flwr run``, reads the run's final
status with ``flwr ls``, and stops the SuperLink it started (by PID) whatever
happened.

Before it starts anything it resolves and checks the whole config
(:mod:`simulations.preflight`): a bad key or value, a missing dataset or a missing
extra is one line and exit code 2. Keys typed in ``--run-config`` win over the
experiment file. The console shows a header, one line per round and a summary
(:mod:`simulations.console`); ``--verbose`` shows all of Flower's output.

Command line::

    python -m simulations.run                                  # the default: 10 clients
    python -m simulations.run --experiment fashion-mnist-dirichlet.yaml --run-name fmnist-1
    python -m simulations.run --num-supernodes 50 --run-config "kd-alpha=0.3 num-server-rounds=20"
    python -m simulations.run --list-keys                      # every config key, its default and meaning
    python -m simulations.run --num-supernodes 10 --resume results/20260101-120000   # after a crash
"""

from __future__ import annotations

import argparse
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

import yaml

from fedkd.config import ConfigError, FedKDConfig
from fedkd.device import visible_gpus
from fedkd.results import read_results
from simulations.comparison import (
    Comparison,
    ce_only_values,
    changed_values,
    config_digest,
    final_accuracy,
    mean_teacher_accuracy,
    write_comparison,
)
from simulations.console import ResentRounds, comparison_line, console_line, failure_reason, header, strip_ansi, summary
from simulations.placement import client_resources, machine_resources
from simulations.preflight import PreflightError, parse_run_config, plan_run, write_resolved_experiment
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


PREDATING: dict[str, Any] = {"teacher-pretraining": "none"}
"""What a run that predates a key ran with, where that differs from the key's default (the public-pool
teacher became the default after runs without the key had trained their teachers on the shard)."""


def same_config(stored: Mapping[str, Any], config: FedKDConfig) -> bool:
    """Whether a stored run's config is ``config``; keys the run predates count at the value it ran with
    (:data:`PREDATING`), else at their defaults."""
    current, defaults = config.to_dict(), {**FedKDConfig().to_dict(), **PREDATING}
    return set(stored) <= set(current) and all(stored.get(k, defaults[k]) == v for k, v in current.items())


def finished_run(run_config: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The rounds of a complete earlier run of the identical config, or ``None``.

    ``run_config`` must name ``output-dir`` and ``run-name``.
    """
    config = resolved_config(run_config)
    folder = Path(config.output_dir) / config.run_name
    if not (folder / "results.json").is_file():
        return None
    document = read_results(folder)
    if same_config(document["config"], config) and len(document["rounds"]) == config.num_server_rounds + 1:
        return list(document["rounds"])
    return None


def run_or_reuse(
    *, num_supernodes: int, run_config: Mapping[str, Any], timeout: float = 3 * 3600
) -> list[dict[str, Any]]:
    """The rounds of a run, reusing its results folder when it holds a complete run of the identical config.

    ``run_config`` must name ``output-dir`` and ``run-name``.
    """
    rounds = finished_run(run_config)
    if rounds is not None:
        print(f"reusing {run_config['output-dir']}/{run_config['run-name']}", flush=True)
        return rounds
    print(f"running {run_config['run-name']}", flush=True)
    folder = run_simulation(num_supernodes=num_supernodes, run_config=run_config, echo=False, timeout=timeout)
    return list(read_results(folder)["rounds"])


def ce_only_baseline(
    config: FedKDConfig, *, num_supernodes: int, client_cpus: int | None = None,
    client_gpus: float | None = None, echo: bool = True, ray_address: str | None = None,
) -> tuple[list[dict[str, Any]], Path]:
    """The rounds and folder of the CE-only baseline of ``config``: reused when finished, else run now.

    The baseline is ``config`` with distillation off (:func:`simulations.comparison.ce_only_values`),
    in ``output-dir/baselines/ce-only-<digest>-n<clients>``.
    """
    values = ce_only_values(config, num_supernodes)
    folder = Path(values["output-dir"]) / values["run-name"]
    rounds = finished_run(values)
    if rounds is not None:
        if echo:
            print(f"[fedkd] CE-only baseline: reusing {folder}", flush=True)
        return rounds, folder
    if echo:
        print(f"[fedkd] CE-only baseline: running the same config with distillation off (kd-alpha=1); "
              f"results in {folder}", flush=True)
    run_simulation(num_supernodes=num_supernodes, run_config=changed_values(values), client_cpus=client_cpus,
                   client_gpus=client_gpus, prepare_teachers=True, echo=echo, label="CE-only baseline",
                   ray_address=ray_address)
    return list(read_results(folder)["rounds"]), folder


def compare_with_baseline(
    config: FedKDConfig, rounds: list[dict[str, Any]], folder: Path, *, num_supernodes: int,
    client_cpus: int | None = None, client_gpus: float | None = None, ray_address: str | None = None,
) -> Comparison:
    """The run's final global student beside its CE-only baseline and its sites' mean teacher; saved in
    ``folder/comparison.json``. A run that is itself CE-only is its own baseline."""
    student = final_accuracy(rounds)
    if student is None:
        raise SimulationFailed(f"the run in {folder} evaluated no round; there is nothing to compare")
    baseline = ce_only_values(config, num_supernodes)
    if config_digest(FedKDConfig.from_mapping(baseline)) == config_digest(config):
        ce_only, where = student, str(folder)
    else:
        baseline_rounds, baseline_folder = ce_only_baseline(config, num_supernodes=num_supernodes,
                                                            client_cpus=client_cpus, client_gpus=client_gpus,
                                                            ray_address=ray_address)
        ce_only, where = final_accuracy(baseline_rounds), str(baseline_folder)
    comparison = Comparison(student=student, ce_only=ce_only,
                            teacher_mean=mean_teacher_accuracy(config, num_supernodes), baseline_dir=where)
    write_comparison(folder, comparison)
    return comparison


def resume_config(folder: Path, app_dir: Path = APP_DIR) -> dict[str, Any]:
    """Run-config values that continue the run in ``folder`` from its checkpoint, in the same folder.

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no ``config.yaml``.
    ValueError
        If the stored values do not resolve back to the stored config.
    """
    folder = folder.resolve()
    stored = yaml.safe_load((folder / "config.yaml").read_text())
    values = dict(stored)
    if Path(str(stored.get("output-dir", ""))).expanduser().resolve() / str(stored.get("run-name", "")) != folder:
        values.update({"output-dir": str(folder.parent), "run-name": folder.name})
    config = resolved_config(values, app_dir)
    differing = sorted(k for k, v in config.to_dict().items() if stored.get(k, v) != v
                       and k not in ("output-dir", "run-name"))
    if differing:
        raise ValueError(f"{folder / 'config.yaml'} does not resolve back to itself (keys {', '.join(differing)}); "
                         "resume it with --run-config naming them")
    return {**values, "resume-from": str(folder)}


def list_keys() -> str:
    """Every config key with its default and help, one per line."""
    import dataclasses

    rows = [(f.name.replace("_", "-"), f.default, f.metadata.get("help", "")) for f in dataclasses.fields(FedKDConfig)]
    return "\n".join(f"{key} = {toml_value(default)}  # {text}" for key, default, text in rows)


def build_parser() -> argparse.ArgumentParser:
    """The harness's command line."""
    parser = argparse.ArgumentParser(description="Run a fedkd simulation through Flower.")
    parser.add_argument("--num-supernodes", type=int, default=10, help="simulated clients (default 10)")
    parser.add_argument("--experiment", default="", help="YAML file under simulations/experiments/ or a path")
    parser.add_argument("--run-config", default="",
                        help='overrides, e.g. "kd-alpha=0.3 num-server-rounds=20"; they win over --experiment')
    parser.add_argument("--run-name", default="", help="results subfolder name (default: a timestamp)")
    parser.add_argument("--client-cpus", type=int, default=None,
                        help="whole CPUs Ray reserves per client (default 1: as many clients at once as CPUs)")
    parser.add_argument("--client-gpus", type=float, default=None,
                        help="GPUs per client, e.g. 0.25 (four clients share a GPU); default: each GPU shared "
                             "by as many clients as there are CPUs for, 0 without GPUs")
    parser.add_argument("--prepare-teachers", action=argparse.BooleanOptionalAction, default=True,
                        help="train or load every site's teacher before round 1, in parallel (default on)")
    parser.add_argument("--ray-address", default=None,
                        help="host:port of a running Ray cluster's head to run the clients on (see docs/scale.md); "
                             "default: a Ray instance of the run's own")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="after the run, print its final accuracy beside the CE-only FedAvg student of the same "
                             "config (run once, then reused) and the sites' mean teacher (default on)")
    parser.add_argument("--verbose", action="store_true", help="show all of Flower's output")
    parser.add_argument("--list-keys", action="store_true", help="print every config key and its default, then exit")
    parser.add_argument("--resume", type=Path, default=None,
                        help="a results folder: continue its run from its last complete round (same --num-supernodes)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: 0 when the run completed, 1 when it failed, 2 when it could not start."""
    args = build_parser().parse_args(argv)
    if args.list_keys:
        print(list_keys())
        return 0
    try:
        typed = parse_run_config(args.run_config)
        experiment, run_name = args.experiment, args.run_name
        if args.resume is not None:
            try:
                typed = {**resume_config(args.resume), **typed}
            except (OSError, ValueError) as error:
                raise PreflightError(f"cannot resume {args.resume}: {error}") from error
            experiment = experiment or str(typed.pop("experiment", ""))
            run_name = run_name or str(typed.pop("run-name", ""))
        plan = plan_run(typed=typed, experiment=experiment, app_dir=APP_DIR, num_supernodes=args.num_supernodes,
                        client_cpus=args.client_cpus, client_gpus=args.client_gpus, run_name=run_name)
    except PreflightError as error:
        print(f"fedkd: error: {error}", file=sys.stderr)
        return 2
    for notice in plan.notices:
        print(f"fedkd: {notice}")
    print(header(plan.config, num_supernodes=args.num_supernodes, results_dir=plan.results_dir), flush=True)
    write_resolved_experiment(plan)
    try:
        folder = run_simulation(num_supernodes=args.num_supernodes, run_config=plan.run_config,
                                client_cpus=args.client_cpus, client_gpus=args.client_gpus,
                                prepare_teachers=args.prepare_teachers, verbose=args.verbose,
                                ray_address=args.ray_address)
    except ValueError as error:  # resources the machine does not have
        print(f"fedkd: error: {error}", file=sys.stderr)
        return 2
    except SimulationFailed as error:
        print(f"fedkd: simulation failed: {error}", file=sys.stderr)
        return 1
    rounds = list(read_results(folder)["rounds"])
    print(summary(rounds, folder), flush=True)
    if args.baseline and plan.config.task == "classification" and final_accuracy(rounds) is not None:
        try:
            comparison = compare_with_baseline(plan.config, rounds, folder, num_supernodes=args.num_supernodes,
                                               client_cpus=args.client_cpus, client_gpus=args.client_gpus,
                                               ray_address=args.ray_address)
        except SimulationFailed as error:
            print(f"fedkd: the CE-only baseline failed: {error}", file=sys.stderr)
            return 1
        print(comparison_line(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
