"""What a person sees of a run: a header, one line per round, a summary.

``flwr run --stream`` relays every log line of the ServerApp and of Flower itself
(hundreds per run: the strategy's configuration dumps, its "Final results" dump,
Ray's shutdown noise). By default the harness keeps only fedkd's round lines and
Flower's warnings and errors, less the known harmless ones; ``--verbose`` keeps
everything. Colour codes are removed whenever the output is not a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig
from simulations.comparison import Comparison

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ROUND = re.compile(r"\[fedkd\] (round|resuming after round) .*")
LEVEL = re.compile(r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\s*:\s*")

# Lines known to be harmless, and why (docs/console.md lists them).
HARMLESS = (
    # Ray's worker processes abort on a corrupt mutex while the simulation shuts down, after the run finished.
    re.compile(r"Mutex corrupt|SIGABRT|failure_signal_handler|^\s*(PC: )?@\s+0x|\*\*\* .* received at time="),
    # Flower warns that its default SuperNode count changed; the harness always sets num-supernodes.
    re.compile(r"default (number of )?simulated SuperNodes|num-supernodes.*changed", re.IGNORECASE),
    # Flower's deprecation notes about its own APIs.
    re.compile(r"DEPRECATED FEATURE|deprecated", re.IGNORECASE),
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return ANSI.sub("", text)


def console_line(line: str, *, verbose: bool = False, colour: bool = False) -> str | None:
    """What to print of one line of ``flwr run`` output, or ``None`` to drop it.

    Parameters
    ----------
    line : str
        One line as Flower streams it (with or without its newline).
    verbose : bool
        Keep every line, not just rounds, warnings and errors.
    colour : bool
        Keep colour codes (only when printing to a terminal).
    """
    plain = strip_ansi(line).rstrip("\n")
    if verbose:
        return line.rstrip("\n") if colour else plain
    found = ROUND.search(plain)
    if found:
        return found.group(0)
    level = LEVEL.match(plain)
    if level and level.group("level") in ("WARNING", "ERROR", "CRITICAL"):
        if any(pattern.search(plain) for pattern in HARMLESS):
            return None
        return f"{level.group('level').lower()}: {plain[level.end():]}"
    return None


class ResentRounds:
    """Recognises a round line that arrives a second time.

    Flower's log uploader (``flwr.supercore.logger._log_uploader``) keeps a batch of
    log lines and sends it again after a transport error, even when the SuperLink had
    already stored it, so on a loaded machine a round line can reach the stream twice
    (seen in CI: ``round 0/2`` twice). A round line carries its round number and its
    duration, so two identical ones are one line sent twice; other lines may
    legitimately repeat and always pass.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def resent(self, shown: str) -> bool:
        """Whether ``shown`` is a round line already seen; remembers it otherwise."""
        if not ROUND.search(strip_ansi(shown)):
            return False
        if shown in self._seen:
            return True
        self._seen.add(shown)
        return False


EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\w*(: .*)?$")


def failure_reason(output: str) -> str:
    """The last exception line of a failed run's output (``fedkd.config.ConfigError: kd-alpha=1.5 ...``),
    else its last error line, else a pointer to ``--verbose``."""
    lines = [strip_ansi(line).rstrip() for line in output.splitlines()]
    for line in reversed(lines):
        if EXCEPTION.match(line):
            return line
    errors = [line for line in lines if line.startswith("ERROR")]
    return errors[-1] if errors else "Flower reported no error line"


def header(config: FedKDConfig, *, num_supernodes: int, results_dir: Path) -> str:
    """One line naming the run: dataset, clients, rounds, seed, where results go."""
    student = config.student
    if config.task == "text-encoder":
        student = f"MiniLM ({config.encoder_student_layers or 'all'} layers) + LoRA"
    return (f"fedkd: {config.dataset}, {num_supernodes} clients, {config.num_server_rounds} rounds, "
            f"seed {config.seed}, student {student}; results in {results_dir}")


def summary(rounds: Sequence[Mapping[str, Any]], results_dir: Path) -> str:
    """One line: final and best global accuracy (with its round), and the results folder."""
    scored = [r for r in rounds if r.get("global_accuracy") is not None]
    if not scored:
        return f"fedkd: done, no round was evaluated; results in {results_dir}"
    final = scored[-1]
    best = max(scored, key=lambda r: float(r["global_accuracy"]))
    return (f"fedkd: done: final accuracy {float(final['global_accuracy']):.4f} (round {final['round']}), "
            f"best {float(best['global_accuracy']):.4f} (round {best['round']}); results in {results_dir}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def comparison_line(comparison: Comparison) -> str:
    """The run's global student beside the CE-only FedAvg student and the mean local teacher, one line.

    ``[fedkd] global student 53.1% | CE-only FedAvg student 46.6% (same config, no distillation) |
    mean local teacher 61.0% (same test set)``.
    """
    return (f"[fedkd] global student {_percent(comparison.student)} | CE-only FedAvg student "
            f"{_percent(comparison.ce_only)} (same config, no distillation) | mean local teacher "
            f"{_percent(comparison.teacher_mean)} (same test set)")
