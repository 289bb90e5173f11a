"""Render the measured tables of hand-written pages from the benchmarks' JSON, between marker comments.

``python -m pages.bench_tables`` rewrites, in ``docs/scale.md``, the simulation-overhead table
(``bench/results/simulation_overhead*.json``), the site-count table (``bench/results/scale.json``) and
the delivery-sweep table (``bench/results/delivery_sweep.json``), and, in ``docs/first-hour.md``, the
install-size table (``bench/results/install_size.json``), so that no measured number in those pages is
typed by hand. A test fails when a page differs from what this writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from pages.paths import DOCS, ROOT

RESULTS = ROOT / "bench" / "results"
OVERHEAD_RUNS = {
    "simulation_overhead_before.json": "before the harness changes",
    "simulation_overhead_one_client_at_a_time.json": "after, 1 client at a time",
    "simulation_overhead_loaded.json": "after, default placement, `evaluate-every=1`",
    "simulation_overhead_evaluate_every_5.json": "after, default placement, `evaluate-every=5`",
    "simulation_overhead_quiet.json": "quiet machine, `evaluate-every=1` (then the default), TensorBoard files on",
    "simulation_overhead_quiet_evaluate_every_5.json": "quiet machine, default placement, `evaluate-every=5`",
    "simulation_overhead_evaluate_every_1.json": "quiet machine, `evaluate-every=1`, teachers cached",
    "simulation_overhead.json": "quiet machine, **the default** (`evaluate-every=5`), teachers cached",
}


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RESULTS / name).read_text())
    return loaded


def overhead_table() -> str:
    """Steady-state simulated round against the plain loop, one row per saved run."""
    rows = ["| run | clients at once | load average (1 min) | simulated s/round | plain loop s/round | ratio | file |",
            "|---|---|---|---|---|---|---|"]
    for name, label in OVERHEAD_RUNS.items():
        run = _load(name)
        at_once = run.get("client_resources", {}).get("at_once", 1)
        load = run.get("load_average_1min_before_after")
        load_text = f"{load[0]:.1f} / {load[1]:.1f}" if load else "not recorded"
        rows.append(f"| {label} | {at_once} | {load_text} | {run['simulation_round_seconds_median']:.2f} | "
                    f"{run['plain_loop_round_seconds_median']:.2f} | {run['ratio_simulation_over_plain']:.2f} | "
                    f"`{name}` |")
    return "\n".join(rows)


def install_table() -> str:
    """Venv size and pip time of each install variant."""
    rows = ["| variant | venv with torch (MB) | venv total (MB) | added by fedkd (MB) | pip time of fedkd (s) |",
            "|---|---|---|---|---|"]
    for name, variant in _load("install_size.json")["variants"].items():
        rows.append(f"| {name} | {variant['venv_with_torch_mb']:.0f} | {variant['venv_total_mb']:.0f} | "
                    f"{variant['added_by_fedkd_mb']:.0f} | {variant['fedkd_install_s']:.0f} |")
    return "\n".join(rows)


SCALE_SITES = (10, 100, 1000, 10000)


def scale_table(document: dict[str, Any] | None = None) -> str:
    """One row per site count of ``bench/results/scale.json``; a count not measured says why."""
    document = _load("scale.json") if document is None else document
    by_count = {row["num_supernodes"]: row for row in document["rows"]}
    rows = ["| sites | sampled per round | rounds | wall (min) | teachers (s) | start-up (s) | in rounds (s) | "
            "round 1 (s) | median round (s) | peak RSS, tree (MB) | peak PSS, tree (MB) | final accuracy | "
            "load average (1 min) | nice |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for count in sorted({*SCALE_SITES, *by_count}):
        row = by_count.get(count)
        if row is None or "skipped" in row:
            reason = row["skipped"] if row else "not measured yet"
            rows.append(f"| {count:,} | not run: {reason} |" + " |" * 12)
            continue
        load = row["load_average_1min_before_after"]
        rows.append(f"| {count:,} | {row['sampled_per_round']} | {row['rounds']} | {row['wall_seconds'] / 60:.1f} | "
                    f"{row['teacher_seconds']:.0f} | {row['startup_seconds']:.0f} | {row['round_seconds_total']:.0f} | "
                    f"{row['round_seconds_first']:.1f} | {row['round_seconds_median']:.1f} | "
                    f"{row['peak_rss_mb']:,.0f} | {row['peak_pss_mb']:,.0f} | {row['final_global_accuracy']:.4f} | "
                    f"{load[0]:.1f} / {load[1]:.1f} | {row['niceness']} |")
    return "\n".join(rows)


def delivery_sweep_table(document: dict[str, Any] | None = None) -> str:
    """One row per site count of ``bench/results/delivery_sweep.json``."""
    document = _load("delivery_sweep.json") if document is None else document
    rows = ["| sites | messages in flight | one sweep (CPU s) | one sweep (wall s) | nodes timed | "
            "load average (1 min) |",
            "|---|---|---|---|---|---|"]
    for row in document["rows"]:
        timed = f"{row['nodes_swept']:,} of {row['num_supernodes']:,}" if row["sweep_extrapolated"] else "all"
        rows.append(f"| {row['num_supernodes']:,} | {row['messages_in_flight']:,} | "
                    f"{row['sweep_cpu_seconds_median']:.4g} | {row['sweep_seconds_median']:.4g} | {timed} | "
                    f"{row['load_average_1min']:.1f} |")
    return "\n".join(rows)


TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "overhead": (DOCS / "scale.md", overhead_table),
    "scale": (DOCS / "scale.md", scale_table),
    "delivery-sweep": (DOCS / "scale.md", delivery_sweep_table),
    "install-size": (DOCS / "first-hour.md", install_table),
}


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- generated:{name} (python -m pages.bench_tables) -->\n", f"<!-- end:{name} -->"


def rendered(page: str, name: str, table: str) -> str:
    """``page`` with the block between ``name``'s markers replaced by ``table``."""
    start, end = _markers(name)
    head = page.index(start) + len(start)
    return page[:head] + table + "\n" + page[page.index(end, head):]


def main() -> None:
    """Rewrite every marked table."""
    for name, (path, table) in TABLES.items():
        write_atomic(path, rendered(path.read_text(), name, table()).encode())
        print(f"wrote the {name} table of {path}")


if __name__ == "__main__":
    main()
