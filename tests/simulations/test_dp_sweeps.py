"""The dp-* sweep files behind docs/privacy.md: they load, and each no-DP sweep is its DP sweep without DP."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.flower_run import resolved_config
from simulations.sweep import load_spec

SWEEPS = Path(__file__).resolve().parents[2] / "simulations" / "sweeps"
DP_ONLY = {"local-dp", "dp-target-epsilon", "dp-batch-size", "dp-learning-rate", "dp-local-epochs", "experiment"}


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("dp-*.yaml")), ids=lambda p: p.stem)
def test_dp_sweep_file_loads(path: Path) -> None:
    spec = load_spec(path)

    assert spec.name == path.stem and spec.seeds == (0, 1, 2)


@pytest.mark.parametrize("stage", ["before", "tuned"])
def test_dp_no_dp_sweep_differs_from_its_dp_sweep_in_dp_keys_only(stage: str) -> None:
    dp, nodp = load_spec(SWEEPS / f"dp-mnist1d-{stage}.yaml"), load_spec(SWEEPS / f"dp-mnist1d-{stage}-nodp.yaml")

    private = resolved_config({**dp.base, **dp.rows()[0]}).to_dict()
    plain = resolved_config({**nodp.base, **nodp.rows()[0]}).to_dict()

    assert private["local-dp"] and not plain["local-dp"]
    assert {key for key in private if private[key] != plain[key]} <= DP_ONLY
