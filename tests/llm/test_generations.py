"""The server's per-round greedy generations from fixed prompts, on a tiny Llama, and their file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fedkd.llm.generations import (
    GENERATION_PROMPTS,
    GENERATIONS_FILE,
    Generation,
    GenerationLog,
    read_generations,
    round_generations,
)
from tests.llm.tiny import WordTokenizer
from tests.optional_data import needs_llm


@needs_llm
def test_round_generations_same_model_twice_same_text_with_the_token_budget(tiny_llama: Any) -> None:
    # Execute
    first = round_generations(tiny_llama, WordTokenizer(), 3, max_new_tokens=5)
    second = round_generations(tiny_llama, WordTokenizer(), 3, max_new_tokens=5)

    # Assert: greedy is deterministic; one record per fixed prompt, new tokens only (WordTokenizer: a word a token)
    assert first == second
    assert [(g.round, g.prompt) for g in first] == [(3, prompt) for prompt in GENERATION_PROMPTS]
    assert [len(g.text.split()) for g in first] == [5, 5, 5]
    assert len({g.text for g in first}) > 1  # the prompts steer the continuation


@needs_llm
def test_round_generations_longer_budget_extends_the_shorter_text(tiny_llama: Any) -> None:
    # Execute
    short = round_generations(tiny_llama, WordTokenizer(), 0, max_new_tokens=3)
    long = round_generations(tiny_llama, WordTokenizer(), 0, max_new_tokens=7)

    # Assert: greedy decoding picks the same first tokens whatever the budget, then stops at it
    for brief, extended in zip(short, long, strict=True):
        assert len(brief.text.split()) == 3 and len(extended.text.split()) == 7
        assert extended.text.split()[:3] == brief.text.split()


@needs_llm
def test_round_generations_no_new_token_refused(tiny_llama: Any) -> None:
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1, got 0"):
        round_generations(tiny_llama, WordTokenizer(), 1, max_new_tokens=0)


def test_generation_log_each_round_appended_and_read_back_in_order(tmp_path: Path) -> None:
    # Prepare
    log = GenerationLog(tmp_path / "run")
    rounds = [[Generation(r, prompt, f"text {r} «{i}»\nline") for i, prompt in enumerate(GENERATION_PROMPTS)]
              for r in range(3)]

    # Execute
    for generations in rounds:
        log.append(generations)

    # Assert: one line per round and prompt, rounds in order, text (newlines, non-ASCII) kept exactly
    assert read_generations(tmp_path / "run") == [g for generations in rounds for g in generations]
    assert len((tmp_path / "run" / GENERATIONS_FILE).read_text(encoding="utf-8").splitlines()) == 9


def test_generation_log_failed_rewrite_keeps_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: round 0 written
    log = GenerationLog(tmp_path)
    log.append([Generation(0, "p", "before")])
    before = (tmp_path / GENERATIONS_FILE).read_bytes()

    def failing_replace(source: Any, target: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)

    # Execute: round 1's rewrite fails at the rename
    with pytest.raises(OSError, match="disk full"):
        log.append([Generation(1, "p", "after")])

    # Assert: the file is round 0's, whole, and no temporary is left beside it
    assert (tmp_path / GENERATIONS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [GENERATIONS_FILE]
