"""Benchmark: one site's local round of the causal-LM task on a GPU, and the server's held-out scoring.

The site fine-tunes its private teacher (``--teacher-steps``), then distils the LoRA student from it for
``--steps`` AdamW steps of ``--batch-size`` blocks of ``--length`` tokens (token KD, dense or ``--top-k``);
the server then scores the student's perplexity on held-out articles. Recorded: student training tokens
per second (real, unpadded tokens), the round's wall time, the teacher fine-tuning time, the evaluation
time and tokens per second, and the peak memory of each device used (the teacher goes to ``cuda:1`` when
there are two GPUs). Saved to ``bench/results/llm_gpu.json``.

Without a GPU it prints a message and exits 0 (nothing saved); ``--allow-cpu`` runs the same code on the
CPU as a smoke test and saves to ``bench/results/llm_cpu_smoke.json`` instead.

Run: ``python bench/llm_gpu.py`` (needs the ``llm`` extra).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from fedkd.io import resolve_cache_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(devices: list[torch.device]) -> None:
    for device in devices:
        if device.type == "cuda":
            torch.cuda.synchronize(device)


def _peaks(devices: list[torch.device]) -> dict[str, float]:
    return {str(d): torch.cuda.max_memory_allocated(d) / 2**20 for d in devices if d.type == "cuda"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one local round; every figure of the module docstring."""
    from fedkd.llm.base_model import MODEL_NAME, load_base_model
    from fedkd.llm.devices import plan_devices
    from fedkd.llm.evaluation import evaluate_lm
    from fedkd.llm.student import make_lora_student
    from fedkd.llm.teacher import TeacherRecipe, load_site_teacher
    from fedkd.llm.text import bbc_lm_texts, token_blocks
    from fedkd.llm.training import DistillSettings, distill

    plan = plan_devices("cpu" if args.allow_cpu else "auto", "cpu" if args.allow_cpu else "auto")
    devices = sorted({plan.student, plan.teacher}, key=str)
    cache = resolve_cache_dir(args.cache_dir)
    start = time.perf_counter()
    base, tokenizer = load_base_model(cache)
    load_seconds = time.perf_counter() - start
    texts = bbc_lm_texts(max_per_site=args.articles, max_test=args.test_articles)
    train = token_blocks(tokenizer, texts.sites[0], length=args.length)
    test = token_blocks(tokenizer, texts.test, length=args.length)
    for device in devices:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    teacher = load_site_teacher(base, train, TeacherRecipe(steps=args.teacher_steps, learning_rate=1e-3,
                                                           batch_size=args.batch_size),
                                device=plan.teacher, cache_dir=cache, base_name=MODEL_NAME)
    _sync(devices)
    teacher_seconds = time.perf_counter() - start
    student = make_lora_student(base, rank=args.rank, alpha=2 * args.rank, layers=args.student_layers).to(plan.student)
    settings = DistillSettings(steps=args.steps, batch_size=args.batch_size, learning_rate=2e-3, alpha=0.5,
                               temperature=2.0, top_k=args.top_k)
    distill(student, teacher, train, DistillSettings(**{**settings.__dict__, "steps": 1}))  # warm-up
    _sync(devices)
    start = time.perf_counter()
    losses = distill(student, teacher, train, settings)
    _sync(devices)
    train_seconds = time.perf_counter() - start
    tokens_per_step = float(train.attention_mask.sum()) / len(train) * args.batch_size
    start = time.perf_counter()
    scores = evaluate_lm(student, test, batch_size=args.batch_size * 4)
    _sync(devices)
    eval_seconds = time.perf_counter() - start
    return {
        "device": {str(d): torch.cuda.get_device_name(d) if d.type == "cuda" else platform.processor() or "cpu"
                   for d in devices},
        "student_device": str(plan.student), "teacher_device": str(plan.teacher),
        "settings": vars(args),
        "base_load_seconds": load_seconds,
        "teacher_fine_tune_seconds": teacher_seconds,
        "round_seconds": train_seconds + eval_seconds,
        "train_seconds": train_seconds,
        "train_tokens_per_second": tokens_per_step * args.steps / train_seconds,
        "eval_seconds": eval_seconds,
        "eval_tokens_per_second": scores.tokens / eval_seconds,
        "peak_memory_mib": _peaks(devices),
        "held_out_perplexity": scores.perplexity,
        "first_loss": losses[0], "last_loss": losses[-1],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print and save."""
    parser = argparse.ArgumentParser(description="One causal-LM local round on a GPU.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--articles", type=int, default=0)
    parser.add_argument("--test-articles", type=int, default=200)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--student-layers", type=int, default=0)
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--allow-cpu", action="store_true", help="smoke-test on the CPU (saved apart)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("no CUDA device: bench/llm_gpu.py measures GPU rounds only (use --allow-cpu for a CPU smoke test)")
        return 0
    from fedkd.llm.extra import require_llm

    require_llm()
    result = run(args)
    out = RESULTS / ("llm_cpu_smoke.json" if args.allow_cpu else "llm_gpu.json")
    print(json.dumps(result, indent=2))
    save_figures(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
