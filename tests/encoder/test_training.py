"""Training the encoder classifier: CE steps, logit KD towards the teacher, and scoring."""

from __future__ import annotations

import math

import pytest
import torch

from fedkd.encoder.model import make_encoder_classifier
from fedkd.encoder.text import encode_texts
from fedkd.encoder.training import StepSettings, batch_indices, predict_logits, score, train_steps
from fedkd.losses.logit import soft_target_loss
from tests.encoder.tiny import WordTokenizer, tiny_bert
from tests.optional_data import needs_llm

pytestmark = needs_llm

TEXTS = ["alpha beta gamma", "delta epsilon", "alpha alpha beta", "zeta eta theta iota", "beta gamma kappa",
         "lambda mu", "nu xi omicron", "pi rho sigma tau"]


def test_batch_indices_each_pass_covers_every_row_once() -> None:
    batches = list(batch_indices(5, steps=4, batch_size=2, seed=0))

    first_pass = torch.cat(batches[:3])
    assert sorted(first_pass.tolist()) == [0, 1, 2, 3, 4]
    assert [len(b) for b in batches] == [2, 2, 1, 2]


def test_train_steps_kd_only_moves_student_towards_teacher() -> None:
    # Prepare: a teacher with random logits the student should imitate
    data = encode_texts(WordTokenizer(), TEXTS, [0, 1, 2, 0, 1, 2, 0, 1], max_tokens=8)
    student = make_encoder_classifier(tiny_bert(), num_classes=3, layers=2, rank=4, alpha=8, seed=0)
    teacher_logits = 3 * torch.randn(len(data), 3, generator=torch.Generator().manual_seed(0))
    before = float(soft_target_loss(predict_logits(student, data), teacher_logits, temperature=2.0))

    # Execute: alpha 0, KD alone
    train_steps(student, data, StepSettings(steps=40, batch_size=8, learning_rate=0.05, alpha=0.0, temperature=2.0),
                teacher_logits)

    # Assert
    after = float(soft_target_loss(predict_logits(student, data), teacher_logits, temperature=2.0))
    assert after < 0.5 * before


def test_train_steps_kd_without_teacher_logits_raises() -> None:
    data = encode_texts(WordTokenizer(), TEXTS[:2], [0, 1], max_tokens=8)
    student = make_encoder_classifier(tiny_bert(), num_classes=3, layers=2, rank=2, alpha=4, seed=0)

    with pytest.raises(ValueError, match="kd-alpha 0.5"):
        train_steps(student, data, StepSettings(steps=1, batch_size=2, learning_rate=0.01, alpha=0.5))


def test_train_steps_trains_only_adapters_and_head() -> None:
    # Prepare
    data = encode_texts(WordTokenizer(), TEXTS, [0, 1, 2, 0, 1, 2, 0, 1], max_tokens=8)
    student = make_encoder_classifier(tiny_bert(), num_classes=3, layers=2, rank=2, alpha=4, seed=0)
    frozen = {n: p.detach().clone() for n, p in student.named_parameters() if not p.requires_grad}

    # Execute
    train_steps(student, data, StepSettings(steps=3, batch_size=4, learning_rate=0.05))

    # Assert
    assert all(torch.equal(p, frozen[n]) for n, p in student.named_parameters() if n in frozen)


def test_score_known_logits_matches_hand_values() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])

    stats = score(logits, labels)

    expected = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2
    assert stats.accuracy == pytest.approx(0.5) and stats.num_examples == 2
    assert stats.loss == pytest.approx(expected, rel=1e-5)
