"""The text-encoder task at a site: its BBC News articles, its MiniLM teacher, one round of the LoRA student.

A simulated site ``partition-id`` of ``num-partitions`` holds the articles the classification task's site
holds (same partitioner, seed and local test split: :func:`fedkd.encoder.text.bbc_site_articles`). It
fine-tunes its private teacher (all six MiniLM layers, LoRA and head) on its train articles at first use,
cached in its cache, and keeps the teacher's logits of those articles. The global student arrives and
leaves as its LoRA and head tensors only; the encoder's public weights, the teacher, its logits and the
text stay here. The base encoder, the site and the student are built once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict

from clients.site import cache_dir
from clients.site_policy import SiteRefusal, check_request, refusal_reply
from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import CATEGORIES
from fedkd.encoder.model import EncoderClassifier, load_shared_state, make_encoder_classifier, shared_state
from fedkd.encoder.teacher import EncoderTeacherRecipe, load_encoder_teacher
from fedkd.encoder.text import BASE_NAME, EncodedTexts, bbc_site_articles, encode_texts, load_minilm
from fedkd.encoder.training import StepSettings, predict_logits, score, train_steps
from fedkd.node_config import NodeConfig


@dataclass
class EncoderSite:
    """What one site holds for the text-encoder task."""

    train: EncodedTexts
    test: EncodedTexts
    teacher: EncoderClassifier
    teacher_logits: torch.Tensor
    teacher_accuracy: float
    teacher_cached: bool


_base: list[tuple[Any, Any]] = []
_sites: dict[tuple[object, ...], EncoderSite] = {}
_students: dict[tuple[object, ...], EncoderClassifier] = {}


def base_encoder() -> tuple[Any, Any]:
    """The public MiniLM encoder and its tokenizer, loaded once per process."""
    if not _base:
        _base.append(load_minilm())
    return _base[0]


def teacher_recipe(config: FedKDConfig) -> EncoderTeacherRecipe:
    """How this run's sites fine-tune their teachers (``encoder-teacher-*`` keys)."""
    return EncoderTeacherRecipe(steps=config.encoder_teacher_steps, learning_rate=config.encoder_teacher_learning_rate,
                                batch_size=config.batch_size, seed=config.seed)


def load_encoder_site(config: FedKDConfig, node: NodeConfig) -> EncoderSite:
    """This site's encoded articles (train, local test), its frozen teacher and the teacher's train logits.

    Raises
    ------
    ValueError
        If the node is not a simulated site (real sites are not offered for this task yet).
    """
    key = (config.partitioner, config.dirichlet_alpha, config.classes_per_client, config.local_test_fraction,
           config.seed, config.encoder_max_tokens, teacher_recipe(config), node)
    if key in _sites:
        return _sites[key]
    if not node.simulated or node.data_dir:
        raise ValueError(f"task text-encoder runs on simulated BBC News sites only (partition-id and "
                         f"num-partitions in the node config); got node config {node}")
    articles = bbc_site_articles(partition_id=int(node.partition_id), num_partitions=int(node.num_partitions),  # type: ignore[arg-type]
                                 partitioner=config.partitioner, seed=config.seed,
                                 dirichlet_alpha=config.dirichlet_alpha, classes_per_client=config.classes_per_client,
                                 local_test_fraction=config.local_test_fraction)
    base, tokenizer = base_encoder()
    train = encode_texts(tokenizer, articles.train_texts, list(articles.train_labels),
                         max_tokens=config.encoder_max_tokens)
    test = encode_texts(tokenizer, articles.test_texts, list(articles.test_labels),
                        max_tokens=config.encoder_max_tokens)
    teacher, cached = load_encoder_teacher(base, train, teacher_recipe(config), num_classes=len(CATEGORIES),
                                           cache_dir=cache_dir(config, node), base_name=BASE_NAME)
    accuracy = score(predict_logits(teacher, test), test.labels).accuracy if len(test) else 0.0
    _sites[key] = EncoderSite(train, test, teacher, predict_logits(teacher, train), accuracy, cached)
    return _sites[key]


def encoder_student(config: FedKDConfig, base: Any) -> EncoderClassifier:
    """The shared student of ``config``: ``encoder-student-layers`` of ``base`` with LoRA and a head (seeded)."""
    return make_encoder_classifier(base, num_classes=len(CATEGORIES), layers=config.encoder_student_layers,
                                   rank=config.lora_rank, alpha=config.lora_alpha, seed=config.seed)


def student_for(config: FedKDConfig, arrays: ArrayRecord) -> EncoderClassifier:
    """The process's student with the global adapters and head of ``arrays`` loaded."""
    key = (config.encoder_student_layers, config.lora_rank, config.lora_alpha, config.seed)
    if key not in _students:
        _students[key] = encoder_student(config, base_encoder()[0])
    student = _students[key]
    load_shared_state(student, arrays.to_torch_state_dict())
    return student


def encoder_train(msg: Message, context: Context, config: FedKDConfig, server_round: int, alpha: float,
                  temperature: float) -> Message:
    """Distil the global student from this site's teacher for ``encoder-local-steps``; reply with its
    adapters and head only."""
    node = NodeConfig.from_mapping(context.node_config)
    try:
        check_request(config, node)
        site = load_encoder_site(config, node)
        student = student_for(config, msg.content.array_records["arrays"])
        settings = StepSettings(steps=config.encoder_local_steps, batch_size=config.batch_size,
                                learning_rate=config.encoder_learning_rate, alpha=alpha, temperature=temperature,
                                seed=config.seed * 1000 + server_round)
        losses = train_steps(student, site.train, settings, site.teacher_logits)
    except SiteRefusal as refusal:
        return refusal_reply(msg, refusal)
    metrics = MetricRecord({
        "num-examples": len(site.train), "train-loss": sum(losses) / max(len(losses), 1), "node-id": context.node_id,
        "kd-temperature": temperature, "kd-alpha": alpha, "teacher-accuracy": site.teacher_accuracy,
        "test-examples": len(site.test), "simulated-site": int(node.simulated),
    })
    return Message(content=RecordDict({"arrays": ArrayRecord(shared_state(student)), "metrics": metrics}),
                   reply_to=msg)


def encoder_evaluate(msg: Message, context: Context, config: FedKDConfig) -> Message:
    """Score the global student on this site's local test articles, beside the site's teacher."""
    node = NodeConfig.from_mapping(context.node_config)
    try:
        check_request(config, node)
    except SiteRefusal as refusal:
        return refusal_reply(msg, refusal)
    site = load_encoder_site(config, node)
    metrics = MetricRecord({"num-examples": 0, "accuracy": 0.0, "loss": 0.0,
                            "teacher-accuracy": site.teacher_accuracy, "agreement": 0.0})
    if len(site.test):
        logits = predict_logits(student_for(config, msg.content.array_records["arrays"]), site.test)
        stats = score(logits, site.test.labels)
        agreement = float((logits.argmax(1) == predict_logits(site.teacher, site.test).argmax(1)).float().mean())
        metrics.update({"num-examples": stats.num_examples, "accuracy": stats.accuracy, "loss": stats.loss,
                        "agreement": agreement})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
