"""Client-level (user-level) DP at the server with Flower's strategy wrappers.

The wrappers clip each client's update (at the server or, with the matching mod,
at the client) and add Gaussian noise to the aggregate (McMahan et al., 2018;
adaptive clipping after Andrew et al., 2021). With fixed clipping, Flower's RDP
accountant composes one release per round into a user-level (epsilon, delta),
with no amplification by client sampling (the honest choice when the server picks
the clients). Adaptive clipping is not accounted by Flower; its rounds report no
epsilon. Clients are weighted equally under client-level DP, as the accountant
requires.
"""

from __future__ import annotations

from collections.abc import Callable

from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)
from flwr.supercore.privacy_accounting import (
    NeighboringRelation,
    PrivacyConfig,
    SamplingMethod,
)
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from fedkd.config import FedKDConfig
from fedkd.privacy.ledger import calibrate_noise

# Under client-level DP every client reports this metric as 1 and is weighted by it.
UNIFORM_WEIGHT_KEY = "dp-weight"

UserPrivacy = Callable[[], tuple[float, float] | None]


def sampled_clients(num_nodes: int, config: FedKDConfig, min_train_nodes: int) -> int:
    """How many clients FedAvg samples per round out of ``num_nodes`` (Flower's own rule)."""
    return max(int(num_nodes * config.fraction_train), min_train_nodes)


def client_noise(config: FedKDConfig) -> float:
    """The client-level noise multiplier: as configured, or calibrated once so that
    ``num-server-rounds`` releases without sampling amplification spend exactly the
    target user-level epsilon (RDP, as Flower's accountant)."""
    if config.client_dp_target_epsilon <= 0:
        return config.client_dp_noise_multiplier
    return calibrate_noise(target_epsilon=config.client_dp_target_epsilon, delta=config.dp_delta, sample_rate=1.0,
                           steps=config.num_server_rounds, accountant="rdp")


def wrap_client_dp(strategy: Strategy, config: FedKDConfig, *, num_nodes: int, num_sampled: int) -> tuple[
    Strategy, UserPrivacy
]:
    """Wrap ``strategy`` in the client-level DP mode of ``config``.

    Returns
    -------
    tuple of (Strategy, callable)
        The wrapped strategy, and a function giving the user-level (epsilon, delta)
        spent so far, or ``None`` when the mode is not accounted.
    """
    sigma, clip = client_noise(config), config.client_dp_clipping_norm
    if config.client_dp in ("server-fixed", "client-fixed"):
        accountant = RdpAccountant(PrivacyConfig(
            target_delta=config.dp_delta,
            population_size=num_nodes,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        ))
        fixed = (DifferentialPrivacyServerSideFixedClipping if config.client_dp == "server-fixed"
                 else DifferentialPrivacyClientSideFixedClipping)
        wrapped = fixed(strategy, noise_multiplier=sigma, clipping_norm=clip, num_sampled_clients=num_sampled,
                        accountant=accountant)

        def spent() -> tuple[float, float] | None:
            if accountant.num_releases == 0:
                return None
            privacy = accountant.get_privacy_spent()
            return privacy.epsilon, privacy.delta

        return wrapped, spent
    adaptive = (DifferentialPrivacyServerSideAdaptiveClipping if config.client_dp == "server-adaptive"
                else DifferentialPrivacyClientSideAdaptiveClipping)
    # Andrew et al. suggest count noise of m/20; it must exceed sigma/2 for the update noise to exist.
    count_noise = max(num_sampled / 20, sigma)
    return adaptive(strategy, noise_multiplier=sigma, num_sampled_clients=num_sampled,
                    initial_clipping_norm=clip, clipped_count_stddev=count_noise), lambda: None
