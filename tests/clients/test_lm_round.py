"""The causal-LM round through the ClientApp: DP-SGD with the site's ledger and floors, and real sites' own text.

Real Flower messages go to ``clients.app.app`` directly (no SuperLink); the base model is a tiny random
Llama (the code path of SmolLM2) with a word-hash tokenizer, so a round takes seconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from clients.app import app
from clients.site_policy import SITE_REFUSED
from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import read_articles
from fedkd.distill.schedules import round_values
from tests.flower_task import inside_task
from tests.optional_data import needs_llm

pytestmark = needs_llm

BUDGET_SPENT = 4001


@pytest.fixture()
def tiny_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The LM round on a tiny Llama and a word tokenizer, with empty per-process caches."""
    import clients.lm_round as lm_round
    from tests.llm.tiny import WordTokenizer, tiny_llama_model

    base = tiny_llama_model()
    monkeypatch.setattr(lm_round, "base_model", lambda config, node: (base, WordTokenizer()))
    monkeypatch.setattr(lm_round, "_sites", {})
    monkeypatch.setattr(lm_round, "_students", {})
    yield base


def _config(tmp_path: Path, **overrides: object) -> FedKDConfig:
    values: dict[str, object] = {
        "task": "causal-lm", "dataset": "bbc-news", "lm-site-articles": 8, "lm-sequence-length": 16,
        "lm-local-steps": 3, "lm-teacher-steps": 2, "batch-size": 2, "lm-learning-rate": 0.01, "lora-rank": 2,
        "lora-alpha": 4, "cache-dir": str(tmp_path / "cache"), "student-device": "cpu", "teacher-device": "cpu",
        "num-server-rounds": 3}
    return FedKDConfig.from_mapping(values | overrides)


def _train(base: Any, config: FedKDConfig, context: Context, server_round: int) -> Message:
    """One train message carrying fresh adapters, handled by the ClientApp."""
    from fedkd.llm.student import adapter_state, make_lora_student

    sent = adapter_state(make_lora_student(base, rank=2, alpha=4, targets=("q_proj", "v_proj"), seed=0))
    content = RecordDict({"arrays": ArrayRecord(sent),  # type: ignore[arg-type]
                          "config": ConfigRecord({**config.to_dict(), "server-round": server_round,
                                                  **round_values(config, server_round).to_record()})})
    with inside_task():
        return app(Message(content=content, dst_node_id=1, message_type="train"), context)


def _context(node_config: dict[str, Any]) -> Context:
    return Context(run_id=1, node_id=1, node_config=node_config, state=RecordDict(), run_config={})


SIMULATED = {"partition-id": 1, "num-partitions": 5}


def test_lm_train_local_dp_epsilon_finite_grows_each_round_reply_adapters_only(
    tiny_base: Any, tmp_path: Path
) -> None:
    # Prepare
    config = _config(tmp_path, **{"local-dp": True, "dp-noise-multiplier": 1.0, "dp-max-grad-norm": 0.5})
    context = _context(SIMULATED)

    # Execute: three rounds at one site
    replies = [_train(tiny_base, config, context, server_round) for server_round in (1, 2, 3)]

    # Assert: finite epsilons growing with the recorded history; only LoRA tensors travel
    assert not any(reply.has_error() for reply in replies), [r.error for r in replies if r.has_error()]
    metrics = [reply.content.metric_records["metrics"] for reply in replies]
    epsilons = [float(m["epsilon"]) for m in metrics]  # type: ignore[arg-type]
    assert all(math.isfinite(e) and e > 0 for e in epsilons) and epsilons[0] < epsilons[1] < epsilons[2]
    assert metrics[2]["dp-history-steps"] == [9] and metrics[2]["dp-history-noise"] == [1.0]
    assert metrics[0]["site-id"] == metrics[2]["site-id"] and metrics[0]["privacy-scope"] == 1
    for reply in replies:
        assert list(reply.content.array_records) == ["arrays"] and not reply.content.config_records
        names = set(reply.content.array_records["arrays"].to_torch_state_dict())
        assert names and all(".lora_A." in name or ".lora_B." in name for name in names)
    ledgers = list((tmp_path / "cache" / "privacy" / "sites").glob("lm-site-*.json"))
    assert len(ledgers) == 1 and json.loads(ledgers[0].read_text())["history"] == [[1.0, 2 / 6, 9]]


def test_lm_train_noise_below_site_floor_refused_naming_it(tiny_base: Any, tmp_path: Path) -> None:
    # Prepare: the site's floor is above the run's noise
    config = _config(tmp_path, **{"local-dp": True, "dp-noise-multiplier": 0.5})
    context = _context(SIMULATED | {"min-noise-multiplier": 1.0})

    # Execute
    reply = _train(tiny_base, config, context, 1)

    # Assert
    assert reply.has_error() and reply.error.code == SITE_REFUSED
    assert "min-noise-multiplier=1.0" in reply.error.reason
    assert not list((tmp_path / "cache" / "privacy").rglob("*.json"))


def test_lm_train_past_lifetime_epsilon_refused_as_budget_spent(tiny_base: Any, tmp_path: Path) -> None:
    # Prepare: one DP round spends epsilon; the site then caps its lifetime just above that
    config = _config(tmp_path, **{"local-dp": True, "dp-noise-multiplier": 1.0})
    first = _train(tiny_base, config, _context(SIMULATED), 1)
    spent = float(first.content.metric_records["metrics"]["epsilon"])  # type: ignore[arg-type]

    # Execute: the next round, at the same site's data, with the lifetime cap
    reply = _train(tiny_base, config, _context(SIMULATED | {"lifetime-epsilon": spent * 1.01}), 2)

    # Assert
    assert reply.has_error() and reply.error.code == BUDGET_SPENT
    assert "lifetime-epsilon" in reply.error.reason


