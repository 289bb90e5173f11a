"""docs/llm.md renders the measurements it is given, and states the default the numbers support."""

from __future__ import annotations

from typing import Any

import pytest

from pages.llm_page import render


def _row(perplexity: float, accuracy: float) -> dict[str, Any]:
    return {"perplexity": perplexity, "accuracy": accuracy, "loss": 0.0, "tokens": 10, "train_seconds": 12.0,
            "losses": [1.0], "generations": ["the markets", "rose"]}


def _data(truncated: float) -> dict[str, Any]:
    settings = {"articles": 32, "length": 64, "teacher_steps": 16, "batch_size": 4, "steps": 8, "lr": 0.002,
                "rank": 8, "alpha": 0.5, "temperature": 2.0, "student_layers": 10, "test_articles": 16,
                "seed": 0}
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


def test_render_federated_rounds_table_from_results_summary() -> None:
    # Prepare: a run's results.json as the ResultsWriter writes it
    from pages.llm_page import federated_summary

    config = {"num-server-rounds": 1, "lm-site-articles": 24, "lm-test-articles": 16, "lm-sequence-length": 48,
              "lm-local-steps": 4, "lm-teacher-steps": 8, "batch-size": 4, "lora-rank": 8,
              "lora-targets": "q_proj,v_proj", "kd-alpha": 0.5, "kd-temperature": 2.0, "seed": 0}
    rounds = [{"round": 0, "global_perplexity": 89.93, "global_accuracy": 0.2965, "bytes_received": 0,
               "round_seconds": 11.8},
              {"round": 1, "global_perplexity": 74.59, "global_accuracy": 0.3019, "bytes_received": 9293480,
               "clients_trained": 5, "round_seconds": 355.9, "train_loss": 3.0}]

    # Execute
    summary = federated_summary({"config": config, "rounds": rounds})
    page = render(_data(9000.0), summary)

    # Assert
    assert "seed" not in summary["config"] and "train_loss" not in summary["rounds"][1]
    assert "| 1 | 74.59 | 0.302 | 9.29 | 356 |" in page
    assert page.index("## A federated run") < page.index("### Which layers")


def test_render_teacher_sweep_rows_sorted_by_teacher_steps() -> None:
    # Prepare
    from pages.llm_page import teacher_sweep

    longer, shorter = _data(9000.0), _data(9000.0)
    longer["settings"] = {**longer["settings"], "teacher_steps": 48}
    longer["rows"] = {**longer["rows"], "teacher": _row(210.5, 0.31), "full-kd": _row(65.7, 0.34)}

    # Execute
    rows = teacher_sweep([longer, shorter])
    page = render(_data(9000.0), None, rows)

    # Assert
    assert [r["teacher_steps"] for r in rows] == [16, 48]
    assert "| 16 | 40.2 | 44.1 | 45.5 |" in page and "| 48 | 210.5 | 65.7 | 45.5 |" in page


def test_render_seed_rows_mark_absent_top_k_with_dash() -> None:
    # Prepare
    from pages.llm_page import seed_rows

    other = _data(4000.0)
    other["settings"] = {**other["settings"], "seed": 1, "top_k": 32}
    other["rows"] = {**other["rows"], "full-kd-top-k": _row(46.5, 0.34)}
    first = _data(9000.0)
    first["settings"] = {**first["settings"], "seed": 0}

    # Execute
    page = render(_data(9000.0), None, None, seed_rows([other, first]))

    # Assert
    assert "| 0 | 44.1 | - | 45.5 | 9,000.0 | - |" in page
    assert "| 1 | 44.1 | 46.5 | 45.5 | 4,000.0 | 32 |" in page


