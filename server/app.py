"""The fedkd ServerApp: aggregate student updates, evaluate the global student each round."""

from __future__ import annotations

import datetime
import logging
import os
from logging import INFO
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.common.logger import FLOWER_LOGGER, log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Strategy

from fedkd.checkpoint import save_model
from fedkd.config import FedKDConfig
from fedkd.data.registry import DATASETS
from fedkd.device import resolve_device
from fedkd.evaluation import EvalStats, evaluate
from fedkd.io import resolve_cache_dir
from fedkd.llm.generations import GenerationLog
from fedkd.results import ResultsWriter
from fedkd.seeding import seed_everything
from fedkd.student import initial_student
from server.client_dp import UserPrivacy, sampled_clients, wrap_client_dp
from server.compression_strategy import CompressionStrategy
from server.distillation_strategy import DistillationStrategy, ServerDistiller
from server.encoder_task import global_encoder
from server.held_out import held_out_set
from server.lm_task import global_lm
from server.metered_grid import MeteredGrid
from server.recorder import RoundRecorder
from server.reply_guard import ReplyGuard
from server.run_state import CHECKPOINT, Checkpointer, load_run_state, run_rounds, strategy_layers
from server.secure_aggregation import run_secure_aggregation
from server.server_distillation import server_distiller
from server.strategy import build_strategy, check_strategy

APP_DIR = Path(__file__).resolve().parent.parent

app = ServerApp()

VERBOSE_ENV = "FEDKD_VERBOSE"
"""Set to 1 to keep Flower's multi-line dumps (``simulations.run --verbose`` sets it)."""


class QuietDumps(logging.Filter):
    """Drop the indented lines of Flower's strategy dumps (both ConfigRecords, every aggregated
    MetricRecord, the "Final results" history): hundreds of lines a run, all in ``results.json`` too.
    fedkd's own ``[fedkd] round`` lines and every warning pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == INFO and str(record.msg).startswith("\t"))


def results_dir(config: FedKDConfig) -> Path:
    """``output-dir/run-name``, the run name defaulting to a timestamp."""
    name = config.run_name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_dir).expanduser().resolve() / name


def layer_strategy(strategy: Strategy, config: FedKDConfig, *, num_nodes: int,
                   distiller: ServerDistiller | None = None) -> tuple[Strategy, UserPrivacy | None]:
    """Wrap the aggregation ``strategy`` in client-level DP (if configured), the round steps, the reply guard
    and the decoder.

    Flower's fixed-clipping accountant only accepts a FedAvg it wraps directly, so
    DP goes innermost; the schedules and server distillation sit outside it; the
    reply guard outside those, so a bad reply reaches none of them; the decoder of
    compressed updates outermost, so the guard and every layer see full weights.

    Returns
    -------
    tuple of (Strategy, callable or None)
        The layered strategy, and the user-level privacy reader when client-level DP is on.
    """
    user_privacy: UserPrivacy | None = None
    if config.client_dp != "none":
        num_sampled = sampled_clients(num_nodes, config, strategy.min_train_nodes)  # type: ignore[attr-defined]
        strategy, user_privacy = wrap_client_dp(strategy, config, num_nodes=num_nodes, num_sampled=num_sampled)
    layered: Strategy = ReplyGuard(DistillationStrategy(strategy, config, distiller))
    if config.update_compression != "none":
        layered = CompressionStrategy(layered, config)
    return layered, user_privacy


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of federated distillation (Flower's dumps quiet unless FEDKD_VERBOSE=1)."""
    quiet = QuietDumps()
    if os.environ.get(VERBOSE_ENV) != "1":
        FLOWER_LOGGER.addFilter(quiet)
    try:
        run(grid, context)
    finally:
        FLOWER_LOGGER.removeFilter(quiet)


