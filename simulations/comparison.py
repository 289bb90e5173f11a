"""What gives a run's global student meaning: the CE-only FedAvg student and the local teachers, same config.

After the main job the harness runs the *same resolved config with distillation off*
(:func:`ce_only_values`: ``kd-alpha`` 1, no schedule, no feature, relational, mutual
or server-side distillation) as the CE-only baseline, and scores the simulated sites'
own teachers (the cached ones the run used) on the server's test set. The baseline
run goes to ``output-dir/baselines/ce-only-<digest>``, where the digest covers its
whole resolved config (:func:`config_digest`), so a second main job with the same
config reuses it instead of running it again (:func:`simulations.reuse.finished_run`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig
from fedkd.io import write_atomic

NOT_RESULTS = ("output-dir", "run-name", "resume-from", "experiment")
"""Keys that say where a run's files go, not what it computes; the digest leaves them out."""

DISTILLATION_OFF: dict[str, Any] = {
    "kd-alpha": 1.0, "kd-alpha-schedule": "constant", "kd-alpha-final": 1.0, "hint-weight": 0.0,
    "attention-weight": 0.0, "relational-weight": 0.0, "teacher-mode": "frozen", "server-distillation": False,
}
"""The values that turn every teacher signal off: the students learn from the labels alone (CE-only FedAvg)."""

COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class Comparison:
    """The final global-student accuracy of a run beside its CE-only baseline and its sites' teachers.

    Attributes
    ----------
    student : float
        The run's global student, last round, on the server's test set.
    ce_only : float or None
        The CE-only FedAvg student of the same config, last round, same test set.
    teacher_mean : float or None
        The mean over sites of each site's teacher on the same test set.
    baseline_dir : str
        The baseline run's results folder.
    """

    student: float
    ce_only: float | None
    teacher_mean: float | None
    baseline_dir: str = ""


def config_digest(config: FedKDConfig) -> str:
    """A digest of everything in ``config`` that determines a run's results."""
    values = {k: v for k, v in config.digest_dict().items() if k not in NOT_RESULTS}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def ce_only_values(config: FedKDConfig, num_supernodes: int) -> dict[str, Any]:
    """Run-config values of the CE-only baseline of ``config`` on ``num_supernodes`` simulated sites.

    Every key is spelled out and no experiment file is named: the file's keys are
    already resolved into ``config``, and naming none means no value of it can win
    over a spelled-out default. The run goes to
    ``output-dir/baselines/ce-only-<digest>-n<num_supernodes>``.
    """
    values = {**config.to_dict(), **DISTILLATION_OFF, "experiment": "", "resume-from": ""}
    baseline = FedKDConfig.from_mapping(values)
    return {**values, "output-dir": str(Path(config.output_dir) / "baselines"),
            "run-name": f"ce-only-{config_digest(baseline)}-n{num_supernodes}"}


def changed_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` less those equal to the defaults (what a run config must carry)."""
    defaults = FedKDConfig().to_dict()
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def final_accuracy(rounds: Sequence[Mapping[str, Any]]) -> float | None:
    """The last evaluated round's global accuracy, or ``None`` if no round was evaluated."""
    scored = [r["global_accuracy"] for r in rounds if r.get("global_accuracy") is not None]
    return float(scored[-1]) if scored else None


def mean_teacher_accuracy(config: FedKDConfig, num_supernodes: int) -> float | None:
    """Mean accuracy of the simulated sites' teachers on the server's test set (their cached teachers)."""
    if config.task != "classification":
        return None
    from simulations.baselines import local_teachers

    return local_teachers(config, num_supernodes).mean


def write_comparison(folder: Path, comparison: Comparison) -> None:
    """Save ``comparison`` as ``comparison.json`` in the run's results folder (atomically)."""
    write_atomic(folder / COMPARISON_FILE, json.dumps(asdict(comparison), indent=1).encode())
