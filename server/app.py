"""The fedkd ServerApp: aggregate student updates, evaluate the global student each round."""

from __future__ import annotations

import datetime
from logging import INFO
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Strategy

from fedkd.checkpoint import save_model
from fedkd.config import FedKDConfig
from fedkd.data.registry import load_dataset
from fedkd.device import resolve_device
from fedkd.evaluation import EvalStats, evaluate
from fedkd.io import resolve_cache_dir
from fedkd.results import ResultsWriter
from fedkd.seeding import seed_everything
from fedkd.student import build_student
from server.client_dp import UserPrivacy, sampled_clients, wrap_client_dp
from server.distillation_strategy import DistillationStrategy, ServerDistiller
from server.lm_task import global_lm
from server.metered_grid import MeteredGrid
from server.recorder import RoundRecorder
from server.secure_aggregation import run_secure_aggregation
from server.server_distillation import server_distiller
from server.strategy import build_strategy, check_strategy

APP_DIR = Path(__file__).resolve().parent.parent

app = ServerApp()


def results_dir(config: FedKDConfig) -> Path:
    """``output-dir/run-name``, the run name defaulting to a timestamp."""
    name = config.run_name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_dir).expanduser().resolve() / name


def layer_strategy(strategy: Strategy, config: FedKDConfig, *, num_nodes: int,
                   distiller: ServerDistiller | None = None) -> tuple[Strategy, UserPrivacy | None]:
    """Wrap the aggregation ``strategy`` in client-level DP (if configured), then in the round hooks.

    Flower's fixed-clipping accountant only accepts a FedAvg it wraps directly, so
    DP goes innermost; the schedules and server distillation sit outside it.

    Returns
    -------
    tuple of (Strategy, callable or None)
        The layered strategy, and the user-level privacy reader when client-level DP is on.
    """
    user_privacy: UserPrivacy | None = None
    if config.client_dp != "none":
        num_sampled = sampled_clients(num_nodes, config, strategy.min_train_nodes)  # type: ignore[attr-defined]
        strategy, user_privacy = wrap_client_dp(strategy, config, num_nodes=num_nodes, num_sampled=num_sampled)
    return DistillationStrategy(strategy, config, distiller), user_privacy


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of federated distillation."""
    config = FedKDConfig.from_run_config(context.run_config, base_dir=APP_DIR)
    check_strategy(config)
    seed_everything(config.seed)
    cache = resolve_cache_dir(config.cache_dir)
    out = results_dir(config)
    if config.task == "causal-lm":
        run_causal_lm(grid, config, cache, out)
        return
    splits = load_dataset(config.dataset, data_dir=Path(config.data_dir) if config.data_dir else None, cache_dir=cache)
    student = build_student(config)
    device = resolve_device(config.student_device)
    log(INFO, "[fedkd] %s on %s (%s), results in %s", config.student, config.dataset, config.partitioner, out)

    def evaluate_global(arrays: ArrayRecord) -> EvalStats:
        student.load_state_dict(arrays.to_torch_state_dict())
        return evaluate(student, splits.test, device=device)

    metered = MeteredGrid(grid)
    recorder = RoundRecorder(ResultsWriter(out, config.to_dict()), evaluate_global, metered, config.num_server_rounds)
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
    initial = ArrayRecord({k: v.detach().cpu() for k, v in student.state_dict().items()})
    if config.secure_aggregation:
        final = run_secure_aggregation(metered, context, config, recorder, initial)
    else:
        final = strategy.start(
            grid=metered,
            initial_arrays=initial,
            num_rounds=config.num_server_rounds,
            train_config=ConfigRecord(config.to_dict()),
            evaluate_config=ConfigRecord(config.to_dict()),
            evaluate_fn=recorder.evaluate,
        ).arrays
    student.load_state_dict(final.to_torch_state_dict())
    save_model(out / "student.safetensors", student.cpu(), architecture=config.student,
               input_shape=splits.input_shape, num_classes=splits.num_classes)
    log(INFO, "[fedkd] done: results in %s", out)


def run_causal_lm(grid: Grid, config: FedKDConfig, cache: Path, out: Path) -> None:
    """The causal-LM task: only LoRA adapters travel; held-out perplexity is recorded every round."""
    lm = global_lm(config, cache)
    log(INFO, "[fedkd] causal-lm: LoRA student (rank %s, %s layers kept) on bbc-news topics, results in %s",
        config.lora_rank, config.student_layers or "all", out)
    metered = MeteredGrid(grid)
    recorder = RoundRecorder(ResultsWriter(out, config.to_dict()), lm.evaluate, metered, config.num_server_rounds,
                             language_model=True)
    strategy: Strategy = build_strategy(config, train_metrics_aggr_fn=recorder.aggregate_train,
                                        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate)
    strategy, _ = layer_strategy(strategy, config, num_nodes=len(list(grid.get_node_ids())))
    final = strategy.start(grid=metered, initial_arrays=lm.initial, num_rounds=config.num_server_rounds,
                           train_config=ConfigRecord(config.to_dict()), evaluate_config=ConfigRecord(config.to_dict()),
                           evaluate_fn=recorder.evaluate).arrays
    lm.save(out / "student-adapters.safetensors", final)
    log(INFO, "[fedkd] done: results in %s", out)
