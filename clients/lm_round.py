"""The causal-LM task at a site: its BBC topic, its private teacher LM, and one round of the LoRA student.

Site ``partition-id`` holds the train articles of topic ``CATEGORIES[partition-id]`` (five sites), keeps
``local-test-fraction`` of them as its local test split, and fine-tunes its private teacher from the
public base model on the rest. The global student arrives and leaves as LoRA adapter tensors only; the
base model, the teacher, its logits and the text stay at the site. The base model, the site and the
student are built once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict

from clients.site import cache_dir
from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import CATEGORIES
from fedkd.llm.base_model import MODEL_NAME, load_base_model
from fedkd.llm.devices import plan_devices
from fedkd.llm.evaluation import evaluate_lm
from fedkd.llm.student import adapter_state, load_adapter_state, make_lora_student
from fedkd.llm.teacher import TeacherRecipe, load_site_teacher
from fedkd.llm.text import TokenBlocks, bbc_lm_texts, token_blocks
from fedkd.llm.training import DistillSettings, distill
from fedkd.node_config import NodeConfig


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


def load_lm_site(config: FedKDConfig, node: NodeConfig) -> LMSite:
    """This site's token blocks (train, local test) and its frozen private teacher.

    Raises
    ------
    ValueError
        If the node is not a simulated partition of the five topics.
    """
    if not node.simulated or node.num_partitions != len(CATEGORIES):
        raise ValueError(f"task causal-lm runs {len(CATEGORIES)} simulated sites, one per BBC topic "
                         f"({', '.join(CATEGORIES)}); got node config {node}")
    key = (config.lm_site_articles, config.lm_sequence_length, config.local_test_fraction, config.lm_teacher_steps,
           config.lm_teacher_learning_rate, config.batch_size, config.seed, config.teacher_device, node)
    if key in _sites:
        return _sites[key]
    base, tokenizer = base_model(config, node)
    texts = bbc_lm_texts(max_per_site=config.lm_site_articles).sites[int(node.partition_id)]  # type: ignore[arg-type]
    blocks = token_blocks(tokenizer, texts, length=config.lm_sequence_length)
    num_test = int(round(config.local_test_fraction * len(blocks)))
    test, train = blocks.subset(torch.arange(num_test)), blocks.subset(torch.arange(num_test, len(blocks)))
    recipe = TeacherRecipe(steps=config.lm_teacher_steps, learning_rate=config.lm_teacher_learning_rate,
                           batch_size=config.batch_size, seed=config.seed)
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
    """Distil the global adapters from this site's teacher for ``lm-local-steps``; reply with the adapters only."""
    node = NodeConfig.from_mapping(context.node_config)
    site = load_lm_site(config, node)
    student = student_for(config, node, msg.content.array_records["arrays"])
    settings = DistillSettings(steps=config.lm_local_steps, batch_size=config.batch_size,
                               learning_rate=config.lm_learning_rate, alpha=alpha, temperature=temperature,
                               top_k=config.kd_top_k, seed=config.seed * 1000 + server_round)
    losses = distill(student, site.teacher if alpha < 1 else None, site.train, settings)
    metrics = MetricRecord({
        "num-examples": len(site.train), "train-loss": sum(losses) / max(len(losses), 1), "node-id": context.node_id,
        "kd-temperature": temperature, "kd-alpha": alpha, "teacher-accuracy": site.teacher_accuracy,
        "test-examples": len(site.test),
    })
    arrays = ArrayRecord(adapter_state(student))  # type: ignore[arg-type]
    return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


def lm_evaluate(msg: Message, context: Context, config: FedKDConfig) -> Message:
    """Score the global student on this site's local test blocks (next-token accuracy, loss, perplexity)."""
    node = NodeConfig.from_mapping(context.node_config)
    site = load_lm_site(config, node)
    metrics = MetricRecord({"num-examples": 0, "accuracy": 0.0, "loss": 0.0, "perplexity": 0.0,
                            "teacher-accuracy": site.teacher_accuracy})
    if len(site.test):
        scores = evaluate_lm(student_for(config, node, msg.content.array_records["arrays"]), site.test)
        metrics.update({"num-examples": len(site.test), "accuracy": scores.accuracy, "loss": scores.loss,
                        "perplexity": scores.perplexity})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
