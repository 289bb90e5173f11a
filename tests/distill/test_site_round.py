"""Building a site's round from the config: label masks, feature teachers, the mutual teacher step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedkd.config import FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.data.site import SiteData
from fedkd.distill.hidden_labels import labelled_mask
from fedkd.distill.mutual import mutual_teacher_step
from fedkd.distill.schedules import RoundValues, round_values
from fedkd.distill.site_round import feature_teacher, logit_knowledge
from fedkd.evaluation import predict_logits
from fedkd.models import build_model
from fedkd.teacher import Teacher, freeze


def _site() -> SiteData:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 120)
    x = (rng.standard_normal((120, 40)) + y[:, None] * 0.3).astype(np.float32)
    return SiteData(train=ArrayDataset(x[:100], y[:100]), test=ArrayDataset(x[100:], y[100:]), num_classes=10)


def _teacher(site: SiteData) -> Teacher:
    torch.manual_seed(0)
    model = freeze(build_model("cnn1d", input_shape=(40,), num_classes=10))
    return Teacher(model=model, architecture="cnn1d", source="trained", key="k",
                   train_logits=predict_logits(model, torch.from_numpy(site.train.x)),
                   test_logits=predict_logits(model, torch.from_numpy(site.test.x)))


def test_labelled_mask_hides_the_asked_share_the_same_way_every_time() -> None:
    mask = labelled_mask(100, 0.9, seed=3)
    assert mask is not None and int((~mask).sum()) == 90
    assert torch.equal(mask, labelled_mask(100, 0.9, seed=3))
    assert labelled_mask(100, 0.0, seed=3) is None
    assert int(labelled_mask(5, 0.99, seed=0).sum()) == 1  # type: ignore[union-attr]  # one label stays


def test_logit_knowledge_carries_the_config() -> None:
    config = FedKDConfig.from_mapping({"kd-logit-loss": "not-true", "trust-measure": "entropy",
                                       "trust-threshold": 0.4, "kd-alpha": 0.2})
    knowledge = logit_knowledge(config, RoundValues(kd_temperature=3.0, kd_alpha=0.7))
    assert (knowledge.logit_loss, knowledge.trust_measure, knowledge.trust_threshold) == ("not-true", "entropy", 0.4)
    assert (knowledge.temperature, knowledge.alpha) == (3.0, 0.7)  # the round's values, not the schedule's start


def test_feature_teacher_is_none_without_feature_weights_and_restores_a_saved_adapter() -> None:
    site, config = _site(), FedKDConfig.from_mapping({"hint-weight": 1.0})
    teacher, student = _teacher(site), build_model("mlp", input_shape=(40,), num_classes=10)
    assert feature_teacher(FedKDConfig(), student, teacher, site, adapter_state=None, seed=0) is None
    first = feature_teacher(config, student, teacher, site, adapter_state=None, seed=0)
    assert first is not None and first.adapter is not None
    state = {k: v + 1.0 for k, v in first.adapter.state_dict().items()}
    again = feature_teacher(config, student, teacher, site, adapter_state=state, seed=0)
    assert again is not None and again.adapter is not None
    for name, value in again.adapter.state_dict().items():
        torch.testing.assert_close(value, state[name])


def test_mutual_teacher_step_trains_a_copy_and_refreshes_its_logits() -> None:
    site = _site()
    teacher = _teacher(site)
    before = [p.clone() for p in teacher.model.parameters()]
    student = build_model("mlp", input_shape=(40,), num_classes=10)
    config = FedKDConfig.from_mapping({"teacher-mode": "mutual", "local-epochs": 2})

    updated, stats = mutual_teacher_step(teacher, student, site, config, round_values(config, 1),
                                         device=torch.device("cpu"), seed=0)

    assert all(torch.equal(a, b) for a, b in zip(before, teacher.model.parameters(), strict=True))
    assert not torch.equal(updated.train_logits, teacher.train_logits)
    torch.testing.assert_close(updated.test_logits, predict_logits(updated.model, torch.from_numpy(site.test.x)))
    assert not any(p.requires_grad for p in updated.model.parameters())
    assert stats.num_examples == 100


@pytest.mark.parametrize(("values", "key"), [({"hint-weight": 1.0, "local-dp": True}, "local-dp"),
                                            ({"teacher-mode": "mutual", "teacher-dp": True}, "teacher-mode"),
                                            ({"unlabeled-fraction": 1.0}, "unlabeled-fraction"),
                                            ({"server-distillation": True, "dataset": "digits", "teacher": "mlp"},
                                             "server-distillation"),
                                            ({"server-distillation": True, "dataset": "fashion-mnist",
                                              "student": "cnn-small", "teacher": "cnn-large",
                                              "server-proxy-size": 5001}, "server-proxy-size"),
                                            ({"kd-temperature-schedule": "step"}, "kd-temperature-schedule")])
def test_config_rejects_combinations_it_cannot_honour(values: dict[str, object], key: str) -> None:
    from fedkd.config import ConfigError

    with pytest.raises(ConfigError, match=key):
        FedKDConfig.from_mapping(values)


def test_secure_aggregation_accepts_the_default_temperature_schedule() -> None:
    config = FedKDConfig.from_mapping({"secure-aggregation": True})
    assert config.secure_aggregation and config.kd_temperature_schedule == "linear"
