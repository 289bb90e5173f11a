"""The causal-LM task at a site: its BBC topic, its private teacher LM, and one round of the LoRA student.

A simulated site ``partition-id`` holds the train articles of topic ``CATEGORIES[partition-id]`` (five
sites), or its share of an ``lm-partitioner`` split over the topics (e.g. Dirichlet); a real site reads
the documents of its node config's ``data-dir`` (``train.jsonl``, optionally ``test.jsonl``:
:mod:`fedkd.llm.site_text`). Without its own test file a site keeps ``local-test-fraction``
of its blocks as its local test split. It fine-tunes its private teacher from the public base model on
the rest. The global student arrives and leaves as LoRA adapter tensors only; the
base model, the teacher, its logits and the text stay at the site. The base model, the site and the
student are built once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Error, Message, MetricRecord, RecordDict

from clients.lm_privacy import check_lm_budget, lm_ledger_path, lm_privacy_metrics, lm_round_entry
from clients.privacy import BudgetSpent, ledger_lock, load_ledger, store_ledger
from clients.site import cache_dir
from clients.site_policy import SiteRefusal, check_delta, check_noise, check_request, refusal_reply
from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import CATEGORIES
from fedkd.llm.base_model import MODEL_NAME, load_base_model
from fedkd.llm.devices import plan_devices
from fedkd.llm.dp_training import dp_distill_lm
from fedkd.llm.evaluation import evaluate_lm
from fedkd.llm.site_text import TRAIN_FILE, read_site_texts
from fedkd.llm.student import adapter_state, load_adapter_state, make_lora_student
from fedkd.llm.teacher import TeacherRecipe, load_site_teacher
from fedkd.llm.text import SiteSplit, TokenBlocks, bbc_lm_texts, token_blocks
from fedkd.llm.training import DistillSettings, distill
from fedkd.node_config import NodeConfig
from fedkd.privacy.dp_settings import DPSettings

# The Error code of a round past the site's privacy budget (clients.app.BUDGET_SPENT).
BUDGET_SPENT = 4001


@dataclass
class LMSite:
    """What one site holds for the causal-LM task."""

    train: TokenBlocks
    test: TokenBlocks
    teacher: Any
    teacher_accuracy: float


_bases: dict[str, tuple[Any, Any]] = {}
_sites: dict[tuple[object, ...], LMSite] = {}
_students: dict[tuple[object, ...], Any] = {}


def base_model(config: FedKDConfig, node: NodeConfig) -> tuple[Any, Any]:
    """The public base model (on the CPU) and its tokenizer, loaded once per cache folder."""
    folder = cache_dir(config, node)
    if str(folder) not in _bases:
        _bases[str(folder)] = load_base_model(folder)
    return _bases[str(folder)]


def student_settings(config: FedKDConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`fedkd.llm.student.make_lora_student` a run config asks for."""
    targets = tuple(name.strip() for name in config.lora_targets.split(","))
    return {"rank": config.lora_rank, "alpha": config.lora_alpha, "targets": targets,
            "layers": config.student_layers, "seed": config.seed}


def teacher_recipe(config: FedKDConfig) -> TeacherRecipe:
    """How this run's sites fine-tune their teachers (``lm-teacher-*`` keys)."""
    return TeacherRecipe(steps=config.lm_teacher_steps, learning_rate=config.lm_teacher_learning_rate,
                         batch_size=config.batch_size, seed=config.seed, eval_every=config.lm_teacher_eval_every,
                         patience=config.lm_teacher_patience, holdout_fraction=config.lm_teacher_holdout_fraction)


def site_split(config: FedKDConfig, num_sites: int) -> SiteSplit:
    """How ``config`` shares BBC News among ``num_sites`` simulated sites (``lm-partitioner`` and the
    classifier's ``dirichlet-alpha``, ``classes-per-client`` and ``seed``)."""
    return SiteSplit(partitioner=config.lm_partitioner, num_sites=num_sites, seed=config.seed,
                     dirichlet_alpha=config.dirichlet_alpha, classes_per_client=config.classes_per_client)


def site_texts(config: FedKDConfig, node: NodeConfig) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """This site's train documents and, if it has its own, its test documents (``lm-site-articles`` caps train).

    A real site reads its ``data-dir`` (:mod:`fedkd.llm.site_text`); a simulated one its BBC topic.

    Raises
    ------
    ValueError
        If the node is neither a real site nor a simulated partition of the five topics, or its files are refused.
    """
    if node.data_dir:
        texts = read_site_texts(Path(node.data_dir), max_bytes=node.max_data_bytes)
        train, test = texts.train, texts.test
    elif node.simulated and (config.lm_partitioner != "topic" or node.num_partitions == len(CATEGORIES)):
        split = site_split(config, int(node.num_partitions))  # type: ignore[arg-type]
        train, test = bbc_lm_texts(max_per_site=config.lm_site_articles, split=split).sites[
            int(node.partition_id)], None  # type: ignore[arg-type]
    else:
        raise ValueError(f"task causal-lm needs a real site's data-dir (holding {TRAIN_FILE}) or, with "
                         f"lm-partitioner=topic, one of {len(CATEGORIES)} simulated sites, one per BBC topic "
                         f"({', '.join(CATEGORIES)}); got node config {node}")
    return (train[: config.lm_site_articles] if config.lm_site_articles else train), test


