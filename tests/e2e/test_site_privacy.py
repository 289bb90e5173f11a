"""End to end through Flower: a site's epsilon belongs to its data, so it composes across runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulations.flower_run import run_simulation

pytestmark = pytest.mark.e2e


def test_second_run_on_the_same_data_continues_each_sites_epsilon(tmp_path: Path) -> None:
    # Prepare: two runs of the same config on the same sites' caches (a site's disk outlives runs).
    def run(name: str) -> list[dict[str, object]]:
        overrides = {"num-server-rounds": 2, "teacher-epochs": 3,
                     "teacher-pretraining": "none", "local-dp": True, "dp-noise-multiplier": 1.2,
                     "output-dir": str(tmp_path), "run-name": name, "cache-dir": str(tmp_path / "cache")}
        folder = run_simulation(num_supernodes=2, run_config=overrides, echo=False, timeout=600)
        return list(json.loads((folder / "results.json").read_text())["rounds"])

    # Execute: run B's clients are new processes with new node ids; only the disk remains.
    run_a, run_b = run("a"), run("b")

    # Assert: the same two site ids, and each site's epsilon goes on rising where run A left it.
    curves = [r["epsilon_per_client"] for r in [*run_a[1:], *run_b[1:]]]
    assert all(set(c) == set(curves[0]) for c in curves) and len(curves[0]) == 2
    for site in curves[0]:
        epsilons = [float(c[site]) for c in curves]  # type: ignore[index]
        assert epsilons == sorted(epsilons) and len(set(epsilons)) == 4
        assert epsilons[2] > epsilons[1]  # run B round 1 > run A final
    assert all(r["error_replies"] == 0 for r in [*run_a, *run_b])
