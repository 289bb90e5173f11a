"""What a run configuration may hold: each key's allowed values and the keys that must agree.

:class:`fedkd.config.FedKDConfig` calls :func:`validate` on creation, so no config that breaks
a rule here exists. Each rule raises :class:`fedkd.config_keys.ConfigError` naming the key, its value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedkd.compression.registry import COMPRESSIONS
from fedkd.config_keys import ConfigError, to_key
from fedkd.data.partitioning import PARTITIONERS
from fedkd.data.proxy import MNIST_DIGITS, PROXY_DATASETS
from fedkd.data.public_pool import HELD_OUT_POOLS, has_pool
from fedkd.data.registry import DATASETS
from fedkd.distill.objective import LOGIT_LOSSES
from fedkd.distill.schedules import SCHEDULES
from fedkd.losses.relational import RELATIONAL_LOSSES
from fedkd.losses.trust import TRUST_MEASURES
from fedkd.models import INPUT_RANKS, MODELS
from fedkd.privacy.dp_settings import GRAD_SAMPLE_MODES
from fedkd.privacy.ledger import ACCOUNTANTS

if TYPE_CHECKING:
    from fedkd.config import FedKDConfig

CLIENT_DP_MODES = ("none", "server-fixed", "client-fixed", "server-adaptive", "client-adaptive")
TEACHER_MODES = ("frozen", "mutual")
TEACHER_PRETRAINING = ("public-pool", "none")
TASKS = ("classification", "causal-lm", "text-encoder")
LM_PARTITIONERS = ("topic", *PARTITIONERS)


def _check(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def _check_finite(c: FedKDConfig) -> None:
    """Every float key holds a finite number: ``inf`` or ``nan`` would poison training or aggregation."""
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float):
            _check(math.isfinite(value), to_key(f.name), value, "must be a finite number (not inf or nan)")


def _check_public_pool(c: FedKDConfig) -> None:
    """A holdout only where a pool is held out; every public sample drawn from a pool the run has."""
    holdout, k = c.public_pool_holdout, DATASETS[c.dataset].num_classes
    _check(holdout >= 0, "public-pool-holdout", holdout, "must be >= 0")
    _check(holdout == 0 or c.dataset in HELD_OUT_POOLS, "public-pool-holdout", holdout,
           f"only {', '.join(HELD_OUT_POOLS)} holds train images out for a public pool (MNIST-1D's is generated); "
           f"dataset is {c.dataset}")
    _check(holdout % k == 0, "public-pool-holdout", holdout, f"must be a multiple of {k} (equally many per class)")
    samples = c.student_pretrain_samples
    _check(samples == 0 or has_pool(c.dataset, holdout), "student-pretrain-samples", samples,
           f"the run has no public pool to pretrain on (dataset {c.dataset}; Fashion-MNIST needs "
           "public-pool-holdout > 0)")
    if c.dataset in HELD_OUT_POOLS and holdout > 0:
        _check(samples <= holdout and samples % k == 0, "student-pretrain-samples", samples,
               f"draws from the held-out pool: at most public-pool-holdout={holdout}, a multiple of {k}")
        if c.teacher_pretraining == "public-pool" and not c.teacher_checkpoint:
            _check(c.teacher_pretrain_samples <= holdout, "teacher-pretrain-samples", c.teacher_pretrain_samples,
                   f"draws from the held-out pool: at most public-pool-holdout={holdout}")


def validate(c: FedKDConfig) -> None:
    """Check every key of ``c`` and the keys that must agree.

    Raises
    ------
    ConfigError
        Naming the first key whose value is not allowed, the value and what is allowed.
    """
    _check_finite(c)
    _check(c.num_server_rounds >= 1, "num-server-rounds", c.num_server_rounds, "must be >= 1")
    _check(not c.server_test_data or Path(c.server_test_data).expanduser().is_absolute(), "server-test-data",
           c.server_test_data, "must be an absolute path (the server's own file) or empty")
    _check(c.evaluate_every >= 1, "evaluate-every", c.evaluate_every, "must be >= 1")
    _check_data_and_models(c)
    _check_training(c)
    _check_distillation(c)
    _check_rates_and_server(c)
    _check_privacy(c)
    _check_wire(c)
    for key, device in (("student-device", c.student_device), ("teacher-device", c.teacher_device)):
        ok = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
        _check(ok, key, device, "use auto, cpu, cuda or cuda:N")
    _check(not (c.resume_from and c.secure_aggregation), "resume-from", c.resume_from,
           "secure-aggregation runs on Flower's legacy workflow, which fedkd does not checkpoint")
    _check(not (c.resume_from and (c.teacher_mode == "mutual" or c.hint_weight > 0)), "resume-from", c.resume_from,
           "mutual teachers and hint adapters live in the sites' node memory, which a resumed run does not have")
    _check(c.output_dir != "", "output-dir", c.output_dir, "must not be empty")
    _validate_causal_lm(c)
    _validate_text_encoder(c)
    plain = "/" not in c.run_name and c.run_name not in (".", "..")
    _check(plain, "run-name", c.run_name, "must be a plain folder name")


def _check_data_and_models(c: FedKDConfig) -> None:
    """The dataset, how it is shared out, and the two architectures that must fit its inputs."""
    _check(c.dataset in DATASETS, "dataset", c.dataset, "choose one of " + ", ".join(sorted(DATASETS)))
    _check(c.partitioner in PARTITIONERS, "partitioner", c.partitioner, "choose one of " + ", ".join(PARTITIONERS))
    _check(c.dirichlet_alpha > 0, "dirichlet-alpha", c.dirichlet_alpha, "must be > 0")
    num_classes = DATASETS[c.dataset].num_classes
    _check(
        1 <= c.classes_per_client <= num_classes,
        "classes-per-client",
        c.classes_per_client,
        f"must be in [1, {num_classes}] for {c.dataset}",
    )
    _check(0 <= c.local_test_fraction < 1, "local-test-fraction", c.local_test_fraction, "must be in [0, 1)")
    rank = len(DATASETS[c.dataset].input_shape)
    for key, model in (("student", c.student), ("teacher", c.teacher)):
        _check(model in MODELS, key, model, "choose one of " + ", ".join(sorted(MODELS)))
        fitting = sorted(m for m, ranks in INPUT_RANKS.items() if rank in ranks)
        _check(rank in INPUT_RANKS[model], key, model, f"for {c.dataset} choose one of " + ", ".join(fitting))


def _check_training(c: FedKDConfig) -> None:
    """Local epochs and batches, the student's DP-SGD schedule, and the public pool pretraining draws on."""
    for key, epochs in (("teacher-epochs", c.teacher_epochs), ("local-epochs", c.local_epochs),
                       ("teacher-finetune-epochs", c.teacher_finetune_epochs)):
        _check(epochs >= 0, key, epochs, "must be >= 0")
    _check(c.batch_size >= 1, "batch-size", c.batch_size, "must be >= 1")
    for key, count in (("dp-batch-size", c.dp_batch_size), ("dp-physical-batch-size", c.dp_physical_batch_size),
                       ("dp-local-epochs", c.dp_local_epochs),
                       ("student-pretrain-samples", c.student_pretrain_samples)):
        _check(count >= 0, key, count, "must be >= 0")
    _check(c.dp_learning_rate >= 0, "dp-learning-rate", c.dp_learning_rate, "must be >= 0 (0: learning-rate)")
    _check(not (c.dp_physical_batch_size and c.dp_grad_sample_mode == "ghost"), "dp-physical-batch-size",
           c.dp_physical_batch_size, "needs per-sample gradients (dp-grad-sample-mode hooks or functorch)")
    _check(c.student_pretrain_epochs >= 1, "student-pretrain-epochs", c.student_pretrain_epochs, "must be >= 1")
    _check_public_pool(c)