def load_lm_site(config: FedKDConfig, node: NodeConfig) -> LMSite:
    """This site's token blocks (train, local test) and its frozen private teacher.

    Without its own test documents the site keeps the first ``local-test-fraction`` of its blocks as test.

    Raises
    ------
    ValueError
        As :func:`site_texts`.
    """
    key = (config.lm_site_articles, config.lm_sequence_length, config.local_test_fraction, teacher_recipe(config),
           config.teacher_device, site_split(config, int(node.num_partitions or 0)), node)
    if key in _sites:
        return _sites[key]
    texts, own_test = site_texts(config, node)
    base, tokenizer = base_model(config, node)
    blocks = token_blocks(tokenizer, texts, length=config.lm_sequence_length)
    if own_test is not None:
        train = blocks
        test = token_blocks(tokenizer, own_test, length=config.lm_sequence_length) if own_test else blocks.subset(
            torch.arange(0))
    else:
        num_test = int(round(config.local_test_fraction * len(blocks)))
        test, train = blocks.subset(torch.arange(num_test)), blocks.subset(torch.arange(num_test, len(blocks)))
    if not len(train):
        raise ValueError(f"site {node.identity} keeps no train block after its local test split")
    recipe = teacher_recipe(config)
    teacher = load_site_teacher(base, train, recipe, device=plan_devices(config.student_device,
                                config.teacher_device).teacher, cache_dir=cache_dir(config, node),
                                base_name=MODEL_NAME)
    accuracy = evaluate_lm(teacher, test).accuracy if len(test) else 0.0
    _sites[key] = LMSite(train, test, teacher, accuracy)
    return _sites[key]


def student_for(config: FedKDConfig, node: NodeConfig, arrays: ArrayRecord) -> Any:
    """The process's LoRA student on its device, with the global adapters of ``arrays`` loaded."""
    settings = student_settings(config)
    device = plan_devices(config.student_device, config.teacher_device).student
    key = (tuple(sorted(settings.items())), str(device), str(cache_dir(config, node)))
    if key not in _students:
        base, _ = base_model(config, node)
        _students[key] = make_lora_student(base, **settings).to(device)
    student = _students[key]
    load_adapter_state(student, arrays.to_torch_state_dict())
    return student


def lm_train(msg: Message, context: Context, config: FedKDConfig, server_round: int, alpha: float,
             temperature: float) -> Message:
    """Distil the global adapters from this site's teacher for ``lm-local-steps``; reply with the adapters only.

    Under ``local-dp`` the steps are DP-SGD (:func:`fedkd.llm.dp_training.dp_distill_lm`) and the round is
    recorded in the site's ledger. A round the site's node config forbids, or one past its budget, gets an
    Error reply naming why.
    """
    node = NodeConfig.from_mapping(context.node_config)
    try:
        check_request(config, node)
        site = load_lm_site(config, node)
        student = student_for(config, node, msg.content.array_records["arrays"])
        settings = DistillSettings(steps=config.lm_local_steps, batch_size=config.batch_size,
                                   learning_rate=config.lm_learning_rate, alpha=alpha, temperature=temperature,
                                   top_k=config.kd_top_k, seed=config.seed * 1000 + server_round)
        teacher = site.teacher if alpha < 1 else None
        extra: dict[str, int | float | list[int] | list[float]] = {}
        if config.local_dp:
            losses, extra = _dp_round(config, context, node, site, student, teacher, settings)
        else:
            losses = distill(student, teacher, site.train, settings)
    except BudgetSpent as spent:
        return Message(error=Error(code=BUDGET_SPENT, reason=str(spent)), reply_to=msg)
    except SiteRefusal as refusal:
        return refusal_reply(msg, refusal)
    metrics = MetricRecord({
        "num-examples": len(site.train), "train-loss": sum(losses) / max(len(losses), 1), "node-id": context.node_id,
        "kd-temperature": temperature, "kd-alpha": alpha, "teacher-accuracy": site.teacher_accuracy,
        "test-examples": len(site.test), "simulated-site": int(node.simulated), **extra,
    })
    arrays = ArrayRecord(adapter_state(student))
    return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


def _dp_round(config: FedKDConfig, context: Context, node: NodeConfig, site: LMSite, student: Any, teacher: Any,
              settings: DistillSettings) -> tuple[list[float], dict[str, int | float | list[int] | list[float]]]:
    """One DP-SGD round under the site's ledger lock: check the site's floors, train, record, report."""
    check_delta(config, len(site.train))
    path = lm_ledger_path(cache_dir(config, node), site.train, context.run_id if config.dp_ledger == "run" else None)
    with ledger_lock(path):
        ledger = load_ledger(context, path, config.dp_accountant)
        entry = lm_round_entry(config, ledger, site.train, context.run_id)
        check_noise(node, entry[0])
        check_lm_budget(config, node, ledger, entry)
        losses, recorded = dp_distill_lm(student, teacher, site.train, settings,
                                         DPSettings(entry[0], config.dp_max_grad_norm, config.dp_grad_sample_mode))
        ledger.record(*recorded)
        store_ledger(context, path, ledger)
    return losses, lm_privacy_metrics(config, ledger, site.train)


def lm_evaluate(msg: Message, context: Context, config: FedKDConfig) -> Message:
    """Score the global student on this site's local test blocks (next-token accuracy, loss, perplexity)."""
    node = NodeConfig.from_mapping(context.node_config)
    try:
        check_request(config, node)
    except SiteRefusal as refusal:
        return refusal_reply(msg, refusal)
    site = load_lm_site(config, node)
    metrics = MetricRecord({"num-examples": 0, "accuracy": 0.0, "loss": 0.0, "perplexity": 0.0,
                            "teacher-accuracy": site.teacher_accuracy})
    if len(site.test):
        scores = evaluate_lm(student_for(config, node, msg.content.array_records["arrays"]), site.test)
        metrics.update({"num-examples": len(site.test), "accuracy": scores.accuracy, "loss": scores.loss,
                        "perplexity": scores.perplexity})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
