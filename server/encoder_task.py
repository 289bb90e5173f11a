"""The server's side of the text-encoder task: the initial student and held-out accuracy every round.

The server builds the same student as every site (the public MiniLM, the same layers kept, the same
seed), so the global state is the LoRA and head tensors alone. Each round it loads the aggregate and
scores the student on the held-out BBC News articles (the ``test`` part, every topic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flwr.app import ArrayRecord
from safetensors.torch import save_file

from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import CATEGORIES
from fedkd.encoder.model import EncoderClassifier, load_shared_state, make_encoder_classifier, shared_state
from fedkd.encoder.text import bbc_test_articles, encode_texts, load_minilm
from fedkd.encoder.training import predict_logits, score
from fedkd.evaluation import EvalStats
from fedkd.io import atomic_path


@dataclass
class GlobalEncoder:
    """The server's student and its held-out evaluation."""

    student: EncoderClassifier
    initial: ArrayRecord
    evaluate: Callable[[ArrayRecord], EvalStats]

    def save(self, path: Path, arrays: ArrayRecord) -> None:
        """Write the adapters and head of ``arrays`` (safetensors, atomically)."""
        load_shared_state(self.student, arrays.to_torch_state_dict())
        with atomic_path(path) as temporary:
            save_file({k: v.contiguous() for k, v in shared_state(self.student).items()}, str(temporary))


def global_encoder(config: FedKDConfig) -> GlobalEncoder:
    """The initial shared tensors and the per-round held-out evaluation of ``config``'s student."""
    base, tokenizer = load_minilm()
    student = make_encoder_classifier(base, num_classes=len(CATEGORIES), layers=config.encoder_student_layers,
                                      rank=config.lora_rank, alpha=config.lora_alpha, seed=config.seed)
    del base
    texts, labels = bbc_test_articles(config.encoder_test_articles)
    test = encode_texts(tokenizer, texts, list(labels), max_tokens=config.encoder_max_tokens)

    def evaluate(arrays: ArrayRecord) -> EvalStats:
        load_shared_state(student, arrays.to_torch_state_dict())
        return score(predict_logits(student, test), test.labels)

    return GlobalEncoder(student, ArrayRecord(shared_state(student)), evaluate)
