"""The KD row's knobs, screened cheaply before 50-round anchor cells: a section of ``docs/anchor.md``.

A 50-round cell of the niid-bench anchor costs over an hour on 2 CPU cores, so which
distillation knob is worth one is asked first of ``simulations/sweeps/niid-bench-screen.yaml``:
the anchor's protocol for 10 rounds, one setting, one seed. Its finished cells are kept in
``docs/anchor-screen.json`` the way the anchor keeps its own (:mod:`pages.measured_cells`),
and :func:`screen_lines` sets each against the screen's CE-only row, same seed. One seed
ranks knobs; it reports none: a knob that leads here earns anchor cells, 3 seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig
from pages.measured_cells import sweep_command, update_stored
from pages.paths import ROOT
from simulations.sweep_spec import SweepSpec, load_spec

SCREEN_FILE = ROOT / "simulations" / "sweeps" / "niid-bench-screen.yaml"
SCREEN_RUNS = ROOT / "results" / "sweeps" / "niid-bench-screen" / "runs"
STORED_NAME = "anchor-screen.json"


def load_screen() -> SweepSpec:
    """The screen's sweep file, parsed."""
    return load_spec(SCREEN_FILE)


def update(spec: SweepSpec, docs: Path, runs: Path) -> list[dict[str, Any]]:
    """Add the screen's finished runs under ``runs`` to ``docs/anchor-screen.json``; the records kept.

    A stored record whose cell the screen file no longer resolves to the same config is
    dropped, and said so.
    """
    records, _ = update_stored(spec, SCREEN_FILE.relative_to(ROOT).as_posix(), docs / STORED_NAME, runs)
    return records


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def pool_lines(spec: SweepSpec) -> list[str]:
    """What each row with a public pool holds out and pretrains on, from its values in the screen file."""
    out = []
    for row, values in spec.row_table().items():
        holdout = int(values.get("public-pool-holdout", 0))
        if holdout:
            student = int(values.get("student-pretrain-samples", 0))
            teacher = int(values.get("teacher-pretrain-samples", 0))
            epochs = int(values.get("teacher-finetune-epochs", FedKDConfig().teacher_finetune_epochs))
            tuned = f"then fine-tuned on each shard for {epochs} epochs" if epochs else "used as they are"
            out.append(f"- {row}: {holdout:,} train images held out of the federation as a public pool (the sites "
                       f"share out the rest); the student starts from CE pretraining on {student:,} of them, the "
                       f"teachers from pretraining on {teacher:,}, {tuned}.")
    return [*out, ""] if out else []


def screen_lines(spec: SweepSpec, records: Sequence[dict[str, Any]]) -> list[str]:
    """The section: each screened row's best and last round, against CE-only on the same seed."""
    rounds = int(spec.base.get("num-server-rounds", 0))
    best = {(r["row"], r["seed"]): r["best"] for r in records}
    out = ["## Screening the KD row", "",
           f"Which distillation knob, if any, lifts fedkd's student above CE-only FedAvg is asked first of a cheap "
           f"screen, `{SCREEN_FILE.relative_to(ROOT).as_posix()}`: the protocol above for {rounds} rounds instead "
           f"of 50 (CE-only FedAvg reaches 89% by round 10), Fashion-MNIST Dirichlet(0.5), seed "
           f"{', '.join(str(s) for s in spec.seeds)}, every row against its pair on the same seed ("
           f"{spec.baseline_row()} unless the row names another). "
           "One seed ranks knobs and reports none: a knob that leads here earns anchor cells, 3 seeds. "
           f"{len(records)} of {len(spec.cells())} screen cells measured.", ""]
    out += pool_lines(spec)
    if records:
        out += [f"| row | best of {rounds} rounds (round) | round {rounds} | against its pair, same seed "
                "| teachers (local test) | measured |", "|---|---|---|---|---|---|"]
        for r in records:
            last, pair = r["curve"][-1], spec.baseline_of(r["row"])
            against = "" if r["row"] == pair or (pair, r["seed"]) not in best else (
                f"{100 * (r['best'] - best[pair, r['seed']]):+.2f} points ({pair})")
            teachers = "-" if r.get("teachers") is None else _percent(r["teachers"])
            out.append(f"| {r['row']} (seed {r['seed']}) | {_percent(r['best'])} ({r['best_round']}) | "
                       f"{'-' if last is None else _percent(last)} | {against} | {teachers} | "
                       f"{r['measured']}, {r['machine']}, {r['seconds'] / 60:.0f} min |")
        out.append("")
    done = {(r["row"], r["seed"]) for r in records}
    missing = [c for c in spec.cells() if (c.row, c.seed) not in done]
    if missing:
        out += ["Still to screen, one command each:", ""]
        out += [f"    {sweep_command(SCREEN_FILE.relative_to(ROOT), c)}" for c in missing] + [""]
    return out
