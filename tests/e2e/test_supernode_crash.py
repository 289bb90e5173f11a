"""A site's SuperNode killed mid-round in a real deployment on 127.0.0.1, then restarted.

One SuperLink and three SuperNodes (plain loopback, no node authentication, so the
restarted SuperNode joins under a new node id, the hardest case for keeping one
privacy curve per site), local DP on. In round 2, as soon as site 2 says it is
loading its data, its SuperNode and ClientApp process are SIGKILLed and the
SuperNode is started again at once with the same data and cache. The run must
finish; round 2's record must name the failed node and why; the restarted site
must train in rounds 3 and 4 and report its epsilon under the same ``site-id``,
continuing from its ledger (after two rounds of training it stands where another
site stood after two rounds), not from zero.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.deployment_kit import (
    RUN_TIMEOUT_S,
    WAIT_S,
    argv,
    flower_env,
    free_port,
    make_sites,
    online_nodes,
    processes,
    run,
    wait_for_port,
)

pytestmark = pytest.mark.e2e

ROUNDS = 4


def _superlink(port: int, state: Path) -> str:
    return (f"flower-superlink --insecure --disable-runtime-dependency-installation --host 127.0.0.1 --port {port} "
            f"--database {state}")


def _supernode(port: int, data: Path) -> str:
    return (f"flower-supernode --insecure --superlink 127.0.0.1:{port} --port {free_port()} "
            f"--node-config \"data-dir='{data}'\"")


def _wait_for_line(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in {log} within {timeout} s"
        time.sleep(0.1)


def test_supernode_killed_mid_round_run_finishes_names_it_and_restarted_site_continues_its_epsilon(
        tmp_path: Path) -> None:
    # Prepare: the server's state, a connection, and three sites prepared by the site kit.
    env = flower_env(tmp_path / "flwr-home")
    port = free_port()
    values: dict[str, object] = {"CONNECTION": "crash"}
    (tmp_path / "flwr-home" / "config.toml").write_text(
        f'[superlink.crash]\naddress = "127.0.0.1:{port}"\ninsecure = true\n')
    shards = make_sites(tmp_path, values)
    sites = []
    for number, shard in enumerate(shards, start=1):
        folder = tmp_path / f"site-{number}"
        prepared = run(f"fedkd site prepare --dataset mnist1d --npz {shard} --out {folder}", env)
        assert prepared.returncode == 0, prepared.stderr
        sites.append(folder)
    run_config = (f"num-server-rounds={ROUNDS} teacher-pretraining='none' teacher-epochs=2 local-dp=true "
                  "dp-noise-multiplier=1.0 "
                  f"output-dir='{tmp_path / 'results'}' run-name='crash' server-test-data='{values['SERVER_TEST']}'")

    with processes(tmp_path, env) as started:
        superlink = started.start("superlink", argv(_superlink(port, tmp_path / "state.db")))
        wait_for_port(port, superlink)
        for number, folder in enumerate(sites, start=1):
            started.start(f"site-{number}", argv(_supernode(port, folder)),
                          env={"FEDKD_CACHE_DIR": str(tmp_path / f"cache-{number}")})
        deadline = time.monotonic() + WAIT_S
        while sum(n["status"] == "online" for n in online_nodes(values, env)) < 3:
            assert time.monotonic() < deadline, "the three sites did not come online: " + started.tail("site-1")
            time.sleep(2)
        # Execute: the run in the background; kill site 2 in round 2, restart it at once.
        flwr = started.start("flwr-run", argv(f'flwr run . crash --stream --run-config "{run_config}"'))
        _wait_for_line(started.log("site-2"), "round 2 train: loading the site's data and teacher", RUN_TIMEOUT_S)
        started.kill("site-2")
        started.start("site-2-restarted", argv(_supernode(port, sites[1])),
                      env={"FEDKD_CACHE_DIR": str(tmp_path / "cache-2")})
        flwr.wait(timeout=RUN_TIMEOUT_S)
        runs = json.loads(run("flwr ls crash --format json", env).stdout)["runs"]

    # Assert: the run completed, with every round recorded.
    assert [r["status"] for r in runs] == ["finished:completed"], started.tail("flwr-run")
    rounds = json.loads((tmp_path / "results" / "crash" / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == list(range(ROUNDS + 1))
    # Round 2 names the dead node (its id, not the SuperLink's) and the SuperLink's reason; the others trained.
    assert rounds[1]["failures"] == {} and rounds[1]["clients_trained"] == 3
    ((dead_node, reason),) = rounds[2]["failures"].items()
    assert "Node Unavailable" in reason and dead_node != "1"
    assert rounds[2]["clients_trained"] == 2 and rounds[2]["error_replies"] == 1 and rounds[2]["replies_dropped"] == 0
    assert all(r["clients_trained"] == 3 and r["failures"] == {} for r in rounds[3:])
    # One curve per site: three site ids in every round after the restart, and site 2's continues its ledger.
    first, second, third = (r["epsilon_per_client"] for r in rounds[1:4])
    assert set(first) == set(third) and len(third) == 3
    (restarted,) = set(first) - set(second)
    others = sorted(set(first) - {restarted})
    assert third[restarted] > first[restarted]
    assert third[restarted] == pytest.approx(second[others[0]])  # two rounds of DP-SGD each on equal shards
    assert "[fedkd site" in started.tail("site-2-restarted")
