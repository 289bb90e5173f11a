"""Flower's niid-bench anchor on Fashion-MNIST, measured a few cells at a time: ``docs/anchor.{json,md}``.

The protocol (``simulations/sweeps/niid-bench.yaml``) is 30 runs of 50 rounds x 10 local
epochs, more than a day on 2 CPU cores: more than one sitting. So the page keeps every
finished cell it has seen. It reads the finished runs under
``results/sweeps/niid-bench/runs``, adds them to ``docs/anchor.json`` (a cell measured on
another day or machine stays there as long as the sweep file still resolves it to the
same config; one whose config changed is dropped, and said so), and writes
``docs/anchor.md``: each row's best-round accuracy over the seeds measured so far beside
the published band, and the command for every cell still to run. A cheaper screen of the KD
row's knobs (:mod:`pages.anchor_screen`) has its own section. Run::

    python -m simulations.sweep simulations/sweeps/niid-bench.yaml --settings iid --rows "fedkd KD" --seeds 2
    python -m pages.anchor_page
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from pages import anchor_screen
from pages.measured_cells import sweep_command, update_stored
from pages.paths import DOCS, ROOT
from simulations.sweep_spec import Cell, SweepSpec, load_spec

SWEEP_FILE = ROOT / "simulations" / "sweeps" / "niid-bench.yaml"
RUNS = ROOT / "results" / "sweeps" / "niid-bench" / "runs"
PUBLISHED_SPREAD = {"dirichlet": 0.0029, "iid": 0.0045}
"""The ± of the published FedAvg accuracy over 3 seeds (Flower Baselines, niid-bench README); its mean is
the setting's ``target`` in the sweep file."""
SHOWN_ROUNDS = (1, 5, 10, 20, 30, 40, 50)
REPRODUCTION = "niid-bench CNN FedAvg"
"""The sweep's row that reproduces the published FedAvg (its CNN, CE only, whole shards)."""


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def verdict(values: Sequence[float], target: float, spread: float, seeds: int) -> str:
    """How a row's mean stands against the published band, and whether all its seeds are in."""
    mean = statistics.mean(values)
    if abs(mean - target) <= spread:
        where = "within the band"
    else:
        where = f"{100 * abs(mean - target):.2f} points {'above' if mean > target else 'below'} the band's centre"
    return where if len(values) == seeds else f"{where} (provisional: {len(values)} of {seeds} seeds)"


def summary(spec: SweepSpec, records: Sequence[dict[str, Any]]) -> str:
    """One sentence for other pages: how many cells are measured and each measured row's best-round mean."""
    parts = []
    for setting, info in spec.settings.items():
        rows = []
        for row in spec.row_table():
            values = [r["best"] for r in records if r["setting"] == setting and r["row"] == row]
            if values:
                rows.append(f"{row} {_percent(statistics.mean(values))} ({len(values)} of {len(spec.seeds)} seeds)")
        if rows:
            parts.append(f"{info.label}: {', '.join(rows)}")
    measured = f"{len(records)} of {len(spec.cells())} cells measured"
    return f"{measured}; " + "; ".join(parts) + "." if parts else f"{measured}."


def _command(cell: Cell) -> str:
    return sweep_command(SWEEP_FILE.relative_to(ROOT), cell)


def setting_lines(spec: SweepSpec, setting: str, records: Sequence[dict[str, Any]]) -> list[str]:
    """One setting's table: each row's best-round accuracy over the seeds measured, against the anchor."""
    info = spec.settings[setting]
    target, spread = info.target, PUBLISHED_SPREAD[setting]
    rows = [r for r in spec.row_table() if info.runs(r)]
    seeds = len(spec.seeds)
    out = [f"## {info.label}", "",
           f"Published FedAvg: {_percent(target or 0)} ± {100 * spread:.2f} (best round, 3 seeds).", "",
           "| row | seeds measured | best-round accuracy, mean | seed spread | against the published FedAvg |",
           "|---|---|---|---|---|"]
    by_row = {row: [r for r in records if r["setting"] == setting and r["row"] == row] for row in rows}
    for row, measured in by_row.items():
        values = [r["best"] for r in measured]
        if not values:
            out.append(f"| {row} | 0 of {seeds} | not measured yet | | |")
            continue
        listed = ", ".join(str(r["seed"]) for r in measured)
        out.append(f"| {row} | {len(values)} of {seeds} ({listed}) | {_percent(statistics.mean(values))} | "
                   f"{_percent(min(values))} to {_percent(max(values))} | "
                   f"{verdict(values, target or 0.0, spread, seeds)} |")
    best = best_by_seed(records, setting)
    for row in by_row:
        pair = spec.baseline_of(row)
        words = paired_words(best.get(row, {}), best.get(pair, {}))
        if row != pair and words:
            out += ["", f"{row} against {pair}, {words}."]
    return out + [""]