def _check_distillation(c: FedKDConfig) -> None:
    """The distillation objective, its schedules and weights, and where the teacher comes from."""
    for key, kind in (("kd-temperature-schedule", c.kd_temperature_schedule),
                      ("kd-alpha-schedule", c.kd_alpha_schedule)):
        _check(kind in SCHEDULES, key, kind, "choose one of " + ", ".join(SCHEDULES))
    _check(c.kd_logit_loss in LOGIT_LOSSES, "kd-logit-loss", c.kd_logit_loss,
           "choose one of " + ", ".join(LOGIT_LOSSES))
    _check(c.trust_measure in ("none", *TRUST_MEASURES), "trust-measure", c.trust_measure,
           "choose one of none, " + ", ".join(TRUST_MEASURES))
    _check(c.relational_loss in RELATIONAL_LOSSES, "relational-loss", c.relational_loss,
           "choose one of " + ", ".join(RELATIONAL_LOSSES))
    _check(c.teacher_mode in TEACHER_MODES, "teacher-mode", c.teacher_mode, "choose one of " + ", ".join(TEACHER_MODES))
    for key, weight in (("dkd-tckd-weight", c.dkd_tckd_weight), ("dkd-nckd-weight", c.dkd_nckd_weight),
                        ("hint-weight", c.hint_weight), ("attention-weight", c.attention_weight),
                        ("relational-weight", c.relational_weight)):
        _check(weight >= 0, key, weight, "must be >= 0")
    _check(0 <= c.unlabeled_fraction < 1, "unlabeled-fraction", c.unlabeled_fraction, "must be in [0, 1)")
    features_on = c.hint_weight > 0 or c.attention_weight > 0 or c.relational_weight > 0
    _check(not (features_on and c.local_dp), "local-dp", c.local_dp,
           "feature and relational knowledge (hint/attention/relational-weight > 0) are not offered under DP-SGD")
    _check(not (c.teacher_finetune_epochs > 0 and c.teacher_dp and c.teacher_checkpoint), "teacher-finetune-epochs",
           c.teacher_finetune_epochs, "fine-tuning a teacher-checkpoint on the site's shard runs without DP; it "
           "cannot combine with teacher-dp (set teacher-finetune-epochs=0)")
    _check(c.teacher_pretraining in TEACHER_PRETRAINING, "teacher-pretraining", c.teacher_pretraining,
           "choose one of " + ", ".join(TEACHER_PRETRAINING))
    _check(c.teacher_pretrain_samples >= 10 and c.teacher_pretrain_samples % 10 == 0, "teacher-pretrain-samples",
           c.teacher_pretrain_samples, "must be a positive multiple of 10 (equally many per class)")
    _check(c.teacher_pretrain_epochs >= 1, "teacher-pretrain-epochs", c.teacher_pretrain_epochs, "must be >= 1")
    _check(not (c.teacher_mode == "mutual" and c.teacher_dp), "teacher-mode", c.teacher_mode,
           "mutual training updates the teacher without DP; it cannot combine with teacher-dp")


