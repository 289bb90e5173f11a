"""Generate ``docs/results.md`` (and ``docs/results.json``) from real runs.

For MNIST-1D and Fashion-MNIST, each with Dirichlet(0.5) and IID shards over 10
clients, this runs two federated simulations through Flower (``flwr run`` via
:mod:`simulations.run`): the KD student (the experiment file's settings) and the
CE-only student (``kd-alpha=1``, everything else identical). Beside them, on the
same data: the local teachers the clients used, evaluated on the global test set,
and the centralized student and teacher (:mod:`simulations.baselines`). No number
on the page is typed by hand except the published anchors, quoted with sources.

Reuse: a federated run is skipped when a folder under ``results/sweep`` already
holds a finished run (every round present) of the identical resolved config
(run name and output folder aside). Centralized baselines are cached under
``results/sweep/baselines`` keyed by what determines them. The page lists what was
reused. Delete ``results/sweep`` to recompute everything.

Run: ``python -m simulations.results_page [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig, load_experiment
from fedkd.results import read_results, write_atomic
from simulations.baselines import centralized_student, centralized_teacher, local_teachers
from simulations.run import run_simulation

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "results" / "sweep"
CACHE = ROOT / ".cache" / "fedkd"
# Fashion-MNIST rounds: the experiment files say 20; 10 fit the generating machine's CPU time.
FASHION_ROUNDS = 10
# Keys that name where a run is written, not what it computes.
PLACE_KEYS = ("run-name", "output-dir")
# A KD-CE gap (points, mean of the last rounds) smaller than this is reported as a tie.
TIE_POINTS = 1.0
LAST_ROUNDS = 5
Record = dict[str, Any]


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
    Setting("Fashion-MNIST", "Dirichlet(0.5)", "fashion-mnist-dirichlet.yaml",
            overrides=(("num-server-rounds", FASHION_ROUNDS),)),
    Setting("Fashion-MNIST", "IID", "fashion-mnist-iid.yaml", overrides=(("num-server-rounds", FASHION_ROUNDS),)),
)
QUICK = (Setting("MNIST-1D", "IID", "mnist1d-iid.yaml", 3, (("num-server-rounds", 2), ("teacher-epochs", 5))),)



@dataclass(frozen=True)
class Anchor:
    """A published accuracy, quoted with its source."""

    setting: str
    model: str
    accuracy: float
    source: str


MNIST1D_PAPER = ("Greydanus and Kobak, *Scaling down deep learning with MNIST-1D* (arXiv:2011.14439, 2020; "
                 "ICML 2024); table in the dataset's README, https://github.com/greydanus/mnist1d")
ANCHORS = (
    Anchor("MNIST-1D, centralized, 4000 train / 1000 test", "MLP", 0.68, MNIST1D_PAPER),
    Anchor("MNIST-1D, centralized, 4000 train / 1000 test", "CNN", 0.94, MNIST1D_PAPER),
    Anchor("Fashion-MNIST, Dirichlet(0.5), 10 clients, 50 rounds x 10 local epochs, batch 64",
           "FedAvg, CNN with two 5x5 conv layers (6 and 16 channels)", 0.884,
           "Flower Baselines, `niid_bench` README, Expected Results table (FedNova in the same table: 88.1%), "
           "reproducing Li et al., *Federated Learning on Non-IID Data Silos: An Experimental Study*, ICDE 2022; "
           "https://github.com/adap/flower/tree/main/baselines/niid_bench"),
)


# ---------------------------------------------------------------- configs and runs


def run_values(setting: Setting, kd: bool) -> Record:
    """The run-config values of one federated run of ``setting``."""
    suffix = "".join(f"-{key}{value}" for key, value in setting.overrides)
    name = f"{Path(setting.experiment).stem}-{'kd' if kd else 'ce'}-n{setting.num_clients}{suffix}"
    values: Record = {"experiment": setting.experiment, "cache-dir": str(CACHE), "output-dir": str(SWEEP),
                      "run-name": name, **dict(setting.overrides)}
    if not kd:
        values["kd-alpha"] = 1.0
    return values


def resolved(values: Record) -> FedKDConfig:
    """The config a run with these run-config values resolves to (as the server resolves it)."""
    return FedKDConfig.from_run_config({**FedKDConfig().to_dict(), **values}, base_dir=ROOT)


def _what(config: Record) -> Record:
    return {k: v for k, v in config.items() if k not in PLACE_KEYS}


def finished(folder: Path, config: FedKDConfig) -> bool:
    """Whether ``folder`` holds every round of a run of ``config`` (its place aside)."""
    try:
        document = read_results(folder)
    except (OSError, ValueError):
        return False
    rounds = [r.get("round") for r in document["rounds"]]
    return _what(document["config"]) == _what(config.to_dict()) and rounds == list(
        range(config.num_server_rounds + 1))


def find_finished(config: FedKDConfig, preferred: Path) -> Path | None:
    """A folder under the sweep holding a finished run of ``config``, ``preferred`` first."""
    others = sorted(p.parent for p in SWEEP.glob("*/results.json") if p.parent != preferred)
    return next((f for f in (preferred, *others) if finished(f, config)), None)


def federated(setting: Setting, kd: bool) -> Record:
    """One federated run: its rounds, its folder, and whether it was reused."""
    values = run_values(setting, kd)
    config = resolved(values)
    folder = find_finished(config, SWEEP / values["run-name"])
    seconds = None
    if folder is None:
        print(f"running {values['run-name']}", flush=True)
        start = time.perf_counter()
        folder = run_simulation(num_supernodes=setting.num_clients, run_config=values, echo=False,
                                timeout=3 * 3600)
        seconds = time.perf_counter() - start
        if not finished(folder, config):
            raise RuntimeError(f"{folder} does not hold the finished run of {values['run-name']}")
    else:
        print(f"reusing {folder}", flush=True)
    rounds = read_results(folder)["rounds"]
    return {"folder": str(folder.relative_to(ROOT)), "reused": seconds is None, "wall_seconds": seconds,
            "rounds": rounds}


# ---------------------------------------------------------------- baselines


def baseline_key(kind: str, config: Record) -> Record:
    """What determines a centralized baseline: architecture, data and optimiser settings."""
    student = kind == "student"
    return {
        "kind": kind, "dataset": config["dataset"], "data-dir": config["data-dir"], "seed": config["seed"],
        "architecture": config["student" if student else "teacher"],
        "epochs": config["num-server-rounds"] * config["local-epochs"] if student else config["teacher-epochs"],
        "learning-rate": config["learning-rate" if student else "teacher-learning-rate"],
        "momentum": config["momentum"], "batch-size": config["batch-size"],
    }


def _stored_key(kind: str, stored: Record) -> Record | None:
    """The baseline key of a cache file (older files stored the whole run config)."""
    try:
        return stored if "kind" in stored else baseline_key(kind, stored)
    except KeyError:
        return None


def cached_baseline(kind: str, config: FedKDConfig, compute: Callable[[FedKDConfig], float]) -> Record:
    """A centralized baseline from the cache, or computed and cached."""
    key = baseline_key(kind, config.to_dict())
    folder = SWEEP / "baselines"
    for file in sorted(folder.glob(f"{kind}-*.json")):
        stored = json.loads(file.read_text())
        if _stored_key(kind, stored["key"]) == key:
            return {"accuracy": stored["value"], "seconds": stored.get("seconds"), "reused": True, **key}
    print(f"computing centralized {kind} ({key['architecture']}, {key['epochs']} epochs)", flush=True)
    start = time.perf_counter()
    value = compute(config)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    write_atomic(folder / f"{kind}-{digest}.json", json.dumps({"key": key, "value": value,
                                                                "seconds": seconds}).encode())
    return {"accuracy": value, "seconds": seconds, "reused": False, **key}


def teachers_of(config: FedKDConfig, num_clients: int) -> Record:
    """The clients' teachers on the global test set, and how many had to be trained now."""
    before = set((CACHE / "teachers").glob("*.json"))
    start = time.perf_counter()
    accuracies = local_teachers(config, num_clients)
    trained = len(set((CACHE / "teachers").glob("*.json")) - before)
    return {"per_site": accuracies.per_site, "mean": accuracies.mean, "best": accuracies.best,
            "trained_now": trained, "seconds": time.perf_counter() - start}


