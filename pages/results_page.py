"""Generate ``docs/results.md`` (and ``docs/results.json``) from real runs.

For MNIST-1D and Fashion-MNIST, each with Dirichlet(0.5) and IID shards over 10
clients, this runs two federated simulations through Flower (``flwr run`` via
:mod:`simulations.run`): the KD student (the experiment file's settings) and the
CE-only student (``kd-alpha=1``, everything else identical). Beside them, on the
same data: the local teachers the clients used, evaluated on the global test set,
and the centralized student and teacher. No number on the page is typed by hand
except the published anchors, which are quoted with their sources.

A federated run whose results folder already holds a complete ``results.json``
for the identical resolved config is reused, so a re-run after a crash is cheap;
centralized baselines are cached the same way.

Run: ``python -m pages.results_page [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedkd.config import FedKDConfig
from fedkd.io import write_atomic
from pages.paths import CACHE, ROOT, SWEEP
from simulations.baselines import centralized_student, centralized_teacher, local_teachers
from simulations.flower_run import resolved_config
from simulations.method_catalog import HINTON_KD
from simulations.reuse import run_or_reuse

if TYPE_CHECKING:
    from simulations.sweep_spec import SweepSpec


@dataclass(frozen=True)
class Setting:
    """One dataset x partitioning cell of the page."""

    dataset: str
    partitioning: str
    experiment: str
    num_clients: int = 10
    overrides: tuple[tuple[str, Any], ...] = ()


SETTINGS = (
    Setting("MNIST-1D", "Dirichlet(0.5)", "mnist1d-dirichlet.yaml"),
    Setting("MNIST-1D", "IID", "mnist1d-iid.yaml"),
    # Ten rounds, not the files' twenty, to fit the generating session's CPU time; the page says so.
    Setting("Fashion-MNIST", "Dirichlet(0.5)", "fashion-mnist-dirichlet.yaml", overrides=(("num-server-rounds", 10),)),
    Setting("Fashion-MNIST", "IID", "fashion-mnist-iid.yaml", overrides=(("num-server-rounds", 10),)),
)
QUICK = (Setting("MNIST-1D", "IID", "mnist1d-iid.yaml", 3, (("num-server-rounds", 2), ("teacher-epochs", 5))),)


def _run_config(setting: Setting, kd: bool) -> dict[str, Any]:
    name = f"{Path(setting.experiment).stem}-{'kd' if kd else 'ce'}-n{setting.num_clients}"
    values: dict[str, Any] = {"experiment": setting.experiment, "cache-dir": str(CACHE),
                              "output-dir": str(SWEEP), "run-name": name, **HINTON_KD, **dict(setting.overrides)}
    if not kd:
        values["kd-alpha"] = 1.0
    return values


def resolved(values: dict[str, Any]) -> FedKDConfig:
    """The config a run with these run-config values resolves to."""
    return resolved_config(values, ROOT)


def federated(setting: Setting, kd: bool) -> list[dict[str, Any]]:
    """The rounds of one federated run, reusing a finished identical run."""
    return run_or_reuse(num_supernodes=setting.num_clients, run_config=_run_config(setting, kd))


def _cached(name: str, key: dict[str, Any], compute: Any) -> Any:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = SWEEP / "baselines" / f"{name}-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())["value"]
    value = compute()
    write_atomic(path, json.dumps({"key": key, "value": value}).encode())
    return value


def measure(setting: Setting) -> dict[str, Any]:
    """Every number of one setting."""
    kd_rounds, ce_rounds = federated(setting, True), federated(setting, False)
    config = resolved(_run_config(setting, True))
    teachers = local_teachers(config, setting.num_clients)
    student_key = {k: v for k, v in config.to_dict().items() if k not in ("run-name", "output-dir", "experiment")}
    return {
        "setting": asdict(setting),
        "config": config.to_dict(),
        "kd_rounds": kd_rounds,
        "ce_rounds": ce_rounds,
        "local_teachers": teachers.per_site,
        "centralized_student": _cached("student", student_key, lambda: centralized_student(config)),
        "centralized_teacher": _cached("teacher", student_key, lambda: centralized_teacher(config)),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _final(rounds: list[dict[str, Any]]) -> float:
    return float(rounds[-1]["global_accuracy"])


def _best(rounds: list[dict[str, Any]]) -> float:
    return max(float(r["global_accuracy"]) for r in rounds)


def _mean(rounds: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in rounds if r.get(key) is not None and r["round"] > 0]
    return sum(values) / len(values)


def summary_table(m: dict[str, Any]) -> list[str]:
    """The summary rows of one setting."""
    cfg, kd, ce, teachers = m["config"], m["kd_rounds"], m["ce_rounds"], m["local_teachers"]
    lines = [
        "| model | final accuracy | best accuracy | bytes per round | seconds per round |",
        "|---|---|---|---|---|",
    ]
    for label, rounds in ((f"KD student ({cfg['student']}, kd-alpha={cfg['kd-alpha']}, T={cfg['kd-temperature']})", kd),
                          (f"CE-only student ({cfg['student']}, kd-alpha=1.0)", ce)):
        traffic = _mean(rounds, "bytes_sent") + _mean(rounds, "bytes_received")
        steady = [r for r in rounds if r["round"] >= 2]  # round 1 also loads (or trains) the teachers
        lines.append(f"| {label} | {_pct(_final(rounds))} | {_pct(_best(rounds))} | {traffic / 1e6:.2f} MB | "
                     f"{_mean(steady, 'round_seconds'):.1f} |")
    lines += [
        f"| local teachers ({cfg['teacher']}), mean of {len(teachers)} | {_pct(sum(teachers) / len(teachers))} | | | |",
        f"| best local teacher | {_pct(max(teachers))} | | | |",
        f"| centralized student ({cfg['student']}, {cfg['num-server-rounds'] * cfg['local-epochs']} epochs) | "
        f"{_pct(m['centralized_student'])} | | | |",
        f"| centralized teacher ({cfg['teacher']}, {cfg['teacher-epochs']} epochs) | "
        f"{_pct(m['centralized_teacher'])} | | | |",
    ]
    return lines


def rounds_table(m: dict[str, Any]) -> list[str]:
    """Global and mean client accuracy per round, KD against CE-only."""
    lines = ["| round | KD global | CE-only global | KD mean client | CE-only mean client |", "|---|---|---|---|---|"]
    for kd, ce in zip(m["kd_rounds"], m["ce_rounds"], strict=True):
        lines.append(f"| {kd['round']} | {_pct(kd['global_accuracy'])} | {_pct(ce['global_accuracy'])} | "
                     f"{_pct(kd.get('client_accuracy_mean'))} | {_pct(ce.get('client_accuracy_mean'))} |")
    return lines


def findings(measured: list[dict[str, Any]]) -> list[str]:
    """Sentences derived from the numbers, one per setting."""
    lines = []
    for m in measured:
        s = m["setting"]
        kd, ce = _final(m["kd_rounds"]), _final(m["ce_rounds"])
        teacher = sum(m["local_teachers"]) / len(m["local_teachers"])
        gap = 100 * (kd - ce)
        verdict = ("beat" if gap > 1.0 else "fell behind" if gap < -1.0 else "matched (within 1 point)")
        sentence = (f"- **{s['dataset']}, {s['partitioning']}**: the KD student {verdict} the CE-only student "
                    f"({_pct(kd)} vs {_pct(ce)}, {gap:+.1f} points). The local teachers reach {_pct(teacher)} on "
                    f"the global test set on average (best {_pct(max(m['local_teachers']))})")
        if teacher < ce:
            sentence += (", below the CE-only federated student: each knows only its own shard, so it has "
                         "little to teach")
        else:
            sentence += ", above the CE-only federated student"
        sentence += (f". The centralized student reaches {_pct(m['centralized_student'])}, the centralized teacher "
                     f"{_pct(m['centralized_teacher'])}.")
        lines.append(sentence)
    return lines


def anchor_summary(docs: Path = ROOT / "docs") -> str:
    """The niid-bench anchor's rows and the cells measured so far (``docs/anchor.json``), for the anchors list."""
    from pages import anchor_page
    from simulations.sweep_spec import load_spec

    stored = docs / "anchor.json"
    records = json.loads(stored.read_text())["cells"] if stored.is_file() else []
    spec = load_spec(anchor_page.SWEEP_FILE)
    settings = " and ".join(info.label for info in spec.settings.values())
    return (f"The anchor's own protocol (rows: {'; '.join(spec.row_table())}; {settings}; {len(spec.seeds)} seeds, "
            f"best round) is `{anchor_page.SWEEP_FILE.relative_to(ROOT)}`; [anchor.md](anchor.md) keeps the cells "
            "measured so far, against the published band, and the command for each cell still to run. "
            "So far: " + anchor_page.summary(spec, records) + "".join(_finding_words(spec, records)))