def _check_rates_and_server(c: FedKDConfig) -> None:
    """Step sizes, temperatures and shares in [0, 1]; the server's distillation and strategy."""
    _check(not c.server_distillation or c.dataset in PROXY_DATASETS, "server-distillation", c.server_distillation,
           f"needs a server proxy set, available for {', '.join(PROXY_DATASETS)}; dataset is {c.dataset}")
    _check(not (c.server_distillation and (c.secure_aggregation or c.client_dp != "none")), "server-distillation",
           c.server_distillation, "needs each client's student; it cannot combine with secure-aggregation or client-dp")
    _check(c.server_proxy_size >= 1, "server-proxy-size", c.server_proxy_size, "must be >= 1")
    _check(not (c.server_distillation and c.dataset == "fashion-mnist") or c.server_proxy_size <= MNIST_DIGITS,
           "server-proxy-size", c.server_proxy_size, f"the Fashion-MNIST proxy holds {MNIST_DIGITS} MNIST digits")
    _check(c.server_distillation_steps >= 0, "server-distillation-steps", c.server_distillation_steps, "must be >= 0")
    for key, rate in (
        ("server-distillation-learning-rate", c.server_distillation_learning_rate),
        ("server-distillation-temperature", c.server_distillation_temperature),
        ("kd-temperature-final", c.kd_temperature_final),
        ("learning-rate", c.learning_rate),
        ("teacher-learning-rate", c.teacher_learning_rate),
        ("kd-temperature", c.kd_temperature),
    ):
        _check(rate > 0, key, rate, "must be > 0")
    for key, share in (
        ("momentum", c.momentum),
        ("server-momentum", c.server_momentum),
        ("kd-alpha", c.kd_alpha),
        ("kd-alpha-final", c.kd_alpha_final),
        ("trust-threshold", c.trust_threshold),
        ("fraction-evaluate", c.fraction_evaluate),
    ):
        _check(0 <= share <= 1, key, share, "must be in [0, 1]")
    _check(0 < c.fraction_train <= 1, "fraction-train", c.fraction_train, "must be in (0, 1]")
    _check(c.server_learning_rate >= 0, "server-learning-rate", c.server_learning_rate, "must be >= 0")
    _check(c.proximal_mu >= 0, "proximal-mu", c.proximal_mu, "must be >= 0")
    _check(0 <= c.trimmed_avg_beta < 0.5, "trimmed-avg-beta", c.trimmed_avg_beta, "must be in [0, 0.5)")
    _check(c.num_malicious_nodes >= 0, "num-malicious-nodes", c.num_malicious_nodes, "must be >= 0")
    _check(c.krum_select >= 1, "krum-select", c.krum_select, "must be >= 1")


