"""A site's DP-SGD bookkeeping: where its ledger lives, its budget, and what it reports.

The ledger is kept twice, in the node's Flower state (it lives as long as the
run's node) and atomically on the node's disk (it survives a restart of the
client process); on load the longer history wins, so epsilon never resets.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flwr.app import ConfigRecord, Context

from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.node_config import NodeConfig
from fedkd.privacy.ledger import PrivacyLedger, calibrate_noise, sample_rate, steps_per_epoch
from fedkd.teacher import Teacher

STATE_KEY = "fedkd-privacy"


class BudgetSpent(RuntimeError):
    """Training one more round would take the site past its epsilon budget."""


def ledger_path(cache: Path, run_id: int, site: str) -> Path:
    """The ledger file of one site in one run."""
    digest = hashlib.sha256(site.encode()).hexdigest()[:16]
    return cache / "privacy" / f"run-{run_id}" / f"{digest}.json"


def load_ledger(context: Context, path: Path, accountant: str) -> PrivacyLedger:
    """The site's ledger: the longer of the node state's and the disk's copies."""
    on_disk = PrivacyLedger.load(path, accountant)
    record = context.state.config_records.get(STATE_KEY)
    if record is None or "ledger" not in record:
        return on_disk
    in_state = PrivacyLedger.from_dict(json.loads(str(record["ledger"])))
    return in_state if in_state.steps > on_disk.steps else on_disk


def store_ledger(context: Context, path: Path, ledger: PrivacyLedger) -> None:
    """Write the ledger to the node's state and its disk."""
    context.state[STATE_KEY] = ConfigRecord({"ledger": json.dumps(ledger.to_dict())})
    ledger.save(path)


def privacy_scope(config: FedKDConfig, teacher: Teacher, node: NodeConfig) -> int:
    """The code of what this site's epsilon covers (see ``fedkd.privacy.scopes.PRIVACY_SCOPES``)."""
    if not config.local_dp:
        return 0
    if teacher.dp_history:
        return 2
    if teacher.source == "checkpoint" and node.teacher_public:
        return 3
    return 1


def round_noise(config: FedKDConfig, ledger: PrivacyLedger, teacher: Teacher, site: SiteData) -> float:
    """This round's noise multiplier: fixed, or calibrated once for the planned run and kept."""
    if config.dp_target_epsilon <= 0:
        return config.dp_noise_multiplier
    if ledger.noise_multiplier is None:
        planned = config.num_server_rounds * config.local_epochs * steps_per_epoch(config.batch_size, len(site.train))
        try:
            ledger.noise_multiplier = calibrate_noise(
                target_epsilon=config.dp_target_epsilon,
                delta=config.dp_delta,
                sample_rate=sample_rate(config.batch_size, len(site.train)),
                steps=planned,
                accountant=config.dp_accountant,
                prior=teacher.dp_history,
            )
        except ValueError as error:
            raise BudgetSpent(f"privacy budget spent before training: {error}") from error
    return ledger.noise_multiplier


def check_budget(config: FedKDConfig, ledger: PrivacyLedger, teacher: Teacher, entry: tuple[float, float, int]) -> None:
    """Raise :class:`BudgetSpent` if the planned round would exceed ``dp-target-epsilon``."""
    if config.dp_target_epsilon <= 0:
        return
    after = ledger.epsilon(config.dp_delta, extra=[*teacher.dp_history, entry])
    if after > config.dp_target_epsilon * 1.0001:
        spent = ledger.epsilon(config.dp_delta, extra=list(teacher.dp_history))
        raise BudgetSpent(
            f"privacy budget spent: epsilon {spent:.4f} used of {config.dp_target_epsilon}; "
            f"one more round would reach {after:.4f} (delta {config.dp_delta})"
        )


def privacy_metrics(
    config: FedKDConfig, ledger: PrivacyLedger, teacher: Teacher, scope: int
) -> dict[str, int | float | list[int] | list[float]]:
    """What a site reports each round: epsilons, scope, and the history to recompute them."""
    history = [*teacher.dp_history, *ledger.history]
    return {
        "epsilon": ledger.epsilon(config.dp_delta, extra=list(teacher.dp_history)),
        "student-epsilon": ledger.epsilon(config.dp_delta),
        "privacy-scope": scope,
        "dp-history-noise": [float(h[0]) for h in history],
        "dp-history-sample-rate": [float(h[1]) for h in history],
        "dp-history-steps": [int(h[2]) for h in history],
        "dp-history-teacher-entries": len(teacher.dp_history),
    }