# ---------------------------------------------------------------- numbers


def run_summary(run: Record) -> Record:
    """The numbers the page shows for one federated run."""
    rounds = run["rounds"]
    trained = [r for r in rounds if r["round"] > 0]
    accuracy = [float(r["global_accuracy"]) for r in rounds]
    last = accuracy[-min(LAST_ROUNDS, len(trained)):]
    best = max(range(len(accuracy)), key=accuracy.__getitem__)
    later = [float(r["round_seconds"]) for r in trained[1:]] or [float(trained[0]["round_seconds"])]
    return {
        "final": accuracy[-1], "best": accuracy[best], "best_round": rounds[best]["round"],
        "last_mean": sum(last) / len(last), "last_spread": max(last) - min(last), "last_rounds": len(last),
        "mb_sent": _mean(trained, "bytes_sent") / 1e6, "mb_received": _mean(trained, "bytes_received") / 1e6,
        "round_seconds_mean": sum(later) / len(later), "round1_seconds": float(trained[0]["round_seconds"]),
        "run_seconds": sum(float(r["round_seconds"]) for r in rounds),
        "teacher_local_mean": trained[0].get("teacher_accuracy_mean"),
    }


def _mean(rounds: list[Record], key: str) -> float:
    values = [float(r[key]) for r in rounds if r.get(key) is not None]
    return sum(values) / len(values) if values else 0.0