def _check_privacy(c: FedKDConfig) -> None:
    """Record-level DP (student and teacher) and client-level DP, and what they combine with."""
    for key, sigma in (("dp-noise-multiplier", c.dp_noise_multiplier),
                       ("teacher-dp-noise-multiplier", c.teacher_dp_noise_multiplier),
                       ("dp-target-epsilon", c.dp_target_epsilon)):
        _check(sigma >= 0, key, sigma, "must be >= 0")
    _check(c.dp_max_grad_norm > 0, "dp-max-grad-norm", c.dp_max_grad_norm, "must be > 0")
    _check(0 < c.dp_delta < 1, "dp-delta", c.dp_delta, "must be in (0, 1)")
    _check(c.dp_ledger in ("site", "run"), "dp-ledger", c.dp_ledger, "choose site or run")
    _check(c.dp_accountant in ACCOUNTANTS, "dp-accountant", c.dp_accountant,
           "choose one of " + ", ".join(ACCOUNTANTS))
    _check(c.dp_grad_sample_mode in GRAD_SAMPLE_MODES, "dp-grad-sample-mode", c.dp_grad_sample_mode,
           "choose one of " + ", ".join(GRAD_SAMPLE_MODES))
    _check(not c.teacher_dp or c.teacher_dp_noise_multiplier > 0, "teacher-dp-noise-multiplier",
           c.teacher_dp_noise_multiplier, "must be > 0 when teacher-dp is on")
    _check(c.client_dp in CLIENT_DP_MODES, "client-dp", c.client_dp, "choose one of " + ", ".join(CLIENT_DP_MODES))
    _check(c.client_dp_noise_multiplier > 0, "client-dp-noise-multiplier", c.client_dp_noise_multiplier, "must be > 0")
    _check(c.client_dp_target_epsilon >= 0, "client-dp-target-epsilon", c.client_dp_target_epsilon, "must be >= 0")
    _check(c.client_dp_target_epsilon == 0 or c.client_dp in ("server-fixed", "client-fixed"),
           "client-dp-target-epsilon", c.client_dp_target_epsilon, "needs client-dp server-fixed or client-fixed")
    _check(c.client_dp_clipping_norm > 0, "client-dp-clipping-norm", c.client_dp_clipping_norm, "must be > 0")
    _check(c.client_dp not in ("server-fixed", "client-fixed") or c.strategy in ("fedavg", "fedprox"), "strategy",
           c.strategy, f"client-dp={c.client_dp} is accounted only with fedavg or fedprox")
    _check(not (c.secure_aggregation and c.client_dp != "none"), "client-dp", c.client_dp,
           "secure-aggregation runs on Flower's legacy workflow API and cannot combine with client-dp yet")
    _check(not c.secure_aggregation or c.strategy == "fedavg", "strategy", c.strategy,
           "secure-aggregation aggregates with fedavg only")


def _check_wire(c: FedKDConfig) -> None:
    """What travels between site and server: secure aggregation's masking and update compression."""
    for key, positive in (("secagg-num-shares", c.secagg_num_shares),
                          ("secagg-reconstruction-threshold", c.secagg_reconstruction_threshold),
                          ("secagg-clipping-range", c.secagg_clipping_range),
                          ("secagg-max-weight", c.secagg_max_weight)):
        _check(positive > 0, key, positive, "must be > 0")
    _check(c.update_compression in COMPRESSIONS, "update-compression", c.update_compression,
           "choose one of " + ", ".join(COMPRESSIONS))
    _check(0 < c.compression_topk_fraction <= 1, "compression-topk-fraction", c.compression_topk_fraction,
           "must be in (0, 1]")
    _check(c.compression_rank >= 1, "compression-rank", c.compression_rank, "must be >= 1")
    _check(c.update_compression == "none" or not c.secure_aggregation, "update-compression", c.update_compression,
           "secure-aggregation sums masked, quantized weights the server cannot decode; use none")
    _check(c.update_compression == "none" or c.client_dp not in ("client-fixed", "client-adaptive"),
           "update-compression", c.update_compression,
           f"client-dp={c.client_dp} clips the reply after compression would change it (the clipping bound "
           "would no longer hold); use a server-side client-dp mode, which clips the decoded update")


