"""The federated causal-LM runs of ``docs/llm.md``: each round's held-out scores and the greedy generations.

A run's ``results.json`` (and the ``generations.jsonl`` beside it, when the run wrote one) is summarised
into a small JSON under ``docs/`` (``python -m pages.llm_page --federated-results ...``); the page renders
the summary: one row per round, then the continuations of the server's fixed prompts at round 0 (the
untrained student) and at the last round.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fedkd.llm.generations import GENERATIONS_FILE, read_generations
from pages.paths import DOCS

FEDERATED = DOCS / "llm-federated.json"
FEDERATED_DIRICHLET = DOCS / "llm-federated-dirichlet.json"
ROUND_KEYS = ("round", "global_perplexity", "global_accuracy", "bytes_received", "clients_trained", "round_seconds")
CONFIG_KEYS = ("num-server-rounds", "lm-site-articles", "lm-test-articles", "lm-sequence-length", "lm-local-steps",
               "lm-teacher-steps", "batch-size", "lora-rank", "lora-targets", "kd-alpha", "kd-temperature")
SPLIT_KEYS = ("lm-partitioner", "dirichlet-alpha", "lm-generation-tokens")
"""Shown when the run's config has them (runs before these keys existed split by topic)."""


def federated_summary(results: dict[str, Any], generations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The parts of a run's ``results.json`` the page shows: its budget keys, each round's record and, when
    given, the generations of round 0 and of the last round."""
    config = results["config"]
    summary: dict[str, Any] = {
        "config": {k: config[k] for k in CONFIG_KEYS} | {k: config[k] for k in SPLIT_KEYS if k in config},
        "rounds": [{k: row.get(k) for k in ROUND_KEYS} for row in results["rounds"]]}
    if generations:
        shown = {0, max(int(g["round"]) for g in generations)}
        summary["generations"] = [g for g in generations if int(g["round"]) in shown]
    return summary


def run_generations(results_file: Path) -> list[dict[str, Any]] | None:
    """The generations the run of ``results_file`` wrote beside it, or None if it wrote none."""
    path = results_file.parent / GENERATIONS_FILE
    return [asdict(g) for g in read_generations(path)] if path.is_file() else None


def split_words(config: dict[str, Any]) -> str:
    """How the run's simulated sites shared BBC News, in words."""
    partitioner = config.get("lm-partitioner", "topic")
    if partitioner == "topic":
        return "5 simulated sites, one per topic"
    if partitioner == "dirichlet":
        return f"5 simulated sites sharing the topics by Dirichlet({config['dirichlet-alpha']})"
    return f"5 simulated sites split by {partitioner}"


def federated_section(summary: dict[str, Any], *, heading: str, experiment: str) -> list[str]:
    """The Markdown of one run: its settings, a row per round, and its generations if it has them."""
    c = summary["config"]
    lines = [heading, "",
             f"`simulations/experiments/{experiment}` through Flower ({split_words(c)}; "
             f"{c['lm-site-articles']} articles a site, {c['lm-sequence-length']}-token blocks, "
             f"{c['lm-teacher-steps']} teacher and {c['lm-local-steps']} student steps of batch {c['batch-size']}, "
             f"LoRA rank {c['lora-rank']} on {c['lora-targets']}; the server scores {c['lm-test-articles']} held-out "
             "articles of every topic). Round 0 is the untouched base model. The bytes are what the server received: "
             "the five sites' adapter tensors (the float32 base model is 538 MB). Round 1's time includes every "
             "site fine-tuning its teacher, or loading it where the harness prepared the teachers before round 0 "
             "(`--prepare-teachers`, on by default); the sites share the machine's 2 CPU cores.", "",
             "| round | held-out perplexity | next-token accuracy | MB received | seconds |",
             "|---:|---:|---:|---:|---:|"]
    for row in summary["rounds"]:
        lines.append(f"| {row['round']} | {row['global_perplexity']:.2f} | {row['global_accuracy']:.3f} | "
                     f"{(row['bytes_received'] or 0) / 1e6:.2f} | {row['round_seconds']:.0f} |")
    return [*lines, "", *_generations(summary.get("generations") or [], c.get("lm-generation-tokens"))]


def _generations(generations: list[dict[str, Any]], tokens: int | None) -> list[str]:
    if not generations:
        return []
    rounds = sorted({int(g["round"]) for g in generations})
    lines = [f"Greedy continuations of the server's fixed prompts ({tokens} new tokens, `generations.jsonl` in the "
             f"run's folder), at {' and '.join(f'round {r}' for r in rounds)} (round 0: the untrained student):", ""]
    for prompt in dict.fromkeys(g["prompt"] for g in generations):
        texts = {int(g["round"]): g["text"] for g in generations if g["prompt"] == prompt}
        shown = " / ".join(f"round {r}: {texts[r].strip()!r}" for r in rounds if r in texts)
        lines.append(f"- *{prompt}* ... {shown}")
    return [*lines, ""]


def split_comparison(topic: dict[str, Any], dirichlet: dict[str, Any]) -> list[str]:
    """One sentence setting the Dirichlet run's last round beside the topic run's, when their budgets match."""
    if any(topic["config"][k] != dirichlet["config"][k] for k in CONFIG_KEYS):
        return ["The two runs differ in more than the split (see their settings): their numbers do not compare.", ""]
    last_topic, last_dirichlet = topic["rounds"][-1], dirichlet["rounds"][-1]
    return [f"With the same budgets, the held-out perplexity after round {last_dirichlet['round']} is "
            f"{last_dirichlet['global_perplexity']:.2f} with Dirichlet sites against "
            f"{last_topic['global_perplexity']:.2f} with one topic a site (round 0, the base model: "
            f"{dirichlet['rounds'][0]['global_perplexity']:.2f} and {topic['rounds'][0]['global_perplexity']:.2f}); "
            "one seed each, so a difference of this size is not a finding.", ""]
