"""Greedy generations of the global LM student from fixed prompts, saved per round so a person can read progress.

Every round (and at round 0, before any training) the server continues each of :data:`GENERATION_PROMPTS`
greedily (no sampling: the same model gives the same text) and rewrites ``generations.jsonl`` in the run's
results folder: one JSON object ``{"round", "prompt", "text"}`` a line, rounds in order, replaced whole
(written beside it, then renamed) so a reader never sees half a file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from fedkd.llm.evaluation import greedy_generate

GENERATION_PROMPTS = (
    "The government said on Monday that",
    "Shares in the company rose after",
    "The film, which stars",
)
"""Short news-style openings (politics, business, entertainment), the same for every run."""

GENERATIONS_FILE = "generations.jsonl"


@dataclass(frozen=True)
class Generation:
    """The greedy continuation (new text only) of one prompt after one round."""

    round: int
    prompt: str
    text: str


def round_generations(model: Any, tokenizer: Any, server_round: int, *, max_new_tokens: int,
                      prompts: tuple[str, ...] = GENERATION_PROMPTS) -> list[Generation]:
    """``model``'s greedy continuation of each prompt, at most ``max_new_tokens`` new tokens each.

    Raises
    ------
    ValueError
        If ``max_new_tokens < 1``.
    """
    texts = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    return [Generation(server_round, prompt, text) for prompt, text in zip(prompts, texts, strict=True)]


class GenerationLog:
    """The generations of every round so far, rewritten atomically to ``directory/generations.jsonl``."""

    def __init__(self, directory: Path):
        self.path = directory / GENERATIONS_FILE
        self.generations: list[Generation] = []

    def append(self, generations: list[Generation]) -> None:
        """Add a round's generations and rewrite the file whole."""
        self.generations.extend(generations)
        lines = (json.dumps(asdict(generation), ensure_ascii=False) + "\n" for generation in self.generations)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, "".join(lines).encode("utf-8"))


def read_generations(path: Path) -> list[Generation]:
    """The generations of a ``generations.jsonl`` (or the run folder holding one), in file order."""
    file = path / GENERATIONS_FILE if path.is_dir() else path
    return [Generation(int(row["round"]), str(row["prompt"]), str(row["text"]))
            for row in map(json.loads, file.read_text(encoding="utf-8").splitlines()) if row]