def best_by_seed(records: Sequence[dict[str, Any]], setting: str) -> dict[str, dict[int, float]]:
    """Each measured row of one setting: its best-round accuracy by seed."""
    out: dict[str, dict[int, float]] = {}
    for r in records:
        if r["setting"] == setting:
            out.setdefault(r["row"], {})[r["seed"]] = r["best"]
    return out


def paired_words(row: dict[int, float], pair: dict[int, float]) -> str:
    """A row against its pair over the seeds both have: mean difference, range, and how many seeds it leads;
    empty when they share no seed."""
    deltas = [row[seed] - pair[seed] for seed in sorted(row) if seed in pair]
    if not deltas:
        return ""
    ahead = sum(d > 0 for d in deltas)
    return (f"paired by seed over {len(deltas)} seeds: {100 * statistics.mean(deltas):+.2f} points "
            f"({100 * min(deltas):+.2f} to {100 * max(deltas):+.2f}; ahead in {ahead} of {len(deltas)})")


def finding_lines(spec: SweepSpec, records: Sequence[dict[str, Any]]) -> list[str]:
    """What the measured cells say so far, per setting: the reproduction against the published band, and
    the best row with every seed in, against the band and against its pair."""
    seeds = len(spec.seeds)
    out: list[str] = []
    for setting, info in spec.settings.items():
        target, spread = info.target or 0.0, PUBLISHED_SPREAD[setting]
        best = best_by_seed(records, setting)
        lines = []
        if REPRODUCTION in best:
            values = list(best[REPRODUCTION].values())
            lines.append(f"- The reproduction ({REPRODUCTION}): {_percent(statistics.mean(values))}, "
                         f"{verdict(values, target, spread, seeds)}.")
        complete = {row: by_seed for row, by_seed in best.items() if len(by_seed) == seeds}
        if complete:
            row = max(complete, key=lambda name: statistics.mean(complete[name].values()))
            values = list(complete[row].values())
            pair = spec.baseline_of(row)
            against = paired_words(complete[row], best.get(pair, {})) if pair != row else ""
            lines.append(f"- The best row with all {seeds} seeds in ({row}): {_percent(statistics.mean(values))}, "
                         f"{verdict(values, target, spread, seeds)}"
                         + (f"; against {pair}, {against}" if against else "") + ".")
        if lines:
            out += [f"{info.label}, best round over {seeds} seeds:", "", *lines, ""]
    return (["## What it shows so far", "", *out]) if out else []


def curve_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """Each measured cell's accuracy at a few rounds, where it peaked, its sites' teachers, where and how long it ran.

    The teachers' figure is the mean over sites of each site's teacher on its own local test
    split (the shard's label mix, where a site's teacher is at home), not the global test set.
    """
    head = " | ".join(f"round {r}" for r in SHOWN_ROUNDS)
    out = [f"| cell | seed | {head} | best (round) | teachers (local test) | measured |",
           "|---|---|" + "---|" * len(SHOWN_ROUNDS) + "---|---|---|"]
    for r in records:
        shown = " | ".join("" if n >= len(r["curve"]) or r["curve"][n] is None else _percent(r["curve"][n])
                           for n in SHOWN_ROUNDS)
        teachers = "-" if r.get("teachers") is None else _percent(r["teachers"])
        out.append(f"| {r['setting']} / {r['row']} | {r['seed']} | {shown} | {_percent(r['best'])} "
                   f"({r['best_round']}) | {teachers} | {r['measured']}, {r['machine']}, {r['seconds'] / 60:.0f} min |")
    return out


def cost_words(records: Sequence[dict[str, Any]]) -> str:
    """What a cell has cost so far, per row and machine, from the measured cells' own round times."""
    if not records:
        return "not timed yet; one CE-only round took 54 s on 2 CPU cores, so about 45 minutes a cell there"
    spent: dict[tuple[str, str], list[float]] = {}
    for r in records:
        spent.setdefault((r["row"], r["machine"]), []).append(r["seconds"] / 60)
    return "; ".join(f"{row}: {statistics.mean(minutes):.0f} minutes a cell on {where}"
                     for (row, where), minutes in spent.items())


