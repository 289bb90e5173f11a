"""A real deployment on 127.0.0.1, run with the commands of docs/deployment.md.

One SuperLink with TLS and SuperNode authentication, three SuperNodes with data
prepared by ``fedkd site prepare`` from MNIST-1D shards (the third with its own
``mlp`` teacher checkpoint, the others with the default ``cnn1d`` pretrained on a
public pool; each fine-tuned on its shard), the server evaluating on its own
held-out file (``server-test-data``), and two SuperNodes
that must be refused: one with an unregistered key, one without the CA. Every
command comes from the page's code blocks, with this test's values for the
variables; every process started here is stopped by its PID in ``finally``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fedkd.checkpoint import load_model, read_metadata
from fedkd.data.arrays import ArrayDataset
from fedkd.evaluation import evaluate
from tests.e2e.deployment_kit import (
    RUN_TIMEOUT_S,
    WAIT_S,
    argv,
    doc_blocks,
    doc_commands,
    expand,
    flower_env,
    free_port,
    make_sites,
    online_nodes,
    processes,
    run,
    site_teacher,
    wait_for_exit,
    wait_for_port,
)

pytestmark = pytest.mark.e2e


def test_deployment_tls_and_supernode_auth_three_sites_completes_and_refuses_strangers(tmp_path: Path) -> None:
    # Prepare: the doc's variables for one machine, and a private Flower home.
    home = tmp_path / "flwr-home"
    env = flower_env(home)
    certs = tmp_path / "certs"
    values: dict[str, object] = {
        "SERVER_HOST": "127.0.0.1", "PORT": free_port(), "CERTS": certs, "STATE": tmp_path / "state",
        "NUM_SITES": 4, "CONNECTION": "fedkd-deploy", "DATASET": "mnist1d", "CA": certs / "ca.crt",
        "ROUNDS": 2, "TEACHER_EPOCHS": 3, "RESULTS": tmp_path / "results", "RUN_NAME": "deploy",
    }
    (tmp_path / "state").mkdir()
    shards = make_sites(tmp_path, values)
    (certs_line,) = doc_commands("fedkd certs")
    (superlink_line,) = doc_commands("flower-superlink")
    (register_line,) = doc_commands("flwr supernode register")
    (prepare_line,) = doc_commands("fedkd site prepare")
    check_plain, check_teacher = doc_commands("fedkd site check")
    supernode_plain, supernode_teacher = doc_commands("flower-supernode")
    (run_line,) = doc_commands("flwr run")
    (ls_line,) = doc_commands("flwr ls")
    (connection_toml,) = doc_blocks("toml")

    with processes(tmp_path, env) as started:
        # Execute: certificates, the SuperLink, the connection, three registered keys (the fourth stays unknown).
        made = run(expand(certs_line, values), env)
        assert made.returncode == 0, made.stderr
        superlink = started.start("superlink", argv(expand(superlink_line, values)))
        wait_for_port(int(str(values["PORT"])), superlink)
        (home / "config.toml").write_text(expand(connection_toml, values))
        for site in (1, 2, 3):
            registered = run(expand(register_line, {**values, "SITE": site}), env)
            assert registered.returncode == 0, registered.stdout + registered.stderr

        # Each site prepares and checks its data, then starts exactly the command the check printed.
        for site, shard in enumerate(shards, start=1):
            site_values = {**values, "SITE": site, "SITE_NPZ": shard, "SITE_DATA": tmp_path / f"site-{site}",
                           "KEY": certs / f"supernode-{site}", "RUNTIME_PORT": free_port(),
                           "TEACHER": tmp_path / "teacher-mlp.safetensors"}
            prepared = run(expand(prepare_line, site_values), env)
            assert prepared.returncode == 0, prepared.stderr
            if site == 3:
                site_teacher(tmp_path / "site-3", tmp_path / "teacher-mlp.safetensors")
            check_line, supernode_line = (check_teacher, supernode_teacher) if site == 3 else (check_plain,
                                                                                              supernode_plain)
            checked = run(expand(check_line, site_values), env)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            printed = checked.stdout.strip().splitlines()[-1]
            assert printed == expand(supernode_line, site_values)
            started.start(f"supernode-{site}", argv(printed), env={"FEDKD_CACHE_DIR": str(tmp_path / f"cache-{site}")})

        # Two strangers: a key the SuperLink never registered, and a SuperNode that does not trust the CA.
        stranger_values = {**values, "SITE_DATA": tmp_path / "site-1", "KEY": certs / "supernode-4",
                           "RUNTIME_PORT": free_port()}
        unregistered = started.start("unregistered", argv(expand(supernode_plain, stranger_values)))
        no_ca_line = expand(supernode_plain, {**stranger_values, "KEY": certs / "supernode-1",
                                              "RUNTIME_PORT": free_port()})
        no_ca = started.start("no-ca", argv(no_ca_line.replace(f"--root-certificates {certs / 'ca.crt'} ", "")))

        deadline = time.monotonic() + WAIT_S
        while sum(n["status"] == "online" for n in online_nodes(values, env)) < 3:
            assert time.monotonic() < deadline, "the three sites did not come online: " + started.tail("supernode-1")
            time.sleep(2)
        finished = run(expand(run_line, values), env, timeout=RUN_TIMEOUT_S)
        status = json.loads(run(expand(ls_line, values), env).stdout)["runs"]
        nodes = online_nodes(values, env)
        unregistered_code, no_ca_code = wait_for_exit(unregistered), wait_for_exit(no_ca)

    # Assert: the run completed, the strangers were refused and never joined.
    match = re.search(r"Successfully started run (\d+)", finished.stdout + finished.stderr)
    assert match, finished.stdout[-3000:] + finished.stderr[-3000:]
    (run_status,) = [r["status"] for r in status if r["run-id"] == match.group(1)]
    assert run_status == "finished:completed", started.tail("superlink")
    assert len(nodes) == 3 and all(n["status"] == "online" for n in nodes)
    assert unregistered_code != 0 and "Failed to activate SuperNode" in started.tail("unregistered")
    assert no_ca_code != 0 and "CERTIFICATE_VERIFY_FAILED" in started.tail("no-ca")

    # The results: every round, all three sites, the server evaluating on its own file.
    folder = tmp_path / "results" / "deploy"
    document = json.loads((folder / "results.json").read_text())
    rounds = document["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert rounds[-1]["clients_trained"] == 3 and rounds[-1]["clients_evaluated"] == 3
    assert document["config"]["server-test-data"] == str(values["SERVER_TEST"])
    with np.load(str(values["SERVER_TEST"])) as held_out:
        server_test = ArrayDataset(held_out["x"], held_out["y"])
    student, _ = load_model(folder / "student.safetensors")
    final = evaluate(student, server_test, device=torch.device("cpu"))
    assert rounds[-1]["global_accuracy"] == pytest.approx(final.accuracy, abs=1e-6)
    assert rounds[-1]["global_accuracy"] > 0.15  # ten classes: chance is 0.1
    for name in ("results.csv", "accuracy.png", "config.yaml"):
        assert (folder / name).is_file(), name

    # The third site fine-tuned its own mlp checkpoint (teacher-finetune-epochs); the others fine-tuned the cnn1d
    # each pretrained on the public pool (the default).
    tuned = [p for p in (tmp_path / "cache-3" / "teachers").glob("tuned-*.safetensors")
             if not p.name.endswith(".logits.safetensors")]
    assert [read_metadata(p)["architecture"] for p in tuned] == ["mlp"]
    assert list((tmp_path / "cache-3" / "teachers").glob("tuned-*.logits.safetensors"))
    assert not list((tmp_path / "cache-3").glob("pretrained/*"))
    assert not list((tmp_path / "cache-3" / "teachers").glob("*.json"))
    for site in (1, 2):
        trained = [p for p in (tmp_path / f"cache-{site}" / "teachers").glob("*.safetensors")
                   if not p.name.endswith(".logits.safetensors")]
        assert [read_metadata(p)["architecture"] for p in trained] == ["cnn1d"]
        assert list((tmp_path / f"cache-{site}" / "pretrained").glob("*.safetensors"))