def _finding_words(spec: SweepSpec, records: list[dict[str, Any]]) -> list[str]:
    """The anchor page's findings (the reproduction against the band, the best complete row), as sentences."""
    from pages import anchor_page

    return [" " + line.removeprefix("- ") if line.startswith("- ") else " " + line.rstrip(":") + ":"
            for line in anchor_page.finding_lines(spec, records)[2:] if line]


def extra_sections(docs: Path) -> list[str]:
    """The method table and the privacy table, from their own generators' JSON, when present."""
    from pages import methods_page, privacy_page

    out: list[str] = []
    methods = docs / "methods.json"
    if methods.is_file():
        data = json.loads(methods.read_text())
        meta = data["meta"]
        out += ["## Which distillation method helps, and where", "",
                f"From `{meta['command']}` ({meta['date']}, seeds {meta['seeds']}); details in "
                "[methods.md](methods.md).", "", *methods_page.table_lines(data)]
    privacy = docs / "privacy.json"
    if privacy.is_file():
        out += ["## Privacy against utility", "",
                "From `python -m pages.privacy_page`; details in [privacy.md](privacy.md). Dirichlet(0.5), "
                "10 clients, delta 1e-5, seed 0; every epsilon is the one the run reported, not the target.", "",
                *privacy_page.table_lines(json.loads(privacy.read_text())), "", *privacy_page.coverage_lines(), ""]
    return out