def test_lm_train_site_requiring_local_dp_refuses_plain_round(tiny_base: Any, tmp_path: Path) -> None:
    reply = _train(tiny_base, _config(tmp_path), _context(SIMULATED | {"require-local-dp": True}), 1)
    assert reply.has_error() and reply.error.code == SITE_REFUSED and "require-local-dp" in reply.error.reason


def _write_jsonl(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")


def _real_node(tmp_path: Path, **extra: object) -> dict[str, Any]:
    return {"data-dir": str(tmp_path / "site"), "cache-dir": str(tmp_path / "site-cache"), **extra}


def test_lm_train_real_site_reads_its_own_jsonl_text(tiny_base: Any, tmp_path: Path) -> None:
    # Prepare: a real site's own documents (BBC articles standing in), seven to train on, two to test
    texts = list(read_articles().texts[:9])
    (tmp_path / "site").mkdir()
    _write_jsonl(tmp_path / "site" / "train.jsonl", texts[:7])
    _write_jsonl(tmp_path / "site" / "test.jsonl", texts[7:])
    config = _config(tmp_path, **{"cache-dir": ""})

    # Execute
    reply = _train(tiny_base, config, _context(_real_node(tmp_path)), 1)

    # Assert: all seven train documents used, its own test file kept apart; the teacher cached in its cache
    assert not reply.has_error(), reply.error
    metrics = reply.content.metric_records["metrics"]
    assert metrics["num-examples"] == 7 and metrics["test-examples"] == 2 and metrics["simulated-site"] == 0
    assert list((tmp_path / "site-cache" / "llm" / "teachers").glob("*.safetensors"))


@pytest.mark.parametrize(
    ("content", "node_extra", "expected"),
    [
        (b'{"text": "caf\xe9 prices rose"}\n', {}, r"train\.jsonl is not UTF-8 text: byte 13 \(line 1\)"),
        (b'{"text": "fine"}\n{"body": "no text"}\n', {},
         r'train\.jsonl line 2 must be a JSON object with a string "text"'),
        (b'{"text": "fine"}\nnot json\n', {}, r"train\.jsonl line 2 is not JSON"),
        (b"\n\n", {}, r"train\.jsonl holds no document"),
        (b'{"text": "' + b"word " * 40 + b'"}\n', {"max-data-bytes": 100}, r"over this site's max-data-bytes=100"),
    ],
)
def test_lm_train_real_site_bad_text_refused_naming_file(
    tiny_base: Any, tmp_path: Path, content: bytes, node_extra: dict[str, object], expected: str
) -> None:
    # Prepare
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "train.jsonl").write_bytes(content)

    # Execute
    reply = _train(tiny_base, _config(tmp_path, **{"cache-dir": ""}), _context(_real_node(tmp_path, **node_extra)), 1)

    # Assert: an error reply naming the file, nothing trained or cached
    assert reply.has_error() and reply.error.code == SITE_REFUSED
    assert str(tmp_path / "site") in reply.error.reason
    assert re.search(expected, reply.error.reason), reply.error.reason
    assert not (tmp_path / "site-cache").exists()


def test_lm_train_real_site_without_train_file_refused(tiny_base: Any, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    reply = _train(tiny_base, _config(tmp_path, **{"cache-dir": ""}), _context(_real_node(tmp_path)), 1)
    assert reply.has_error() and "train.jsonl" in reply.error.reason and "missing" in reply.error.reason


def test_lm_train_node_neither_real_nor_five_topics_refused(tiny_base: Any, tmp_path: Path) -> None:
    reply = _train(tiny_base, _config(tmp_path), _context({"partition-id": 0, "num-partitions": 3}), 1)
    assert reply.has_error() and "data-dir" in reply.error.reason
    assert not (tmp_path / "cache" / "llm").exists()


def test_site_texts_dirichlet_three_sites_each_its_own_share_of_the_split(tmp_path: Path) -> None:
    # Prepare
    from clients.lm_round import site_split, site_texts
    from fedkd.llm.text import bbc_lm_texts
    from fedkd.node_config import NodeConfig

    config = _config(tmp_path, **{"lm-partitioner": "dirichlet", "dirichlet-alpha": 0.5, "seed": 3})

    # Execute: three simulated sites (the topic split needs five)
    texts = [site_texts(config, NodeConfig.from_mapping({"partition-id": i, "num-partitions": 3}))[0]
             for i in range(3)]

    # Assert: each site holds the lm-site-articles first articles of its own share of the seeded split
    split = site_split(config, 3)
    assert (split.partitioner, split.dirichlet_alpha, split.seed, split.num_sites) == ("dirichlet", 0.5, 3, 3)
    assert texts == list(bbc_lm_texts(max_per_site=8, split=split).sites)
    assert all(len(site) == 8 for site in texts) and not set(texts[0]) & set(texts[1])


def test_lm_evaluate_real_site_refuses_server_named_cache_dir(tiny_base: Any, tmp_path: Path) -> None:
    # Prepare: the run names a cache folder; the real site did not choose it
    (tmp_path / "site").mkdir()
    _write_jsonl(tmp_path / "site" / "train.jsonl", ["one document", "another document"])
    config = _config(tmp_path)
    content = RecordDict({"arrays": ArrayRecord({}), "config": ConfigRecord(config.to_dict())})

    # Execute
    with inside_task():
        reply = app(Message(content=content, dst_node_id=1, message_type="evaluate"),
                    _context({"data-dir": str(tmp_path / "site")}))

    # Assert
    assert reply.has_error() and reply.error.code == SITE_REFUSED and "cache-dir" in reply.error.reason
