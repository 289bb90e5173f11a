"""A causal-LM site's DP-SGD bookkeeping: its ledger, noise, budget and reported epsilon.

The same rules as :mod:`clients.privacy` for classifier sites: the ledger belongs to the site's data
(keyed by the fingerprint of its train token blocks, so epsilon composes across runs and restarts;
``dp-ledger=run`` keeps one per run), is kept in the node's state and atomically on its disk, and the
site reports its epsilon under a stable ``site-id``. A round is ``lm-local-steps`` Poisson-sampled steps
at ``q = batch-size / n``. A record is one token block (one document); the LM teacher is not DP-trained,
so the student's epsilon covers the site's records through the student only (privacy scope 1: the
teacher stays at the site).
"""

from __future__ import annotations

from pathlib import Path

from clients.privacy import SITE_ID_BITS, BudgetSpent
from fedkd.config import FedKDConfig
from fedkd.llm.text import TokenBlocks
from fedkd.node_config import NodeConfig
from fedkd.privacy.ledger import PrivacyLedger, calibrate_noise, sample_rate

Metrics = dict[str, int | float | list[int] | list[float]]


def lm_ledger_path(cache: Path, train: TokenBlocks, run_id: int | None = None) -> Path:
    """The ledger file of the site's train blocks; with ``run_id``, of that run only (``dp-ledger=run``)."""
    name = f"lm-site-{train.fingerprint()[:32]}.json"
    return cache / "privacy" / (f"run-{run_id}" if run_id is not None else "sites") / name


def lm_round_entry(config: FedKDConfig, ledger: PrivacyLedger, train: TokenBlocks, run_id: int) -> tuple[
        float, float, int]:
    """This round's ``(noise_multiplier, sample_rate, steps)``: the noise fixed, or calibrated once per run.

    The calibration plans ``num-server-rounds * lm-local-steps`` steps after everything the data has
    spent already (earlier runs in the ledger), so the composed epsilon ends at ``dp-target-epsilon``.

    Raises
    ------
    BudgetSpent
        If the ledger's history alone already spends the target.
    """
    q = sample_rate(config.batch_size, len(train))
    if config.dp_target_epsilon <= 0:
        return config.dp_noise_multiplier, q, config.lm_local_steps
    if ledger.noise_multiplier is None or ledger.noise_run != run_id:
        try:
            ledger.noise_multiplier = calibrate_noise(
                target_epsilon=config.dp_target_epsilon, delta=config.dp_delta, sample_rate=q,
                steps=config.num_server_rounds * config.lm_local_steps, accountant=config.dp_accountant,
                prior=tuple(ledger.history))
        except ValueError as error:
            raise BudgetSpent(f"privacy budget spent before training: {error}") from error
        ledger.noise_run = run_id
    return ledger.noise_multiplier, q, config.lm_local_steps


def check_lm_budget(config: FedKDConfig, node: NodeConfig, ledger: PrivacyLedger,
                    entry: tuple[float, float, int]) -> None:
    """Raise :class:`BudgetSpent` if the round would exceed ``dp-target-epsilon`` or the site's ``lifetime-epsilon``."""
    for budget, name in ((config.dp_target_epsilon, "dp-target-epsilon"),
                         (node.lifetime_epsilon, "the site's lifetime-epsilon")):
        if budget <= 0:
            continue
        after = ledger.epsilon(config.dp_delta, extra=[entry])
        if after > budget * 1.0001:
            raise BudgetSpent(f"privacy budget spent: epsilon {ledger.epsilon(config.dp_delta):.4f} used of {budget} "
                              f"({name}); one more round would reach {after:.4f} (delta {config.dp_delta})")


def lm_privacy_metrics(config: FedKDConfig, ledger: PrivacyLedger, train: TokenBlocks) -> Metrics:
    """What a DP site reports each round: its stable id, epsilon, scope and the history to recompute it."""
    epsilon = ledger.epsilon(config.dp_delta)
    return {
        "site-id": int(train.fingerprint()[: SITE_ID_BITS // 4], 16),
        "epsilon": epsilon,
        "student-epsilon": epsilon,
        "privacy-scope": 1,
        "dp-history-noise": [float(h[0]) for h in ledger.history],
        "dp-history-sample-rate": [float(h[1]) for h in ledger.history],
        "dp-history-steps": [int(h[2]) for h in ledger.history],
        "dp-history-teacher-entries": 0,
    }
