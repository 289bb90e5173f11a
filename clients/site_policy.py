"""What a site refuses whatever the server asks: the floors in its node config, and paths it did not choose.

The server's run config chooses the run (``local-dp``, ``dp-noise-multiplier``,
``dp-target-epsilon``, ...); a site's node config (``require-local-dp``,
``min-noise-multiplier``, ``lifetime-epsilon``, ``allow-server-paths``) bounds what
it accepts. A round that would break a bound is refused with an Error reply naming
the bound and the value asked for. The site never quietly raises the noise to its
floor instead: the run's config, its reported settings and its noise calibration
would then describe a run that did not happen, while a refusal shows up in the
server's ``error_replies`` with its reason.
"""

from __future__ import annotations

from flwr.app import Error, Message

from fedkd.config import FedKDConfig
from fedkd.node_config import NodeConfig

# Error code of a reply from a site that refuses its inputs or a round its node config forbids
# (the reason says which); 4001 is a spent privacy budget, 4002 a non-finite student (clients.app).
SITE_REFUSED = 4003

# Run-config keys naming a path a site would read or write, unless its node config names its own.
PATH_KEYS = ("teacher-checkpoint", "cache-dir")


class SiteRefusal(RuntimeError):
    """The server asked for something the site's node config forbids."""


def refusal_reply(msg: Message, refusal: SiteRefusal) -> Message:
    """The Error reply (:data:`SITE_REFUSED`) to ``msg`` that says why the site refuses it."""
    return Message(error=Error(code=SITE_REFUSED, reason=str(refusal)), reply_to=msg)


def server_paths(config: FedKDConfig, node: NodeConfig) -> list[str]:
    """Run-config paths this site would use: ``teacher-checkpoint`` and ``cache-dir`` the node does not override.

    A real site reads its data only from its own ``data-dir``, so the run's
    ``data-dir`` is never one of them. Simulated nodes have no node config of their
    own and use every path of the run.
    """
    if node.simulated:
        return []
    chosen = {"teacher-checkpoint": (config.teacher_checkpoint, node.teacher_checkpoint),
              "cache-dir": (config.cache_dir, node.cache_dir)}
    return [key for key in PATH_KEYS if chosen[key][0] and not chosen[key][1]]


def check_request(config: FedKDConfig, node: NodeConfig) -> None:
    """Refuse a run whose config this site does not accept, before anything is loaded.

    Raises
    ------
    SiteRefusal
        For a server-sent path (without ``allow-server-paths``), a run without
        ``local-dp`` at a site that requires it or holds a ``lifetime-epsilon``, or
        ``dp-ledger=run`` at a real site.
    """
    paths = server_paths(config, node)
    if paths and not node.allow_server_paths:
        named = ", ".join(f"{key}={config.to_dict()[key]!r}" for key in paths)
        raise SiteRefusal(f"the run config names paths this site did not choose ({named}); "
                          "set them in the node config, or allow-server-paths=true")
    if not config.local_dp and node.require_local_dp:
        raise SiteRefusal("this site requires local-dp (require-local-dp=true); the run asks local-dp=false")
    if not config.local_dp and node.lifetime_epsilon > 0:
        raise SiteRefusal(f"this site holds lifetime-epsilon={node.lifetime_epsilon}; the run asks local-dp=false, "
                          "which would spend an unbounded epsilon")
    if config.local_dp and config.dp_ledger == "run" and not node.simulated:
        raise SiteRefusal("dp-ledger='run' would start this site's privacy ledger from zero; a real site keeps "
                          "one ledger for its data")


def check_delta(config: FedKDConfig, num_examples: int) -> None:
    """Refuse a ``dp-delta`` that protects no one: it must be below ``1/n`` of the site's ``n`` train records
    (a delta of ``1/n`` allows publishing one record outright). Checked before any noise is calibrated.

    Raises
    ------
    SiteRefusal
        Naming the delta and ``1/n``.
    """
    if not config.dp_delta < 1 / num_examples:
        raise SiteRefusal(f"dp-delta={config.dp_delta} must be below 1/n = {1 / num_examples:.3g} for this site's "
                          f"n={num_examples} train records")


def check_noise(node: NodeConfig, noise_multiplier: float) -> None:
    """Refuse a DP-SGD round whose noise multiplier (fixed or calibrated) is below the site's floor.

    Raises
    ------
    SiteRefusal
        Naming the round's noise multiplier and ``min-noise-multiplier``.
    """
    if noise_multiplier < node.min_noise_multiplier:
        raise SiteRefusal(f"the round's noise multiplier {noise_multiplier:.4g} is below this site's "
                          f"min-noise-multiplier={node.min_noise_multiplier}")
