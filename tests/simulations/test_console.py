"""What the harness prints of Flower's stream: round lines, real warnings and errors, no colour, no noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedkd.config import FedKDConfig
from simulations.console import ResentRounds, console_line, failure_reason, header, summary

ROUND = "[fedkd] round 1/2: global student accuracy 0.2390 (loss 2.0739) | 50.4s"


@pytest.mark.parametrize("line", [
    f"INFO :      {ROUND}\n",
    f"\x1b[92mINFO \x1b[0m:      {ROUND}\n",
])
def test_console_line_round_line_is_kept_without_prefix_or_colour(line: str) -> None:
    assert console_line(line) == ROUND


@pytest.mark.parametrize("line", [
    "INFO :      configure_train: Sampled 2 nodes (out of 2)\n",
    "INFO :      \t├── ConfigRecord (train): {'num-server-rounds': 2}\n",
    "Using SuperLink: fedkd-private (127.0.0.1:44619)\n",
    "WARNING :   Since flwr 1.32, default simulated SuperNodes changed from 10 to 2.\n",
    "[2026-12-01 00:19:03,123 E 1234 1250] logging.cc:108: Mutex corrupt: waking unlocked\n",
    "*** SIGABRT received at time=1764548343 on cpu 1 ***\n",
])
def test_console_line_flower_info_and_known_harmless_noise_are_dropped(line: str) -> None:
    assert console_line(line) is None


def test_console_line_real_warning_is_kept_in_plain_words() -> None:
    assert console_line("\x1b[93mWARNING \x1b[0m:   Node 7 did not reply\n") == "warning: Node 7 did not reply"


def test_console_line_verbose_keeps_everything_and_strips_colour_off_a_terminal() -> None:
    line = "\x1b[92mINFO \x1b[0m:      configure_train: Sampled 2 nodes\n"

    assert console_line(line, verbose=True) == "INFO :      configure_train: Sampled 2 nodes"
    assert console_line(line, verbose=True, colour=True) == line.rstrip("\n")


def test_header_and_summary_name_the_run_and_its_results() -> None:
    config = FedKDConfig.from_mapping({"num-server-rounds": 2, "seed": 5})
    rounds = [{"round": 0, "global_accuracy": 0.1}, {"round": 1, "global_accuracy": 0.6},
              {"round": 2, "global_accuracy": 0.5}]

    assert header(config, num_supernodes=4, results_dir=Path("/r/x")) == (
        "fedkd: mnist1d, 4 clients, 2 rounds, seed 5, student mlp; results in /r/x")
    assert summary(rounds, Path("/r/x")) == (
        "fedkd: done: final accuracy 0.5000 (round 2), best 0.6000 (round 1); results in /r/x")


def test_header_text_encoder_names_the_truncated_minilm_student() -> None:
    config = FedKDConfig.from_mapping({"task": "text-encoder", "dataset": "bbc-news", "encoder-student-layers": 3})

    line = header(config, num_supernodes=5, results_dir=Path("/r/x"))

    assert "bbc-news, 5 clients" in line and "student MiniLM (3 layers) + LoRA;" in line


def test_failure_reason_is_the_last_exception_line_of_the_output() -> None:
    output = Path(__file__).with_name("failed_run.txt").read_text()

    assert failure_reason(output) == "fedkd.config.ConfigError: kd-alpha=1.5 is not allowed: must be in [0, 1]"
    assert failure_reason("INFO : x\nERROR :     Exit Code: 700\n") == "ERROR :     Exit Code: 700"


def test_console_line_a_resumed_run_says_where_it_continues() -> None:
    line = "\x1b[92mINFO \x1b[0m:      [fedkd] resuming after round 2 of 4 from /r/run\n"

    assert console_line(line) == "[fedkd] resuming after round 2 of 4 from /r/run"


def test_resent_rounds_drops_a_round_line_flower_delivered_twice_and_nothing_else() -> None:
    # Prepare: a stream where Flower's log uploader resent a batch (round 0 twice), and a repeated warning.
    stream = ["[fedkd] round 0/2: global student accuracy 0.0740 (loss 2.3170) | 0.1s",
              "[fedkd] round 0/2: global student accuracy 0.0740 (loss 2.3170) | 0.1s",
              "warning: a site replied late", "warning: a site replied late",
              "[fedkd] round 1/2: global student accuracy 0.1730 (loss 1.9727) | 3.2s"]

    # Execute
    resent = ResentRounds()
    shown = [line for line in stream if not resent.resent(line)]

    # Assert: the round line once, both warnings (they may legitimately repeat), round 1.
    assert shown == stream[:1] + stream[2:]
