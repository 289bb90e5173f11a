"""Teachers prepared before the federation: every site's teacher is in the disk cache the clients read."""

from __future__ import annotations

from pathlib import Path

import pytest

import clients.site
import fedkd.teacher
from clients.site import load_site, load_teacher
from fedkd.config import FedKDConfig
from fedkd.node_config import NodeConfig
from simulations.prepare_teachers import prepare_teachers, pretrain_public_teacher


def test_prepare_teachers_every_site_cached_so_clients_load_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    config = FedKDConfig.from_mapping({"cache-dir": str(tmp_path), "teacher-epochs": 1,
                                       "teacher-pretraining": "none"})

    # Execute: two sites on two worker processes, then again.
    first = prepare_teachers(config, 2, workers=2, echo=False)
    second = prepare_teachers(config, 2, workers=2, echo=False)

    # Assert: trained once, then found; a client process (fresh memory) loads each without training.
    assert first == (2, 0)
    assert second == (0, 2)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a client trained a teacher the preparation should have cached")

    monkeypatch.setattr(fedkd.teacher, "train_teacher", no_training)
    clients.site._teachers.clear()
    for partition_id in range(2):
        node = NodeConfig(partition_id=partition_id, num_partitions=2)
        assert load_teacher(config, node, load_site(config, node)).source == "trained"


def test_prepare_teachers_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="workers=0"):
        prepare_teachers(FedKDConfig(), 3, workers=0)


def test_pretrain_public_teacher_pretrains_once_then_says_it_found_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a tiny public pool.
    config = FedKDConfig.from_mapping({"cache-dir": str(tmp_path), "teacher-pretrain-samples": 200,
                                       "teacher-pretrain-epochs": 1})

    # Execute
    first = pretrain_public_teacher(config)
    said_first = capsys.readouterr().out
    second = pretrain_public_teacher(config)
    said_second = capsys.readouterr().out

    # Assert: one file, pretrained the first time and found the second, each time said on the console.
    assert first == second and first is not None and first.is_file()
    assert "public pool of 200 fresh mnist1d samples" in said_first and "pretrained in" in said_first
    assert "found in the cache" in said_second and "public pool" not in said_second


def test_pretrain_public_teacher_shard_only_run_does_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = FedKDConfig.from_mapping({"cache-dir": str(tmp_path), "teacher-pretraining": "none"})

    assert pretrain_public_teacher(config) is None
    assert capsys.readouterr().out == "" and not (tmp_path / "pretrained").exists()


def test_prepare_causal_lm_sites_prepares_lm_teachers_not_classifier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: record which loader each site goes through
    import clients.lm_round
    from simulations.prepare_teachers import _prepare

    seen: list[int | None] = []
    monkeypatch.setattr(clients.lm_round, "load_lm_site", lambda config, node: seen.append(node.partition_id))
    monkeypatch.setattr(clients.site, "load_site", lambda config, node: pytest.fail("classifier site loaded"))
    values = {"task": "causal-lm", "dataset": "bbc-news"}

    # Execute
    count = _prepare(values, [0, 3], 5)

    # Assert
    assert count == 2 and seen == [0, 3]