def run(grid: Grid, context: Context) -> None:
    """The ServerApp's work: resolve the config, run the rounds, save the student."""
    config = FedKDConfig.from_run_config(context.run_config, base_dir=APP_DIR)
    check_strategy(config)
    seed_everything(config.seed)
    cache = resolve_cache_dir(config.cache_dir)
    out = results_dir(config)
    if config.task == "causal-lm":
        run_causal_lm(grid, config, cache, out)
        return
    if config.task == "text-encoder":
        run_text_encoder(grid, config, out)
        return
    held_out = held_out_set(config, cache)
    spec = DATASETS[config.dataset]
    student = initial_student(config, cache)
    device = resolve_device(config.student_device)
    log(INFO, "[fedkd] %s on %s (%s), results in %s; the server evaluates on %s (%d samples)", config.student,
        config.dataset, config.partitioner, out, config.server_test_data or "the dataset's test split", len(held_out))

    def evaluate_global(arrays: ArrayRecord) -> EvalStats:
        student.load_state_dict(arrays.to_torch_state_dict())
        return evaluate(student, held_out, device=device)

    metered = MeteredGrid(grid)
    # A resumed run writes to output-dir/run-name (the harness names the checkpoint's folder); its records
    # and messages carry the config of the run it continues, without resume-from.
    resumed = load_run_state(Path(config.resume_from) / CHECKPOINT) if config.resume_from else None
    run_values = {**config.to_dict(), "resume-from": ""}
    writer = ResultsWriter(out, run_values)
    if resumed is not None:
        resumed.check_config(run_values)
        writer.rounds = resumed.rounds
        log(INFO, "[fedkd] resuming after round %s of %s from %s", resumed.server_round, config.num_server_rounds,
            config.resume_from)
    recorder = RoundRecorder(writer, evaluate_global, metered, config.num_server_rounds)
    strategy: Strategy = build_strategy(
        config,
        train_metrics_aggr_fn=recorder.aggregate_train,
        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate,
    )
    distiller = server_distiller(config, device) if config.server_distillation else None
    strategy, user_privacy = layer_strategy(strategy, config, num_nodes=len(list(grid.get_node_ids())),
                                            distiller=distiller)
    if user_privacy is not None:
        recorder.user_privacy = user_privacy
    guard = next(layer for layer in strategy_layers(strategy) if isinstance(layer, ReplyGuard))
    recorder.failures = guard.take

    def save_student(arrays: ArrayRecord, path: Path) -> None:
        student.load_state_dict(arrays.to_torch_state_dict())
        save_model(path, student.cpu(), architecture=config.student, input_shape=spec.input_shape,
                   num_classes=spec.num_classes)

    initial = ArrayRecord(student.state_dict())
    if config.secure_aggregation:
        final = run_secure_aggregation(metered, context, config, recorder, initial)
    else:
        final = run_rounds(strategy, metered, initial, num_rounds=config.num_server_rounds,
                           config=ConfigRecord(run_values), evaluate=recorder.evaluate,
                           checkpointer=Checkpointer(out, save_student, lambda: writer.rounds, run_values, resumed),
                           resumed=resumed)
    if not len(final):  # no round adopted an aggregate (every reply failed or was left out): the initial student
        final = initial
    writer.flush()
    save_student(final, out / "student.safetensors")
    log(INFO, "[fedkd] done: results in %s", out)


def run_causal_lm(grid: Grid, config: FedKDConfig, cache: Path, out: Path) -> None:
    """The causal-LM task: only LoRA adapters travel; held-out perplexity is recorded every round, and greedy
    continuations of fixed prompts go to ``generations.jsonl`` (round 0: the untrained student)."""
    lm = global_lm(config, cache)
    split = "one topic a site" if config.lm_partitioner == "topic" else config.lm_partitioner
    if config.lm_partitioner == "dirichlet":
        split += f"({config.dirichlet_alpha})"
    log(INFO, "[fedkd] causal-lm: LoRA student (rank %s, %s layers kept) on bbc-news (%s), results in %s",
        config.lora_rank, config.student_layers or "all", split, out)
    metered = MeteredGrid(grid)
    recorder = RoundRecorder(ResultsWriter(out, config.to_dict()), lm.evaluate, metered, config.num_server_rounds,
                             language_model=True)
    strategy: Strategy = build_strategy(config, train_metrics_aggr_fn=recorder.aggregate_train,
                                        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate)
    strategy, _ = layer_strategy(strategy, config, num_nodes=len(list(grid.get_node_ids())))
    generations = GenerationLog(out)

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        # Generated before the round's record is written, so its time counts in the round's seconds.
        if lm.generate is not None:
            generations.append(lm.generate(server_round, arrays))
        return recorder.evaluate(server_round, arrays)

    final = strategy.start(grid=metered, initial_arrays=lm.initial, num_rounds=config.num_server_rounds,
                           train_config=ConfigRecord(config.to_dict()), evaluate_config=ConfigRecord(config.to_dict()),
                           evaluate_fn=evaluate).arrays
    lm.save(out / "student-adapters.safetensors", final)
    log(INFO, "[fedkd] done: results in %s", out)


def run_text_encoder(grid: Grid, config: FedKDConfig, out: Path) -> None:
    """The text-encoder task: only the student's LoRA and head tensors travel; held-out accuracy every round."""
    task = global_encoder(config)
    log(INFO, "[fedkd] text-encoder: MiniLM student (%s layers kept, LoRA rank %s) on bbc-news (%s), results in %s",
        config.encoder_student_layers or "all", config.lora_rank, config.partitioner, out)
    metered = MeteredGrid(grid)
    recorder = RoundRecorder(ResultsWriter(out, config.to_dict()), task.evaluate, metered, config.num_server_rounds)
    strategy: Strategy = build_strategy(config, train_metrics_aggr_fn=recorder.aggregate_train,
                                        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate)
    strategy, _ = layer_strategy(strategy, config, num_nodes=len(list(grid.get_node_ids())))
    final = strategy.start(grid=metered, initial_arrays=task.initial, num_rounds=config.num_server_rounds,
                           train_config=ConfigRecord(config.to_dict()), evaluate_config=ConfigRecord(config.to_dict()),
                           evaluate_fn=recorder.evaluate).arrays
    task.save(out / "student-adapters.safetensors", final)
    log(INFO, "[fedkd] done: results in %s", out)