def render(measured: list[dict[str, Any]], seconds: float, command: str, today: str | None = None) -> str:
    """The whole markdown page."""
    today = today or datetime.date.today().isoformat()
    out = [
        "# fedkd results",
        "",
        f"Generated by `{command}` on {today} in {seconds / 60:.0f} minutes, on {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}), torch {version('torch')}, flwr {version('flwr')}. "
        "Every number below comes from that run (federated runs through `flwr run`, baselines with fedkd's own "
        "functions on the same data); `docs/results.json` holds them all, per round. Where a results folder "
        "already held a complete run of the identical resolved config, that run was reused instead of repeated. "
        "Seconds per round are the mean of rounds 2 onwards (round 1 also loads, or on first use trains, the "
        "teachers); bytes per round count the payload of train and evaluate messages.",
        "",
        "Accuracy is the global student's top-1 accuracy on the dataset's held-out test set, evaluated by the "
        "server every round. Seed 0, one seed per cell.",
        "",
    ]
    for m in measured:
        s, cfg = m["setting"], m["config"]
        out += [f"## {s['dataset']}, {s['partitioning']}, {s['num_clients']} clients", "",
                f"Experiment `simulations/experiments/{s['experiment']}`: {cfg['num-server-rounds']} rounds, "
                f"{cfg['local-epochs']} local epochs, batch {cfg['batch-size']}, SGD lr {cfg['learning-rate']} "
                f"momentum {cfg['momentum']}, strategy {cfg['strategy']}; teachers trained for "
                f"{cfg['teacher-epochs']} epochs on each client's own train split."
                + (f" Run-config overrides of the file: {dict(s['overrides'])}." if s["overrides"] else ""), ""]
        out += summary_table(m) + ["", "<details><summary>Per round</summary>", ""] + rounds_table(m)
        out += ["", "</details>", ""]
    out += [
        "## Published anchors",
        "",
        "- MNIST-1D, centralized, 4000 training samples: MLP 68%, CNN 94% (Greydanus and Kobak, *Scaling down "
        "deep learning with MNIST-1D*, ICML 2024; the dataset's README).",
        "- Fashion-MNIST over 10 clients, FedAvg with a small 2-conv CNN, 50 rounds of 10 local epochs: "
        "88.09 ± 0.29% with Dirichlet(0.5) and 89.23 ± 0.45% IID, best accuracy over 3 seeds "
        "(Flower Baselines, `niid-bench` README, after Li et al., *Federated "
        "Learning on Non-IID Data Silos*, ICDE 2022). Its CNN is closer to fedkd's `cnn-small` (the student here) "
        "than to `cnn-large`; the runs here are 10 rounds of 1 local epoch. " + anchor_summary(),
        "",
        "## What this shows",
        "",
        *findings(measured),
        "",
        *extra_sections(ROOT / "docs"),
    ]
    return "\n".join(out)


def rerender() -> None:
    """Rewrite ``docs/results.md`` from the stored numbers (after the method or privacy page changed)."""
    data = json.loads((ROOT / "docs" / "results.json").read_text())
    meta = data["meta"]
    page = render(data["settings"], meta["seconds"], meta["command"], today=meta["date"])
    write_atomic(ROOT / "docs" / "results.md", page.encode())
    print(f"wrote {ROOT / 'docs' / 'results.md'}")


def main() -> None:
    """Run everything, then write the page and its data."""
    parser = argparse.ArgumentParser(description="Generate docs/results.md from real runs.")
    parser.add_argument("--quick", action="store_true", help="3 clients, 2 rounds, MNIST-1D only (a smoke test)")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite docs/results.md from docs/*.json without running anything")
    args = parser.parse_args()
    if args.render_only:
        rerender()
        return
    start = time.perf_counter()
    measured = [measure(s) for s in (QUICK if args.quick else SETTINGS)]
    seconds = time.perf_counter() - start
    command = "python -m pages.results_page" + (" --quick" if args.quick else "")
    target = ROOT / "docs" / ("results-quick" if args.quick else "results")
    meta = {"seconds": seconds, "command": command, "date": datetime.date.today().isoformat()}
    write_atomic(target.with_suffix(".json"), json.dumps({"meta": meta, "settings": measured}, indent=1).encode())
    write_atomic(target.with_suffix(".md"), render(measured, seconds, command).encode())
    print(f"wrote {target.with_suffix('.md')}")


if __name__ == "__main__":
    main()