def render(spec: SweepSpec, records: Sequence[dict[str, Any]],
           screen: tuple[SweepSpec, Sequence[dict[str, Any]]] | None = None) -> str:
    """The whole page; with ``screen`` (the screen's sweep and its records), its section too."""
    cells = spec.cells()
    done = {(r["setting"], r["row"], r["seed"]) for r in records}
    missing = [c for c in cells if (c.setting, c.row, c.seed) not in done]
    out = [
        "# Flower's niid-bench anchor on Fashion-MNIST",
        "",
        "Generated by `python -m pages.anchor_page` from `docs/anchor.json`, which keeps every cell of "
        "`simulations/sweeps/niid-bench.yaml` measured so far, on whichever day and machine (each row below says "
        "which); a cell counts only while the sweep file still resolves it to the config it ran with.",
        "",
        "The protocol is Flower Baselines' niid-bench (after Li et al., *Federated Learning on Non-IID Data "
        "Silos*, ICDE 2022): Fashion-MNIST over 10 clients, 50 rounds of 10 local epochs, SGD learning rate 0.01, "
        "momentum 0.9, batch 64, every client in every round, accuracy on the 10,000-image test set after every "
        "round and the best over the rounds reported, 3 seeds. The rows:",
        "",
        "- **niid-bench CNN FedAvg** is the reproduction: niid-bench's own CNN (`cnn-niid-bench`: 5x5 "
        "convolutions of 6 and 16 channels without padding, hidden layers of 120 and 84, 44,426 parameters), "
        "CE only, each client training on its whole shard. What still differs: niid-bench's weight decay of "
        "1e-5 (fedkd's SGD has none) and its own Dirichlet sampler (fedkd's is flwr-datasets').",
        "- **CE-only FedAvg** is fedkd's student, `cnn-small` (5x5 convolutions of 8 and 16 channels with "
        "padding, one hidden layer of 64; 54,314 parameters), CE only. Like every fedkd run, each site keeps "
        "20% of its shard as a local test split and trains on the rest.",
        "- **fedkd KD** distils that same student from each site's private `cnn-large` teacher, trained on the "
        "site's shard; nothing else differs from CE-only FedAvg, and the two are paired by seed below.",
        "- **The public-pool rows** leave the protocol on purpose, to ask whether teachers that know more than "
        "their shard lift fedkd above FedAvg here; the KD one is paired with the CE-only one with the same pool, "
        "and that one with CE-only FedAvg:",
        *[f"  {line}" if line else "" for line in anchor_screen.pool_lines(spec)],
        f"{len(records)} of {len(cells)} cells measured.",
        "",
    ]
    out += finding_lines(spec, records)
    for setting in spec.settings:
        out += setting_lines(spec, setting, records)
    if records:
        out += ["## Each measured cell", "",
                "Teachers: the mean over sites of each site's private `cnn-large` teacher on the site's own local "
                "test split (trained on its shard, so strong on its own label mix; a run without a local test "
                "split has no figure). A teacher that is no better than the federated student teaches it "
                "little.", "", *curve_lines(records), ""]
    if screen is not None:
        out += anchor_screen.screen_lines(*screen)
    if missing:
        out += ["## Still to run", "", f"Each is one command ({cost_words(records)}); then "
                "`python -m pages.anchor_page`.", ""]
        out += [f"    {_command(c)}" for c in missing] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Add the finished runs to ``docs/anchor.json``; rewrite it and ``docs/anchor.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the sweep's runs are (default: its own)")
    parser.add_argument("--screen-runs", type=Path, default=anchor_screen.SCREEN_RUNS,
                        help="where the screen's runs are (default: its own)")
    parser.add_argument("--docs", type=Path, default=DOCS)
    args = parser.parse_args(argv)
    spec = load_spec(SWEEP_FILE)
    stored = args.docs / "anchor.json"
    records, found = update_stored(spec, SWEEP_FILE.relative_to(ROOT).as_posix(), stored, args.runs)
    screen = anchor_screen.load_screen()
    screened = anchor_screen.update(screen, args.docs, args.screen_runs)
    write_atomic(args.docs / "anchor.md", render(spec, records, (screen, screened)).encode())
    print(f"found {found} finished cells; {len(records)} of {len(spec.cells())} kept in {stored}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
