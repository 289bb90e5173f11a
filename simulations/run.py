"""The main job's command line: check the config, run it through Flower, set it beside its baseline.

The run itself goes through a private SuperLink (:mod:`simulations.flower_run`); after
it, the run's final global student is printed beside the CE-only FedAvg student of the
same config and the sites' mean teacher (:mod:`simulations.reuse`).

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
import dataclasses
import sys
from pathlib import Path
from typing import Any

import yaml

from fedkd.config import FedKDConfig
from fedkd.results import read_results
from simulations.comparison import final_accuracy
from simulations.console import comparison_line, header, summary
from simulations.flower_run import APP_DIR, SimulationFailed, resolved_config, run_simulation, toml_value
from simulations.preflight import PreflightError, parse_run_config, plan_run, write_resolved_experiment
from simulations.reuse import compare_with_baseline


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
