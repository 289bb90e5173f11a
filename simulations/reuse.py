"""Reuse a finished run of the identical config, and put a run beside its CE-only baseline.

A results folder whose ``results.json`` holds every round of the same resolved config
is reused instead of run again (:func:`finished_run`, :func:`run_or_reuse`); the
CE-only baseline of a run (:func:`simulations.comparison.ce_only_values`) is found that
way or run once (:func:`ce_only_baseline`), and :func:`compare_with_baseline` sets the
run's final global student beside it and the sites' mean teacher.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig
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
from simulations.flower_run import SimulationFailed, resolved_config, run_simulation

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
