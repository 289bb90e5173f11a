"""docs/llm.md renders the measurements it is given, and states the default the numbers support."""

from __future__ import annotations

from typing import Any

from pages.llm_page import render


def _row(perplexity: float, accuracy: float) -> dict[str, Any]:
    return {"perplexity": perplexity, "accuracy": accuracy, "loss": 0.0, "tokens": 10, "train_seconds": 12.0,
            "losses": [1.0], "generations": ["the markets", "rose"]}


def _data(truncated: float) -> dict[str, Any]:
    settings = {"articles": 32, "length": 64, "teacher_steps": 16, "batch_size": 4, "steps": 8, "lr": 0.002,
                "rank": 8, "alpha": 0.5, "temperature": 2.0, "student_layers": 10, "test_articles": 16}
    rows = {"base": _row(60.4, 0.313), "teacher": _row(40.2, 0.35), "truncated-untrained": _row(3.5e5, 0.0),
            "truncated-kd": _row(truncated, 0.05), "full-ce": _row(45.5, 0.33), "full-kd": _row(44.1, 0.34)}
    return {"site": "business", "settings": settings, "rows": rows, "threads": 2}


def test_render_measurements_table_rows_carry_the_numbers() -> None:
    page = render(_data(9000.0))
    assert "| public base model (SmolLM2-135M-Instruct) | 60.4 | 0.313 | 12 |" in page
    assert "| truncated student, untrained | 350,000.0 | 0.000 |" in page
    assert page.index("site teacher") < page.index("full-size student + LoRA, token KD")
    assert "'the markets' / 'rose'" in page


def test_render_truncated_worse_than_full_size_defaults_to_full_size() -> None:
    assert "the default is the full-size student" in render(_data(9000.0))
    assert "the default is the full-size student" not in render(_data(30.0))
    assert "KD lower" in render(_data(9000.0))
    assert "worse than CE alone" not in render(_data(9000.0))  # the teacher (40.2) beats CE (45.5) there
