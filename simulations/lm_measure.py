"""Tiny-budget measurements of the causal-LM task on one BBC News site, saved as JSON for docs/llm.md.

One site (a topic's train articles) fine-tunes its private teacher from SmolLM2-135M-Instruct, then
students learn from it for a few AdamW steps on the site's text:

* ``full-kd`` / ``full-ce``: the full-size student (base + LoRA) with token KD, or with next-token CE only;
* ``full-kd-top-k`` (with ``--top-k``): the full-size student distilled from the teacher's top-k tokens;
* ``truncated-kd``: a ``student-layers`` copy (layers spread first to last) + LoRA, with token KD;
* ``full-kd-dp`` / ``full-ce-dp`` (with ``--dp-noise``): the full-size students under DP-SGD (one record per block).

Every model is scored on held-out articles of the same topic (perplexity, next-token accuracy). The
budgets are tiny on purpose (a shared CPU); the JSON records them beside the numbers.

Run: ``python -m simulations.lm_measure --output docs/llm-measurements.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from fedkd.data.bbc_news import CATEGORIES, read_articles, split_parts
from fedkd.io import resolve_cache_dir, write_atomic
from fedkd.llm.base_model import MODEL_NAME, load_base_model
from fedkd.llm.dp_training import dp_distill_lm
from fedkd.llm.evaluation import evaluate_lm, greedy_generate
from fedkd.llm.student import make_lora_student
from fedkd.llm.teacher import TeacherRecipe, cached_teacher_report, load_site_teacher
from fedkd.llm.text import bbc_lm_texts, token_blocks
from fedkd.llm.training import DistillSettings, distill
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.ledger import PrivacyLedger

PROMPTS = ("The company said its profits", "Shares in the bank")


def _topic_test(topic: int, limit: int) -> tuple[str, ...]:
    articles = read_articles()
    chosen = [articles.texts[i] for i in split_parts(articles.labels)["test"] if articles.labels[i] == topic]
    return tuple(chosen[:limit])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the module docstring, with the settings that produced it."""
    torch.manual_seed(args.seed)
    base, tokenizer = load_base_model(resolve_cache_dir(args.cache_dir))
    cpu = torch.device("cpu")
    train = token_blocks(tokenizer, bbc_lm_texts(max_per_site=args.articles).sites[args.site], length=args.length)
    test = token_blocks(tokenizer, _topic_test(args.site, args.test_articles), length=args.length)
    rows: dict[str, Any] = {}

    def score(name: str, model: Any, seconds: float, losses: list[float] | None = None) -> None:
        scores = evaluate_lm(model, test)
        rows[name] = {**asdict(scores), "train_seconds": round(seconds, 1), "losses": losses,
                      "generations": greedy_generate(model, tokenizer, PROMPTS, max_new_tokens=12)}
        print(name, rows[name], flush=True)

    score("base", base, 0.0)
    start = time.perf_counter()
    recipe = TeacherRecipe(steps=args.teacher_steps, learning_rate=args.teacher_lr, batch_size=args.batch_size,
                           seed=args.teacher_seed, eval_every=args.teacher_eval_every,
                           patience=args.teacher_patience, holdout_fraction=args.teacher_holdout)
    cache = resolve_cache_dir(args.cache_dir)
    teacher = load_site_teacher(base, train, recipe, device=cpu, cache_dir=cache, base_name=MODEL_NAME)
    score("teacher", teacher, time.perf_counter() - start)
    report = cached_teacher_report(train, recipe, cache_dir=cache, base_name=MODEL_NAME)
    rows["teacher"]["early_stopping"] = asdict(report) if report is not None else None
    settings = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, temperature=args.temperature)
    variants = [("full-kd", 0, args.alpha, 0), ("full-ce", 0, 1.0, 0),
                ("truncated-kd", args.student_layers, args.alpha, 0)]
    if args.top_k:
        variants.insert(1, ("full-kd-top-k", 0, args.alpha, args.top_k))
    if args.dp_noise > 0:
        variants += [("full-kd-dp", 0, args.alpha, 0), ("full-ce-dp", 0, 1.0, 0)]
    if args.variants:
        variants = [variant for variant in variants if variant[0] in args.variants.split(",")]
    for name, layers, alpha, top_k in variants:
        student = make_lora_student(base, rank=args.rank, alpha=2 * args.rank, layers=layers, seed=args.seed)
        if layers:
            score("truncated-untrained", student, 0.0)
        start = time.perf_counter()
        chosen = DistillSettings(alpha=alpha, top_k=top_k, **settings)
        if name.endswith("-dp"):
            losses, entry = dp_distill_lm(student, teacher if alpha < 1 else None, train, chosen,
                                          DPSettings(args.dp_noise, args.dp_clip))
            rows[f"{name}-epsilon"] = PrivacyLedger("rdp", [entry]).epsilon(args.dp_delta)
        else:
            losses = distill(student, teacher if alpha < 1 else None, train, chosen)
        score(name, student, time.perf_counter() - start, [round(v, 4) for v in losses])
        del student
    return {"site": CATEGORIES[args.site], "model": MODEL_NAME, "settings": vars(args), "rows": rows,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=Path("docs/llm-measurements.json"))
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--site", type=int, default=0)
    parser.add_argument("--articles", type=int, default=32)
    parser.add_argument("--test-articles", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--teacher-steps", type=int, default=16)
    parser.add_argument("--teacher-lr", type=float, default=2e-3)
    parser.add_argument("--teacher-eval-every", type=int, default=0, help="> 0: early-stop the teacher")
    parser.add_argument("--teacher-patience", type=int, default=2)
    parser.add_argument("--teacher-holdout", type=float, default=0.2)
    parser.add_argument("--teacher-seed", type=int, default=0)
    parser.add_argument("--variants", default="", help="comma-separated students to train (default: all)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--student-layers", type=int, default=10)
    parser.add_argument("--top-k", type=int, default=0, help="> 0 adds a full-size student distilled from top-k")
    parser.add_argument("--dp-noise", type=float, default=0.0,
                        help="> 0 adds KD and CE students trained with DP-SGD at this noise multiplier")
    parser.add_argument("--dp-clip", type=float, default=1.0, help="DP-SGD per-sequence clipping norm")
    parser.add_argument("--dp-delta", type=float, default=1e-5, help="delta of the DP students' recorded epsilon")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = measure(args)
    write_atomic(args.output, (json.dumps(result, indent=2, default=str) + "\n").encode())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