def measure(setting: Setting) -> Record:
    """Every number of one setting."""
    kd, ce = federated(setting, True), federated(setting, False)
    config = resolved(run_values(setting, True))
    measured = {
        "setting": asdict(setting),
        "config": config.to_dict(),
        "experiment_file": load_experiment(setting.experiment, base_dir=ROOT),
        "kd": kd, "ce": ce,
        "local_teachers": teachers_of(config, setting.num_clients),
        "centralized_student": cached_baseline("student", config, centralized_student),
        "centralized_teacher": cached_baseline("teacher", config, centralized_teacher),
    }
    measured["summary"] = {"kd": run_summary(kd), "ce": run_summary(ce)}
    return measured


# ---------------------------------------------------------------- the page


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _pts(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _label(m: Record) -> str:
    s = m["setting"]
    return f"{s['dataset']}, {s['partitioning']}, {s['num_clients']} clients"


def provenance() -> Record:
    """Where and with what the page was generated."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    import torch

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": version("torch"), "flwr": version("flwr"),
        "commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain")),
    }


def _reuse_lines(measured: list[Record]) -> list[str]:
    runs = [(m, kind) for m in measured for kind in ("kd", "ce")]
    reused = [f"`{m[k]['folder']}`" for m, k in runs if m[k]["reused"]]
    bases = [m[k] for m in measured for k in ("centralized_student", "centralized_teacher")]
    lines = [f"- Federated runs: {len(runs) - len(reused)} of {len(runs)} run by this invocation"
             + (f"; reused (finished earlier with the identical resolved config): {', '.join(reused)}."
                if reused else ".")]
    lines.append(f"- Centralized baselines: {sum(not b['reused'] for b in bases)} of {len(bases)} computed by this "
                 "invocation, the others read from `results/sweep/baselines` (same architecture, data, epochs "
                 "and optimiser settings).")
    trained = sum(m["local_teachers"]["trained_now"] for m in measured)
    lines.append(f"- Local teachers: read from the teacher cache the clients wrote ({trained} had to be trained "
                 "while computing the baselines).")
    return lines


def header(measured: list[Record], info: Record) -> list[str]:
    """Title, how the page was produced, and what was reused."""
    device = f"GPU {info['gpu']}" if info["gpu"] else "no GPU"
    code = f"commit `{info['commit']}`" + (" plus uncommitted changes" if info["uncommitted_changes"] else "")
    return [
        "# fedkd results", "",
        f"Generated by `{info['command']}` on {info['date']} in {info['wall_seconds'] / 60:.1f} minutes of wall "
        f"time, on {info['cpu_count']} CPU cores ({info['machine']}, {device}), Python {info['python']}, "
        f"torch {info['torch']}, flwr {info['flwr']}, code at {code}. Nothing below is typed by hand except "
        "the published anchors; `docs/results.json` holds every number on this page, and every round.", "",
        *_reuse_lines(measured), "",
        "Accuracy is top-1 on the dataset's held-out test set: the global student as the server evaluates it "
        "after each round, the baselines on the same test set. One seed (0) per run. Seconds are wall time on a "
        "machine shared with other jobs, so they are indicative only.", "",
    ]


def setting_intro(m: Record) -> list[str]:
    """What the runs of one setting did, and where they differ from the experiment file."""
    s, c = m["setting"], m["config"]
    changed = [f"`{k}={v}` (the file says {m['experiment_file'].get(k, FedKDConfig().to_dict()[k])})"
               for k, v in s["overrides"]]
    text = (f"Experiment `simulations/experiments/{s['experiment']}`: {c['num-server-rounds']} rounds, "
            f"{c['local-epochs']} local epochs per round, batch {c['batch-size']}, SGD lr {c['learning-rate']} "
            f"momentum {c['momentum']}, {c['strategy']}; each client's teacher ({c['teacher']}) trained for "
            f"{c['teacher-epochs']} epochs at lr {c['teacher-learning-rate']} on its own train split (80% of its "
            "shard; the rest is its local test split).")
    if changed:
        text += f" Run-config override of the file, to fit the machine's time: {', '.join(changed)}."
    return [f"## {_label(m)}", "", text, ""]


def summary_table(m: Record) -> list[str]:
    """One row per model of one setting."""
    c, kd, ce = m["config"], m["summary"]["kd"], m["summary"]["ce"]
    teachers, cs, ct = m["local_teachers"], m["centralized_student"], m["centralized_teacher"]
    n = kd["last_rounds"]
    lines = [f"| model | final | best (round) | mean of last {n} rounds | MB per round, server to clients / "
             "back | s per round |", "|---|---|---|---|---|---|"]
    for label, r in ((f"KD student ({c['student']}, kd-alpha={c['kd-alpha']}, T={c['kd-temperature']})", kd),
                     (f"CE-only student ({c['student']}, kd-alpha=1.0)", ce)):
        lines.append(f"| {label} | {_pct(r['final'])} | {_pct(r['best'])} ({r['best_round']}) | "
                     f"{_pct(r['last_mean'])} | {r['mb_sent']:.2f} / {r['mb_received']:.2f} | "
                     f"{r['round_seconds_mean']:.1f} |")
    lines += [
        f"| local teachers ({c['teacher']}), mean of {len(teachers['per_site'])} | {_pct(teachers['mean'])} | | | | |",
        f"| best local teacher | {_pct(teachers['best'])} | | | | |",
        f"| centralized student ({cs['architecture']}, {cs['epochs']} epochs, whole train split) | "
        f"{_pct(cs['accuracy'])} | | | | |",
        f"| centralized teacher ({ct['architecture']}, {ct['epochs']} epochs, whole train split) | "
        f"{_pct(ct['accuracy'])} | | | | |",
    ]
    return lines + ["", f"Seconds per round average rounds 2 to {c['num-server-rounds']}; round 1 also loads (or, "
                    f"on first use, trains) the teachers: {kd['round1_seconds']:.0f} s in the KD run, "
                    f"{ce['round1_seconds']:.0f} s in the CE-only run. MB count the payload of train and evaluate "
                    "messages.", ""]


def rounds_table(m: Record) -> list[str]:
    """Global and mean client accuracy per round, KD against CE-only."""
    lines = ["| round | KD global | CE-only global | KD mean client | CE-only mean client |",
             "|---|---|---|---|---|"]
    for kd, ce in zip(m["kd"]["rounds"], m["ce"]["rounds"], strict=True):
        lines.append(f"| {kd['round']} | {_pct(kd['global_accuracy'])} | {_pct(ce['global_accuracy'])} | "
                     f"{_pct(kd.get('client_accuracy_mean'))} | {_pct(ce.get('client_accuracy_mean'))} |")
    return ["Per round (mean client: the global student on the clients' local test splits, weighted by their "
            "size):", "", *lines, ""]


def anchors_section() -> list[str]:
    """The published numbers, quoted with their sources."""
    lines = ["## Published anchors", "", "| setting | model | published accuracy | source |", "|---|---|---|---|"]
    lines += [f"| {a.setting} | {a.model} | {_pct(a.accuracy)} | {a.source} |" for a in ANCHORS]
    return lines + [""]


# ---------------------------------------------------------------- what the numbers say


def kd_gap(m: Record) -> float:
    """KD minus CE-only accuracy, mean of the last rounds (a fraction, not points)."""
    return float(m["summary"]["kd"]["last_mean"] - m["summary"]["ce"]["last_mean"])


def verdict(gap: float) -> str:
    """``beat``, ``fell behind`` or ``tied``, with the tie band in points."""
    if 100 * gap > TIE_POINTS:
        return "beat"
    return "fell behind" if 100 * gap < -TIE_POINTS else "tied"


def kd_sentence(m: Record) -> str:
    """KD against CE-only, with the runs' own round-to-round swing for scale."""
    kd, ce = m["summary"]["kd"], m["summary"]["ce"]
    gap, swing = kd_gap(m), max(kd["last_spread"], ce["last_spread"])
    word = {"beat": "beat", "fell behind": "fell behind", "tied": f"tied with (within {TIE_POINTS:g} point)"}
    text = (f"Over the last {kd['last_rounds']} rounds the KD student {word[verdict(gap)]} the CE-only student: "
            f"{_pct(kd['last_mean'])} against {_pct(ce['last_mean'])} on average ({_pts(gap)}; final round "
            f"{_pct(kd['final'])} against {_pct(ce['final'])}, best {_pct(kd['best'])} against {_pct(ce['best'])}).")
    if abs(gap) <= swing:
        text += (f" That is no more than the runs' own swing over those rounds (up to {100 * swing:.1f} points) "
                 "and one seed, so it does not settle the question.")
    return text


def teacher_sentence(m: Record) -> str:
    """How strong the teachers were, next to the student they were meant to help."""
    t, ce = m["local_teachers"], m["summary"]["ce"]
    local = m["summary"]["kd"]["teacher_local_mean"]
    text = f"The clients' teachers score {_pct(t['mean'])} on the global test set on average (best {_pct(t['best'])})"
    if local is not None:
        text += f", against {_pct(local)} on their own local test splits"
        if local - t["mean"] > 0.05:
            text += " (each looks much better on its own skewed shard than on the balanced task)"
    weaker, helped = t["mean"] < ce["last_mean"], verdict(kd_gap(m)) == "beat"
    if weaker and not helped:
        text += (". They are weaker than the CE-only student, so the KD term pulls the student toward models "
                 "worse than the one it reaches on labels alone; that is consistent with KD not helping here.")
    elif weaker:
        text += (". They are weaker than the CE-only student, yet KD helped: their soft targets carried more "
                 "than their top-1 accuracy.")
    elif helped:
        text += ". They are stronger than the CE-only student, and KD turned that into a better student."
    else:
        text += ". They are stronger than the CE-only student, yet KD did not turn that into a better student."
    return text


def centralized_sentence(m: Record) -> str:
    """The cost of federation and of splitting the data among teachers."""
    cs, ct = m["centralized_student"]["accuracy"], m["centralized_teacher"]["accuracy"]
    ce, teachers = m["summary"]["ce"]["last_mean"], m["local_teachers"]["mean"]
    return (f"Trained centrally on the whole train split, the student reaches {_pct(cs)} and the teacher "
            f"architecture {_pct(ct)}: the federated CE-only student ends {_pts(ce - cs)} from the centralized "
            f"student, and the mean local teacher, which saw one client's shard, {_pts(teachers - ct)} from the "
            "centralized teacher.")


def anchor_sentence(m: Record) -> str | None:
    """Our numbers next to the published anchor of the same setting, where there is one."""
    s, c = m["setting"], m["config"]
    if c["dataset"] == "mnist1d" and c["student"] == "mlp" and c["teacher"] == "cnn1d":
        mlp, cnn = ANCHORS[0].accuracy, ANCHORS[1].accuracy
        return (f"Against the published MNIST-1D numbers: the centralized MLP here reaches "
                f"{_pct(m['centralized_student']['accuracy'])} (published {_pct(mlp)}), the centralized 1-D CNN "
                f"{_pct(m['centralized_teacher']['accuracy'])} (published {_pct(cnn)}); the training recipes "
                "differ from the paper's.")
    if c["dataset"] == "fashion-mnist" and s["partitioning"].startswith("Dirichlet"):
        anchor = ANCHORS[2]
        return (f"Against the published FedAvg number for this partitioning ({_pct(anchor.accuracy)}; "
                f"{anchor.setting}): the CE-only student here reaches {_pct(m['summary']['ce']['final'])} "
                f"after {c['num-server-rounds']} rounds of {c['local-epochs']} local epoch(s), with its own "
                f"small CNN ({c['student']}).")
    return None


def findings(measured: list[Record]) -> list[str]:
    """One paragraph per setting, then the tally, all derived from the numbers."""
    lines = []
    for m in measured:
        parts = [kd_sentence(m), teacher_sentence(m), centralized_sentence(m), anchor_sentence(m)]
        lines += [f"- **{_label(m)}.** " + " ".join(p for p in parts if p), ""]
    counts = {w: sum(verdict(kd_gap(m)) == w for m in measured) for w in ("beat", "tied", "fell behind")}
    lines.append(f"Across the {len(measured)} settings, KD beat CE-only in {counts['beat']}, tied in "
                 f"{counts['tied']} and fell behind in {counts['fell behind']} (mean of the last rounds, "
                 f"{TIE_POINTS:g}-point tie band, one seed each).")
    return lines


def render(measured: list[Record], info: Record) -> str:
    """The whole markdown page."""
    out = header(measured, info)
    for m in measured:
        out += setting_intro(m) + summary_table(m) + rounds_table(m)
    out += anchors_section() + ["## What this shows", "", *findings(measured), ""]
    return "\n".join(out)


def main() -> None:
    """Run everything, then write the page and its data."""
    parser = argparse.ArgumentParser(description="Generate docs/results.md from real runs.")
    parser.add_argument("--quick", action="store_true", help="3 clients, 2 rounds, MNIST-1D only (a smoke test)")
    args = parser.parse_args()
    start = time.perf_counter()
    measured = [measure(s) for s in (QUICK if args.quick else SETTINGS)]
    info = {**provenance(), "command": "python -m simulations.results_page" + (" --quick" if args.quick else ""),
            "wall_seconds": time.perf_counter() - start}
    target = ROOT / "docs" / ("results-quick" if args.quick else "results")
    document = {"generated": info, "settings": measured, "anchors": [asdict(a) for a in ANCHORS],
                "findings": findings(measured)}
    write_atomic(target.with_suffix(".json"), json.dumps(document, indent=1).encode())
    write_atomic(target.with_suffix(".md"), render(measured, info).encode())
    print(f"wrote {target.with_suffix('.md')} and {target.with_suffix('.json')}")


if __name__ == "__main__":
    main()