def _headline_run(seed: int, teacher: float, kd: float, ce: float) -> dict[str, Any]:
    data = _data(9000.0)
    data["settings"] |= {"seed": seed, "teacher_seed": seed, "teacher_lr": 0.001, "teacher_eval_every": 4,
                         "teacher_patience": 3, "teacher_holdout": 0.2, "output": f"/tmp/s{seed}.json"}
    data["rows"]["teacher"] = _row(teacher, 0.3) | {"early_stopping": {
        "scored_steps": [0, 4, 8], "perplexities": [50.0, 30.0, 33.0], "best_step": 4, "steps_run": 8}}
    data["rows"]["full-kd"], data["rows"]["full-ce"] = _row(kd, 0.3), _row(ce, 0.3)
    return data


def test_render_headline_kd_losing_says_by_how_much_and_why() -> None:
    # Prepare
    from pages.llm_page import headline_summary

    summary = headline_summary([_headline_run(0, 41.0, 42.0, 40.0), _headline_run(1, 42.0, 41.5, 41.0),
                                _headline_run(2, 40.0, 39.0, 39.5)])

    # Execute
    page = render(_data(9000.0), headline=summary)

    # Assert: per-seed rows with the teacher's kept step, the mean gap (2.0 + 0.5 - 0.5) / 3, the reason
    assert "| 0 | 60.4 | 41.0 (4 / 8) | 42.00 | 40.00 | +2.00 |" in page
    assert "| 2 | 60.4 | 40.0 (4 / 8) | 39.00 | 39.50 | -0.50 |" in page
    assert "**CE only wins: KD's held-out perplexity is 0.67 above CE-only's on average" in page
    assert "lower in 1 of 3 paired seeds" in page and "teacher (mean 41.0) is no better" in page


def test_render_headline_kd_winning_says_so() -> None:
    from pages.llm_page import headline_summary

    page = render(_data(9000.0), headline=headline_summary([_headline_run(0, 30.0, 38.0, 40.0)]))
    assert "**token KD wins: KD's held-out perplexity is 2.00 below" in page and "lower in 1 of 1" in page


def test_headline_summary_runs_of_different_protocols_raise() -> None:
    from pages.llm_page import headline_summary

    other = _headline_run(1, 41.0, 42.0, 40.0)
    other["settings"]["steps"] = 99
    with pytest.raises(ValueError, match="one protocol"):
        headline_summary([_headline_run(0, 41.0, 42.0, 40.0), other])


def test_render_dp_students_beside_the_same_seeds_plain_ones() -> None:
    # Prepare: a DP run of seed 0 and the headline whose seed 0 holds the plain students
    from pages.llm_page import headline_summary

    headline = headline_summary([_headline_run(0, 41.0, 42.0, 40.0)])
    dp_run = _headline_run(0, 41.0, 42.0, 40.0)
    dp_run["settings"] |= {"dp_noise": 1.0, "dp_clip": 1.0, "dp_delta": 1e-5}
    dp_run["rows"] |= {"full-kd-dp": _row(55.5, 0.3), "full-ce-dp": _row(54.25, 0.3), "full-kd-dp-epsilon": 3.456}

    # Execute
    page = render(_data(9000.0), headline=headline, dp_run=dp_run)

    # Assert
    assert "Epsilon 3.46 at delta 1e-05" in page
    assert "| token KD | 42.00 | 55.50 |" in page and "| CE only | 40.00 | 54.25 |" in page


def test_render_dp_students_near_base_explained_by_noise_scale() -> None:
    from pages.llm_page import headline_summary

    dp_run = _headline_run(0, 41.0, 42.0, 40.0)
    dp_run["settings"] |= {"dp_noise": 1.0, "dp_clip": 1.0, "dp_delta": 1e-5}
    near = dp_run["rows"] | {"full-kd-dp": _row(59.0, 0.3), "full-ce-dp": _row(60.0, 0.3), "full-kd-dp-epsilon": 4.7}
    far = near | {"full-ce-dp": _row(45.0, 0.3)}
    headline = headline_summary([_headline_run(0, 41.0, 42.0, 40.0)])
    assert "standard deviation 0.25 per adapter" in render(_data(9000.0), headline=headline,
                                                           dp_run=dp_run | {"rows": near})
    assert "standard deviation" not in render(_data(9000.0), headline=headline, dp_run=dp_run | {"rows": far})
