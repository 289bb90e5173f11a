"""The federated causal-LM runs on docs/llm.md: per-round scores, the split in words, round 0 and last generations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedkd.llm.generations import Generation, GenerationLog
from pages.llm_federated import federated_section, federated_summary, run_generations

CONFIG = {"num-server-rounds": 2, "lm-site-articles": 24, "lm-test-articles": 40, "lm-sequence-length": 48,
          "lm-local-steps": 4, "lm-teacher-steps": 8, "batch-size": 4, "lora-rank": 8, "lora-targets": "q_proj,v_proj",
          "kd-alpha": 0.5, "kd-temperature": 2.0, "lm-partitioner": "dirichlet", "dirichlet-alpha": 0.5,
          "lm-generation-tokens": 24, "seed": 0}
ROUNDS = [{"round": r, "global_perplexity": 90.0 - 10 * r, "global_accuracy": 0.3, "bytes_received": r * 9293480,
           "round_seconds": 12.0} for r in range(3)]


def _run(folder: Path) -> Path:
    """A run's folder as the server leaves it: results.json and generations.jsonl of rounds 0-2."""
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"config": CONFIG, "rounds": ROUNDS}))
    log = GenerationLog(folder)
    for r in range(3):
        log.append([Generation(r, "Shares in", f"fell {r}"), Generation(r, "The film", f"stars {r}")])
    return folder / "results.json"


def test_federated_summary_keeps_round_zero_and_last_generations_and_the_split(tmp_path: Path) -> None:
    # Prepare
    results = _run(tmp_path / "run")

    # Execute
    summary = federated_summary(json.loads(results.read_text()), run_generations(results))

    # Assert
    assert [(g["round"], g["text"]) for g in summary["generations"]] == [
        (0, "fell 0"), (0, "stars 0"), (2, "fell 2"), (2, "stars 2")]
    assert summary["config"]["lm-partitioner"] == "dirichlet" and "seed" not in summary["config"]


def test_federated_section_renders_rows_split_and_generations_per_prompt(tmp_path: Path) -> None:
    # Prepare
    results = _run(tmp_path / "run")
    summary = federated_summary(json.loads(results.read_text()), run_generations(results))

    # Execute
    page = "\n".join(federated_section(summary, heading="### D", experiment="bbc-news-lm-dirichlet.yaml"))

    # Assert
    assert "5 simulated sites sharing the topics by Dirichlet(0.5)" in page
    assert "| 2 | 70.00 | 0.300 | 18.59 | 12 |" in page
    assert "- *Shares in* ... round 0: 'fell 0' / round 2: 'fell 2'" in page
    assert "- *The film* ... round 0: 'stars 0' / round 2: 'stars 2'" in page


def test_federated_section_run_without_generations_or_split_keys_reads_as_by_topic(tmp_path: Path) -> None:
    # Prepare: a run from before generations and lm-partitioner existed
    old: dict[str, Any] = {k: v for k, v in CONFIG.items() if k not in ("lm-partitioner", "dirichlet-alpha")}
    (tmp_path / "results.json").write_text(json.dumps({"config": old, "rounds": ROUNDS}))

    # Execute
    summary = federated_summary({"config": old, "rounds": ROUNDS}, run_generations(tmp_path / "results.json"))
    page = "\n".join(federated_section(summary, heading="## A federated run", experiment="bbc-news-lm.yaml"))

    # Assert
    assert "generations" not in summary and "Greedy continuations" not in page
    assert "5 simulated sites, one per topic" in page


def test_split_comparison_same_budgets_compares_last_rounds_else_says_they_do_not_compare() -> None:
    # Prepare
    from pages.llm_federated import split_comparison

    dirichlet = federated_summary({"config": CONFIG, "rounds": ROUNDS})
    topic_rounds = [{**r, "global_perplexity": 91.0 - 9 * r["round"]} for r in ROUNDS]
    topic = federated_summary({"config": {**CONFIG, "lm-partitioner": "topic"}, "rounds": topic_rounds})
    other = federated_summary({"config": {**CONFIG, "lm-test-articles": 16}, "rounds": topic_rounds})

    # Execute
    compared, refused = " ".join(split_comparison(topic, dirichlet)), " ".join(split_comparison(other, dirichlet))

    # Assert
    assert "after round 2 is 70.00 with Dirichlet sites against 73.00 with one topic a site" in compared
    assert "(round 0, the base model: 90.00 and 91.00)" in compared
    assert "do not compare" in refused and "70.00" not in refused
