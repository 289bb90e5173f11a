"""A site's DP-SGD bookkeeping: where its ledger lives, its budget, and what it reports.

The ledger belongs to the site's data, not to a run: it is keyed by a fingerprint
of the train split, so epsilon composes across runs and restarts of the client
(``dp-ledger=run`` keeps one ledger per run instead, for sweeps of separate
hypothetical runs; only simulated nodes honour it). It is kept twice, in the
node's Flower state (it lives as long as the run's node) and atomically on the
node's disk; on load the longer history wins, so epsilon never resets. The site
reports its epsilon under a stable ``site-id`` derived from the same fingerprint,
so one site's curve continues across runs and restarts whatever node id Flower
gives it.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flwr.app import ConfigRecord, Context

from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.node_config import NodeConfig
from fedkd.pretraining import pretrain_recipe
from fedkd.privacy.dp_recipe import dp_round_entry
from fedkd.privacy.ledger import PrivacyLedger, calibrate_noise
from fedkd.teacher import Teacher

STATE_KEY = "fedkd-privacy"
# Site ids are the fingerprint's first 48 bits: exact as an integer and as a float64 metric.
SITE_ID_BITS = 48


class BudgetSpent(RuntimeError):
    """Training one more round would take the site past its epsilon budget."""


def site_id(site: SiteData) -> int:
    """A stable id of the site: the first 48 bits of its train split's fingerprint."""
    return int(site.train.fingerprint()[: SITE_ID_BITS // 4], 16)


def ledger_path(cache: Path, site: SiteData, run_id: int | None = None) -> Path:
    """The ledger file of the site's data; with ``run_id``, of that run only (``dp-ledger=run``)."""
    name = f"site-{site.train.fingerprint()[:32]}.json"
    return cache / "privacy" / (f"run-{run_id}" if run_id is not None else "sites") / name


def _read(path: Path, accountant: str) -> PrivacyLedger:
    """The ledger on disk, its history read under ``accountant`` (a history is the same for every accountant)."""
    if not path.is_file():
        return PrivacyLedger(accountant)
    try:
        stored = PrivacyLedger.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise ValueError(f"privacy ledger {path} is not valid JSON: {error}") from error
    return PrivacyLedger(accountant, stored.history, stored.noise_multiplier, stored.noise_run)


@contextmanager
def ledger_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the ledger at ``path`` for a whole round (read, train, record).

    Two runs on one site's data at once then take turns, and neither loses the
    other's round from the composed history.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_ledger(context: Context, path: Path, accountant: str) -> PrivacyLedger:
    """The site's ledger: the longer of the node state's and the disk's copies."""
    on_disk = _read(path, accountant)
    record = context.state.config_records.get(STATE_KEY)
    if record is None or "ledger" not in record:
        return on_disk
    state = PrivacyLedger.from_dict(json.loads(str(record["ledger"])))
    in_state = PrivacyLedger(accountant, state.history, state.noise_multiplier, state.noise_run)
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
    if teacher.source == "checkpoint" and public_pool_teacher(config, node):
        return 4
    return 1


def public_pool_teacher(config: FedKDConfig, node: NodeConfig) -> bool:
    """Whether the site's teacher checkpoint is the run's public-pool teacher (no checkpoint named)."""
    return not (node.teacher_checkpoint or config.teacher_checkpoint) and pretrain_recipe(
        config, architecture=node.teacher_architecture or None) is not None


def round_noise(config: FedKDConfig, ledger: PrivacyLedger, teacher: Teacher, site: SiteData, run_id: int) -> float:
    """This round's noise multiplier: fixed, or calibrated once per run and kept.

    The calibration composes the run's planned steps after everything the data has
    spent already (the teacher's DP training and earlier runs in the ledger), so the
    composed epsilon the site reports ends at ``dp-target-epsilon``.
    """
    if config.dp_target_epsilon <= 0:
        return config.dp_noise_multiplier
    if ledger.noise_multiplier is None or ledger.noise_run != run_id:
        _, rate, steps = dp_round_entry(config, 0.0, len(site.train))
        try:
            ledger.noise_multiplier = calibrate_noise(
                target_epsilon=config.dp_target_epsilon,
                delta=config.dp_delta,
                sample_rate=rate,
                steps=config.num_server_rounds * steps,
                accountant=config.dp_accountant,
                prior=(*teacher.dp_history, *ledger.history),
            )
        except ValueError as error:
            raise BudgetSpent(f"privacy budget spent before training: {error}") from error
        ledger.noise_run = run_id
    return ledger.noise_multiplier


def check_budget(config: FedKDConfig, node: NodeConfig, ledger: PrivacyLedger, teacher: Teacher,
                 entry: tuple[float, float, int]) -> None:
    """Raise :class:`BudgetSpent` if the planned round would exceed ``dp-target-epsilon`` (the run's budget)
    or the node's ``lifetime-epsilon`` (the site's own, which no run config can raise)."""
    budgets = [(config.dp_target_epsilon, "dp-target-epsilon"), (node.lifetime_epsilon, "the site's lifetime-epsilon")]
    for budget, name in budgets:
        if budget <= 0:
            continue
        after = ledger.epsilon(config.dp_delta, extra=[*teacher.dp_history, entry])
        if after > budget * 1.0001:
            spent = ledger.epsilon(config.dp_delta, extra=list(teacher.dp_history))
            raise BudgetSpent(
                f"privacy budget spent: epsilon {spent:.4f} used of {budget} ({name}); "
                f"one more round would reach {after:.4f} (delta {config.dp_delta})"
            )


def privacy_metrics(
    config: FedKDConfig, ledger: PrivacyLedger, teacher: Teacher, scope: int, site: SiteData
) -> dict[str, int | float | list[int] | list[float]]:
    """What a site reports each round: epsilons, scope, and the history to recompute them."""
    history = [*teacher.dp_history, *ledger.history]
    return {
        "site-id": site_id(site),
        "epsilon": ledger.epsilon(config.dp_delta, extra=list(teacher.dp_history)),
        "student-epsilon": ledger.epsilon(config.dp_delta),
        "privacy-scope": scope,
        "dp-history-noise": [float(h[0]) for h in history],
        "dp-history-sample-rate": [float(h[1]) for h in history],
        "dp-history-steps": [int(h[2]) for h in history],
        "dp-history-teacher-entries": len(teacher.dp_history),
    }