def _validate_causal_lm(c: FedKDConfig) -> None:
    _check(c.task in TASKS, "task", c.task, "choose one of " + ", ".join(TASKS))
    for key, count in (("lora-rank", c.lora_rank), ("lora-alpha", c.lora_alpha)):
        _check(count >= 1, key, count, "must be >= 1")
    _check(c.lm_sequence_length >= 2, "lm-sequence-length", c.lm_sequence_length, "must be >= 2")
    targets = [name.strip() for name in c.lora_targets.split(",")]
    _check(all(targets), "lora-targets", c.lora_targets, "a comma-separated list of layer names, none empty")
    for key, count in (("student-layers", c.student_layers), ("kd-top-k", c.kd_top_k),
                       ("lm-local-steps", c.lm_local_steps), ("lm-teacher-steps", c.lm_teacher_steps),
                       ("lm-site-articles", c.lm_site_articles), ("lm-test-articles", c.lm_test_articles),
                       ("lm-teacher-eval-every", c.lm_teacher_eval_every),
                       ("lm-generation-tokens", c.lm_generation_tokens)):
        _check(count >= 0, key, count, "must be >= 0")
    for key, rate in (("lm-learning-rate", c.lm_learning_rate),
                      ("lm-teacher-learning-rate", c.lm_teacher_learning_rate)):
        _check(rate > 0, key, rate, "must be > 0")
    _check(c.lm_partitioner in LM_PARTITIONERS, "lm-partitioner", c.lm_partitioner,
           "choose one of " + ", ".join(LM_PARTITIONERS))
    _check(c.lm_teacher_patience >= 1, "lm-teacher-patience", c.lm_teacher_patience, "must be >= 1")
    _check(0 < c.lm_teacher_holdout_fraction < 1, "lm-teacher-holdout-fraction", c.lm_teacher_holdout_fraction,
           "must be in (0, 1)")
    if c.task != "causal-lm":
        return
    _check(c.dataset == "bbc-news", "dataset", c.dataset, "task causal-lm reads BBC News text: use bbc-news")
    for key, on in (("secure-aggregation", c.secure_aggregation),
                    ("server-distillation", c.server_distillation), ("teacher-dp", c.teacher_dp)):
        _check(not on, key, on, "is not offered with task causal-lm yet")
    _check(c.teacher_mode == "frozen", "teacher-mode", c.teacher_mode, "task causal-lm keeps the teacher frozen")
    _check(not (c.local_dp and c.dp_grad_sample_mode == "ghost"), "dp-grad-sample-mode", c.dp_grad_sample_mode,
           "ghost clipping is not offered with task causal-lm: use hooks or functorch")
    _check(c.client_dp == "none", "client-dp", c.client_dp, "is not offered with task causal-lm yet")


def _validate_text_encoder(c: FedKDConfig) -> None:
    for key, count in (("encoder-student-layers", c.encoder_student_layers),
                       ("encoder-local-steps", c.encoder_local_steps),
                       ("encoder-teacher-steps", c.encoder_teacher_steps),
                       ("encoder-test-articles", c.encoder_test_articles)):
        _check(count >= 0, key, count, "must be >= 0")
    _check(c.encoder_max_tokens >= 3, "encoder-max-tokens", c.encoder_max_tokens, "must be >= 3")
    for key, rate in (("encoder-learning-rate", c.encoder_learning_rate),
                      ("encoder-teacher-learning-rate", c.encoder_teacher_learning_rate)):
        _check(rate > 0, key, rate, "must be > 0")
    if c.task != "text-encoder":
        return
    _check(c.dataset == "bbc-news", "dataset", c.dataset, "task text-encoder reads BBC News text: use bbc-news")
    for key, on in (("secure-aggregation", c.secure_aggregation), ("server-distillation", c.server_distillation),
                    ("teacher-dp", c.teacher_dp), ("local-dp", c.local_dp),
                    ("resume-from", c.resume_from)):
        _check(not on, key, on, "is not offered with task text-encoder yet")
    _check(c.teacher_mode == "frozen", "teacher-mode", c.teacher_mode, "task text-encoder keeps the teacher frozen")
    _check(c.client_dp == "none", "client-dp", c.client_dp, "is not offered with task text-encoder yet")
    _check(c.update_compression == "none", "update-compression", c.update_compression,
           "is not offered with task text-encoder yet")
