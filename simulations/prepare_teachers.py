"""Get every simulated site's teacher ready before the federation starts.

A site trains its teacher at first use, inside round 1, so that round takes as
long as the slowest site's teacher training. This step does it beforehand, in
parallel worker processes, through the same code the clients run
(:func:`clients.site.load_site` and :func:`clients.site.load_teacher`), which
caches each teacher on disk (:func:`fedkd.teacher.obtain_teacher`); the clients
then load it from there. Teachers already cached are only loaded. Workers on a
GPU machine take the GPUs in turn. A run whose sites start from the public-pool
teacher (``teacher-pretraining``) has it pretrained once, here, before the workers
start (:func:`pretrain_public_teacher`).

Run alone: ``python -m simulations.prepare_teachers --num-supernodes 100 [--run-config "..."]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from fedkd.config import FedKDConfig

APP_DIR = Path(__file__).resolve().parent.parent


def _start_worker(gpus: Sequence[str], counter: Any, threads: int) -> None:
    """Pin this worker to one GPU (in turn) before torch touches CUDA, and to its share of the CPUs."""
    if gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    import torch

    torch.set_num_threads(threads)


def _prepare(config_values: dict[str, Any], partition_ids: list[int], num_partitions: int) -> int:
    """Obtain the teachers of ``partition_ids`` (trained and cached, or loaded); return how many."""
    from clients.site import load_site, load_teacher
    from fedkd.node_config import NodeConfig

    config = FedKDConfig.from_mapping(config_values)
    for partition_id in partition_ids:
        node = NodeConfig(partition_id=partition_id, num_partitions=num_partitions)
        if config.task == "causal-lm":  # the site's teacher LM, fine-tuned and cached on disk
            from clients.lm_round import load_lm_site

            load_lm_site(config, node)
            continue
        if config.task == "text-encoder":  # the site's MiniLM teacher, fine-tuned and cached on disk
            from clients.encoder_round import load_encoder_site

            load_encoder_site(config, node)
            continue
        load_teacher(config, node, load_site(config, node))
    return len(partition_ids)


def pretrain_public_teacher(config: FedKDConfig, *, echo: bool = True, heartbeat_s: float = 15.0) -> Path | None:
    """Pretrain the run's public-pool teacher once (before any site needs it); ``None`` if the run uses none.

    A cached teacher of the same recipe is only loaded. While it trains, a line says
    so every ``heartbeat_s`` seconds; when it is ready, a line gives its accuracy on
    the dataset's test split and where it is cached.
    """
    from clients.site import cache_dir
    from fedkd.device import resolve_device
    from fedkd.node_config import NodeConfig
    from fedkd.pretraining import cached_pretrained, pretrain_recipe, pretrain_teacher

    recipe = pretrain_recipe(config)
    if recipe is None:
        return None
    folder = cache_dir(config, NodeConfig())
    started = time.monotonic()
    fresh = cached_pretrained(recipe, folder) is None
    if fresh and echo:
        print(f"[fedkd] teacher pretraining: {recipe.architecture} on a public pool of {recipe.samples} fresh "
              f"{recipe.dataset} samples (generator seed {recipe.pool_seed}, disjoint from the federation's data), "
              f"{recipe.epochs} epoch{'' if recipe.epochs == 1 else 's'}, once per machine", flush=True)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            print(f"[fedkd] teacher pretraining: {time.monotonic() - started:.0f}s", flush=True)

    beater = threading.Thread(target=beat, daemon=True)
    if fresh and echo:
        beater.start()
    try:
        path = pretrain_teacher(recipe, cache_dir=folder, device=resolve_device(config.teacher_device))
    finally:
        stop.set()
    info = cached_pretrained(recipe, folder) or {}
    if echo:
        how = f"pretrained in {time.monotonic() - started:.0f}s" if fresh else "found in the cache"
        epochs = config.teacher_finetune_epochs
        then = f"sites fine-tune it on their shards for {epochs} epochs" if epochs else "sites use it as it is"
        print(f"[fedkd] teacher pretraining: {how}, test accuracy {float(str(info.get('test_accuracy', 0.0))):.4f}; "
              f"{then}", flush=True)
    return path


def trained_teachers(config: FedKDConfig) -> int:
    """How many trained teachers the run's cache holds (one JSON sidecar each)."""
    from clients.site import cache_dir
    from fedkd.node_config import NodeConfig

    folder = cache_dir(config, NodeConfig()) / "teachers"
    return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0


def prepare_teachers(config: FedKDConfig, num_supernodes: int, *, workers: int, gpus: Sequence[str] = (),
                     echo: bool = True) -> tuple[int, int]:
    """Train or load the teacher of every simulated site ``0..num_supernodes-1``.

    Parameters
    ----------
    config : FedKDConfig
        The run's resolved config (what the server sends the clients).
    num_supernodes : int
        Simulated sites.
    workers : int
        Worker processes; they take the sites in small batches.
    gpus : sequence of str
        GPU ids for the workers to take in turn; empty: as ``teacher-device`` says.
    echo : bool
        Print a progress line as workers finish.

    Returns
    -------
    tuple of int
        Teachers trained now, and the others (found in the cache, or from checkpoints).
    """
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")
    started = time.monotonic()
    before = trained_teachers(config)
    workers = min(workers, num_supernodes)
    if echo:
        print(f"[fedkd] teachers: preparing {num_supernodes} in {workers} worker processes", flush=True)
    # About 20 tasks per worker, so that the progress line moves and fast workers take more.
    size = max(1, math.ceil(num_supernodes / (20 * workers)))
    shares = [list(range(start, min(start + size, num_supernodes))) for start in range(0, num_supernodes, size)]
    context = get_context("spawn")
    counter = context.Value("i", 0)
    done, shown = 0, started
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(list(gpus), counter, max(1, (os.cpu_count() or 1) // workers))) as pool:
        futures = [pool.submit(_prepare, config.to_dict(), share, num_supernodes) for share in shares]
        for future in as_completed(futures):
            done += future.result()
            if echo and (time.monotonic() - shown >= 5 or done == num_supernodes):
                print(f"[fedkd] teachers: {done}/{num_supernodes} ready in {time.monotonic() - started:.0f}s",
                      flush=True)
                shown = time.monotonic()
    trained = trained_teachers(config) - before
    return trained, num_supernodes - trained


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    import tomllib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-supernodes", type=int, default=10)
    parser.add_argument("--run-config", default="", help='overrides, e.g. "teacher-epochs=10 cache-dir=\'/tmp/c\'"')
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    overrides = {key: tomllib.loads(f"v = {raw}")["v"]
                 for key, _, raw in (item.partition("=") for item in args.run_config.split())}
    config = FedKDConfig.from_run_config({**FedKDConfig().to_dict(), **overrides}, base_dir=APP_DIR)
    pretrain_public_teacher(config)
    prepare_teachers(config, args.num_supernodes, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
