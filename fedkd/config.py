"""The run configuration: defaults in one frozen dataclass, validated on creation.

Config flows one way. ``FedKDConfig()`` holds the defaults; a YAML experiment file
(``yaml.safe_load``) overrides them; values from Flower's run config that differ
from the defaults override both. Keys are kebab-case outside Python
(``kd-alpha``) and snake_case inside (``kd_alpha``). Unknown keys and
out-of-range values raise :class:`ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedkd.config_keys import ConfigError, to_key, to_name
from fedkd.config_rules import validate
from fedkd.data.registry import DATASETS

__all__ = ["ConfigError", "FedKDConfig", "find_experiment", "load_experiment", "to_key", "to_name"]


def _doc(text: str) -> dict[str, str]:
    return {"help": text}


def _added_later(text: str) -> dict[str, object]:
    """Metadata of a key added after runs were recorded by digest, whose default does what those runs did:
    :meth:`FedKDConfig.digest_dict` leaves it out at its default, so their digests still hold."""
    return {"help": text, "neutral-default": True}


@dataclass(frozen=True)
class FedKDConfig:
    """Every setting of a fedkd run, with its default."""

    num_server_rounds: int = field(default=20, metadata=_doc("Federated rounds."))
    dataset: str = field(default="mnist1d", metadata=_doc("Dataset: " + ", ".join(DATASETS) + "."))
    partitioner: str = field(
        default="dirichlet", metadata=_doc("How the train split is shared out: iid, dirichlet, pathological.")
    )
    dirichlet_alpha: float = field(
        default=0.5, metadata=_doc("Dirichlet concentration; smaller is more skewed (> 0).")
    )
    classes_per_client: int = field(
        default=2, metadata=_doc("Classes per client for the pathological partitioner.")
    )
    local_test_fraction: float = field(
        default=0.2, metadata=_doc("Share of each client's shard kept as its local test split.")
    )
    student: str = field(default="mlp", metadata=_doc("Shared student architecture (model registry name)."))
    teacher: str = field(default="cnn1d", metadata=_doc("Local teacher architecture, trained at first use."))
    teacher_epochs: int = field(default=40, metadata=_doc("Epochs to train a local teacher."))
    teacher_learning_rate: float = field(default=0.01, metadata=_doc("Teacher SGD learning rate."))
    local_epochs: int = field(default=3, metadata=_doc("Student epochs per round at each client."))
    batch_size: int = field(default=32, metadata=_doc("Mini-batch size for student and teacher."))
    learning_rate: float = field(default=0.05, metadata=_doc("Student SGD learning rate."))
    momentum: float = field(default=0.9, metadata=_doc("SGD momentum (student and teacher)."))
    kd_alpha: float = field(
        default=0.5, metadata=_doc("Weight of the hard-label CE term; 1 is CE only (no distillation).")
    )
    kd_temperature: float = field(default=8.0, metadata=_doc("Softening temperature T (> 0); the start of a schedule."))
    kd_temperature_schedule: str = field(
        default="linear",
        metadata=_doc("Temperature over rounds: constant, linear or cosine to kd-temperature-final."),
    )
    kd_temperature_final: float = field(default=2.0, metadata=_doc("Temperature in the last round of a schedule."))
    kd_alpha_schedule: str = field(
        default="constant", metadata=_doc("kd-alpha over rounds: constant, linear or cosine to kd-alpha-final.")
    )
    kd_alpha_final: float = field(default=0.5, metadata=_doc("kd-alpha in the last round of a schedule."))
    kd_logit_loss: str = field(
        default="soft-target",
        metadata=_doc("Logit knowledge: soft-target (Hinton 2015), dkd (decoupled KD, Zhao 2022) or not-true "
                      "(FedNTD, Lee 2022)."),
    )
    dkd_tckd_weight: float = field(default=1.0, metadata=_doc("DKD weight of the target-class term."))
    dkd_nckd_weight: float = field(
        default=2.0,
        metadata=_doc("DKD weight of the non-target-class term (the paper's 8 diverges here without warm-up)."),
    )
    trust_measure: str = field(
        default="none",
        metadata=_doc("Teacher trust gating per sample: none, max-prob or entropy; untrusted samples use the label."),
    )
    trust_threshold: float = field(
        default=0.5, metadata=_doc("Trust a teacher max-prob >= this, or normalised entropy <= this (in [0, 1]).")
    )
    hint_weight: float = field(
        default=0.0, metadata=_doc("FitNets hint weight: student features regressed on the teacher's (local adapter).")
    )
    attention_weight: float = field(
        default=0.0, metadata=_doc("Attention-transfer weight (spatial feature maps of equal size).")
    )
    relational_weight: float = field(default=0.0, metadata=_doc("Relational knowledge weight (batch-level)."))
    relational_loss: str = field(
        default="rkd", metadata=_doc("Relational knowledge: rkd (distance + angle) or similarity (SP).")
    )
    feature_student_layer: str = field(
        default="", metadata=_doc("Student module whose output is its feature; empty: the architecture's default.")
    )
    feature_teacher_layer: str = field(
        default="", metadata=_doc("Teacher module whose output is its feature; empty: the architecture's default.")
    )
    teacher_mode: str = field(
        default="frozen",
        metadata=_doc("frozen, or mutual (FedKD, Wu 2022: the private teacher also learns from the student)."),
    )
    unlabeled_fraction: float = field(
        default=0.0,
        metadata=_doc("Share of each site's train split whose labels are hidden (distillation term only); in [0, 1)."),
    )
    public_pool_holdout: int = field(
        default=0,
        metadata=_added_later(
            "Fashion-MNIST: hold this many train images (a fixed class-balanced draw, equally many per class, "
            "the same for every seed) out of the federation as the public pool that teacher-pretraining and "
            "student-pretrain-samples use; the sites share out the rest. 0: no pool. MNIST-1D's pool is "
            "generated and needs none."),
    )
    student_pretrain_samples: int = field(
        default=0,
        metadata=_doc("Start the global student from CE pretraining on this many public samples (MNIST-1D: "
                      "fresh from the generator; Fashion-MNIST: the first of public-pool-holdout), disjoint from "
                      "the federation's data, cached; 0 starts from a random init."),
    )
    student_pretrain_epochs: int = field(
        default=15, metadata=_doc("Epochs of the student's public pretraining (with student-pretrain-samples).")
    )
    teacher_checkpoint: str = field(
        default="", metadata=_doc("Pretrained teacher checkpoint for every site (node config may override).")
    )
    teacher_pretraining: str = field(
        default="public-pool",
        metadata=_doc("Where a site's teacher starts when no teacher-checkpoint is named: public-pool (a teacher "
                      "pretrained once per machine on public samples disjoint from the federation's data, "
                      "then fine-tuned on the site's shard; MNIST-1D, and Fashion-MNIST with public-pool-holdout; "
                      "other datasets and teacher-dp train on the shard) or none (trained on the shard only, "
                      "teacher-epochs)."),
    )
    teacher_pretrain_samples: int = field(
        default=20000, metadata=_doc("Samples in the public pool of teacher-pretraining (a multiple of 10).")
    )
    teacher_pretrain_epochs: int = field(
        default=15, metadata=_doc("Epochs of public-pool pretraining (teacher-learning-rate, momentum, batch-size).")
    )
    teacher_finetune_epochs: int = field(
        default=5,
        metadata=_doc("Epochs to fine-tune the starting teacher (public-pool or teacher-checkpoint) on the site's "
                      "shard at first use (cached); 0 uses it as it is."),
    )
    server_distillation: bool = field(
        default=False,
        metadata=_doc("FedDF (Lin 2020): the server refines the average on an unlabeled proxy set from the "
                      "ensemble of client students."),
    )
    server_proxy_size: int = field(default=2000, metadata=_doc("Samples in the server's unlabeled proxy set."))
    server_distillation_steps: int = field(default=200, metadata=_doc("Adam steps of server ensemble distillation."))
    server_distillation_learning_rate: float = field(default=0.001, metadata=_doc("Adam learning rate of FedDF."))
    server_distillation_temperature: float = field(default=1.0, metadata=_doc("Temperature of FedDF."))
    strategy: str = field(
        default="fedavg",
        metadata=_doc("Server strategy by name (server.strategy.STRATEGIES): fedavg, fedprox, fedadam, fedavgm, "
                      "fedyogi, fedadagrad, fedmedian; robust to poisoned replies: fedtrimmedavg, krum, "
                      "multikrum, bulyan."),
    )
    fraction_train: float = field(default=1.0, metadata=_doc("Share of clients sampled to train each round."))
    fraction_evaluate: float = field(
        default=1.0, metadata=_doc("Share of clients sampled for federated evaluation.")
    )
    evaluate_every: int = field(
        default=5,
        metadata=_doc("Federated evaluation (sites test the global student on their local test split) every k "
                      "rounds and in the last; the server's central evaluation still runs every round. Each "
                      "evaluation is a second message wave, so k > 1 makes the rounds between one wave."),
    )
    proximal_mu: float = field(default=0.01, metadata=_doc("FedProx proximal weight."))
    server_learning_rate: float = field(
        default=0.0,
        metadata=_doc("Server step size (FedAvgM lr; FedAdam/FedYogi/FedAdagrad eta); 0 keeps Flower's default."),
    )
    server_momentum: float = field(default=0.9, metadata=_doc("FedAvgM server momentum."))
    trimmed_avg_beta: float = field(
        default=0.2, metadata=_doc("FedTrimmedAvg: share of the largest and of the smallest values cut per weight.")
    )
    num_malicious_nodes: int = field(
        default=1, metadata=_doc("Krum, MultiKrum, Bulyan: poisoned sites tolerated per round (Bulyan needs "
                                 "4f + 3 sites).")
    )
    krum_select: int = field(default=2, metadata=_doc("MultiKrum: replies kept and averaged each round."))
    local_dp: bool = field(
        default=False, metadata=_doc("Train the student with DP-SGD (Opacus) at every site.")
    )
    dp_noise_multiplier: float = field(
        default=1.0, metadata=_doc("DP-SGD noise multiplier sigma, used when dp-target-epsilon is 0.")
    )
    dp_max_grad_norm: float = field(default=1.0, metadata=_doc("DP-SGD per-sample clipping norm C."))
    dp_batch_size: int = field(
        default=0,
        metadata=_doc("Expected (logical) batch of the student's DP-SGD: Poisson rate q = dp-batch-size / records; "
                      "0 uses batch-size. Larger batches spend less epsilon per record seen."),
    )
    dp_physical_batch_size: int = field(
        default=0,
        metadata=_doc("Virtual steps: the most records one DP-SGD forward/backward pass takes; a larger logical "
                      "batch is clipped per sample in chunks and takes one noisy step (memory only); 0: one pass."),
    )
    dp_learning_rate: float = field(
        default=0.0, metadata=_doc("Student SGD learning rate under local DP; 0 uses learning-rate.")
    )
    dp_local_epochs: int = field(
        default=0, metadata=_doc("Student epochs per round under local DP; 0 uses local-epochs.")
    )
    dp_target_epsilon: float = field(
        default=0.0,
        metadata=_doc("Epsilon budget of the site's ledger (see dp-ledger); > 0 calibrates sigma once per run so "
                      "the composed epsilon ends at it, and stops a spent site."),
    )
    dp_delta: float = field(default=1e-5, metadata=_doc("Delta of every reported epsilon."))
    dp_accountant: str = field(default="rdp", metadata=_doc("Privacy accountant: rdp or prv."))
    dp_grad_sample_mode: str = field(
        default="hooks",
        metadata=_doc("How Opacus bounds per-sample gradients: hooks, functorch or ghost (ghost clipping)."),
    )
    dp_ledger: str = field(
        default="site",
        metadata=_doc("Whose DP history an epsilon composes: site (the site's data over all runs and restarts) or "
                      "run (this run only, for sweeps of separate hypothetical runs; simulated nodes only)."),
    )
    teacher_dp: bool = field(
        default=False,
        metadata=_doc("Train site teachers with DP-SGD too; their epsilon is composed with the student's."),
    )
    teacher_dp_noise_multiplier: float = field(
        default=1.0, metadata=_doc("DP-SGD noise multiplier of teacher training (with teacher-dp).")
    )
    client_dp: str = field(
        default="none",
        metadata=_doc("Client-level DP at the server (Flower's wrappers): none, server-fixed, client-fixed, "
                      "server-adaptive, client-adaptive."),
    )
    client_dp_noise_multiplier: float = field(
        default=1.0, metadata=_doc("Noise multiplier of client-level DP (over the clipping norm).")
    )
    client_dp_target_epsilon: float = field(
        default=0.0,
        metadata=_doc("User-level epsilon for the whole run with fixed clipping; > 0 calibrates the noise once."),
    )
    client_dp_clipping_norm: float = field(
        default=1.0, metadata=_doc("Update clipping norm of client-level DP (initial norm when adaptive).")
    )
    secure_aggregation: bool = field(
        default=False, metadata=_doc("SecAgg+: the server sees only the sum of the sites' student updates.")
    )
    secagg_num_shares: float = field(
        default=1.0, metadata=_doc("SecAgg+ shares per secret: a count (> 1) or a share of the sampled sites (<= 1).")
    )
    secagg_reconstruction_threshold: float = field(
        default=0.67, metadata=_doc("SecAgg+ shares needed to reconstruct: a count (> 1) or a share (<= 1).")
    )
    secagg_clipping_range: float = field(
        default=8.0, metadata=_doc("SecAgg+ quantizes weights within [-range, range]; outside values are clipped.")
    )
    secagg_max_weight: float = field(
        default=1000.0,
        metadata=_doc("SecAgg+ cap on a site's weight (its examples); set it >= the largest site; "
                      "larger costs precision."),
    )
    update_compression: str = field(
        default="none",
        metadata=_doc("Compress each site's student update (global minus trained) on the wire: none, fp16, int8 "
                      "(stochastic rounding), topk (with error feedback) or lowrank (SVD of 2-D updates)."),
    )
    compression_topk_fraction: float = field(
        default=0.1, metadata=_doc("Share of each tensor's update entries topk keeps, in (0, 1].")
    )
    compression_rank: int = field(default=4, metadata=_doc("Rank lowrank keeps of each 2-D update (>= 1)."))
    task: str = field(
        default="classification",
        metadata=_doc("classification, or causal-lm (SmolLM2 sites distill a shared LoRA student; needs the llm "
                      "extra and dataset bbc-news, one site per topic), or text-encoder (MiniLM teachers fine-tuned "
                      "per site distill a truncated MiniLM + LoRA student on BBC News; needs the text and llm "
                      "extras)."),
    )
    lora_rank: int = field(default=8, metadata=_doc("causal-lm, text-encoder: LoRA rank r of the student's adapters."))
    lora_alpha: int = field(
        default=16, metadata=_doc("causal-lm, text-encoder: LoRA alpha; updates are scaled by alpha / r.")
    )
    lora_targets: str = field(
        default="q_proj,v_proj", metadata=_doc("causal-lm: comma-separated linear layers that get adapters.")
    )
    student_layers: int = field(
        default=0, metadata=_doc("causal-lm: decoder layers the student keeps (spread first to last); 0 keeps all.")
    )
    kd_top_k: int = field(
        default=0, metadata=_doc("causal-lm: distil from the teacher's top-k tokens plus one tail bucket; 0: all.")
    )
    lm_sequence_length: int = field(default=64, metadata=_doc("causal-lm: tokens per article block (>= 2)."))
    lm_local_steps: int = field(default=8, metadata=_doc("causal-lm: AdamW steps of the student per site and round."))
    lm_learning_rate: float = field(default=0.002, metadata=_doc("causal-lm: AdamW learning rate of the adapters."))
    lm_teacher_steps: int = field(
        default=16, metadata=_doc("causal-lm: LoRA fine-tuning steps of each site's private teacher (then merged).")
    )
    lm_teacher_learning_rate: float = field(
        default=0.002, metadata=_doc("causal-lm: AdamW learning rate of the site teacher's fine-tuning.")
    )
    lm_teacher_eval_every: int = field(
        default=0,
        metadata=_doc("causal-lm: teacher early stopping: score the held-out slice every this many fine-tuning steps, "
                      "keep the best adapters (0: off, train all lm-teacher-steps)."),
    )
    lm_teacher_patience: int = field(
        default=2, metadata=_doc("causal-lm: held-out scores without a new best before the teacher's fine-tune stops.")
    )
    lm_teacher_holdout_fraction: float = field(
        default=0.2, metadata=_doc("causal-lm: share of a site's train blocks held out to early-stop its teacher.")
    )
    lm_site_articles: int = field(
        default=0, metadata=_doc("causal-lm: articles per site (0: all of its topic or share).")
    )
    lm_test_articles: int = field(default=0, metadata=_doc("causal-lm: held-out articles the server scores (0: all)."))
    lm_generation_tokens: int = field(
        default=24, metadata=_doc("causal-lm: new tokens the server generates greedily from each fixed prompt every "
                                  "round (generations.jsonl); 0: none.")
    )
    lm_partitioner: str = field(
        default="topic", metadata=_doc("causal-lm: how simulated sites share BBC News: topic (one site per topic, "
                                       "5 sites), or iid, dirichlet, pathological with the classifier's keys.")
    )
    encoder_student_layers: int = field(
        default=2, metadata=_doc("text-encoder: MiniLM layers the student keeps (spread first to last); 0 keeps all 6.")
    )
    encoder_max_tokens: int = field(default=64, metadata=_doc("text-encoder: word pieces read of each article (>= 3)."))
    encoder_local_steps: int = field(
        default=20, metadata=_doc("text-encoder: AdamW steps of the student (adapters and head) per site and round.")
    )
    encoder_learning_rate: float = field(
        default=0.003, metadata=_doc("text-encoder: AdamW learning rate of the student's adapters and head.")
    )
    encoder_teacher_steps: int = field(
        default=30, metadata=_doc("text-encoder: CE fine-tuning steps of each site's MiniLM teacher (LoRA and head).")
    )
    encoder_teacher_learning_rate: float = field(
        default=0.003, metadata=_doc("text-encoder: AdamW learning rate of the site teacher's fine-tuning.")
    )
    encoder_test_articles: int = field(
        default=0, metadata=_doc("text-encoder: held-out articles the server scores (0: all of the test part).")
    )
    seed: int = field(default=0, metadata=_doc("Seed for partitioning, initialisation and batching."))
    student_device: str = field(default="auto", metadata=_doc("auto (CUDA if present), cpu, cuda, cuda:N."))
    teacher_device: str = field(
        default="auto", metadata=_doc("Device for teacher training and logits; logits move to the student's.")
    )
    output_dir: str = field(
        default="results", metadata=_doc("Where results go; relative paths are under the working directory.")
    )
    run_name: str = field(
        default="", metadata=_doc("Results subfolder; empty means a timestamp.")
    )
    resume_from: str = field(
        default="",
        metadata=_doc("A results folder whose checkpoint the run continues from its last complete round "
                      "(python -m simulations.run --resume sets it); empty starts afresh."),
    )
    data_dir: str = field(default="", metadata=_doc("Where to look for dataset files first."))
    server_test_data: str = field(
        default="",
        metadata=_doc("Absolute path of an .npz (arrays x, y) the server owns and evaluates the global student on "
                      "every round; empty means the dataset's own test split."),
    )
    cache_dir: str = field(
        default="", metadata=_doc("Teacher and dataset cache; empty means ~/.cache/fedkd.")
    )
    experiment: str = field(
        default="", metadata=_doc("YAML experiment file whose keys override these defaults.")
    )

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def keys(cls) -> list[str]:
        """All config keys, kebab-case."""
        return [to_key(f.name) for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """The config as kebab-case keys and plain values."""
        return {to_key(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    def digest_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` less the keys added later that hold their neutral default: what a digest of
        the config is taken over, so that a run recorded before such a key existed keeps its digest."""
        return {to_key(f.name): getattr(self, f.name) for f in dataclasses.fields(self)
                if not (f.metadata.get("neutral-default") and getattr(self, f.name) == f.default)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: FedKDConfig | None = None) -> FedKDConfig:
        """Override ``base`` (default: the defaults) with kebab-case ``values``.

        Raises
        ------
        ConfigError
            For an unknown key, a value of the wrong type, or one out of range.
        """
        base = base or cls()
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            name = to_name(str(key))
            if name not in types or "_" in str(key):
                hint = f" (did you mean {to_key(name)!r}?)" if name in types else ""
                raise ConfigError(f"unknown config key {key!r}{hint}; allowed keys: {', '.join(cls.keys())}")
            changes[name] = _coerce(str(key), value, str(types[name]))
        return dataclasses.replace(base, **changes)

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any], *, base_dir: Path | None = None) -> FedKDConfig:
        """Resolve a Flower run config: defaults < experiment file < changed run-config values.

        Parameters
        ----------
        run_config : mapping
            Flower's ``context.run_config`` (every key, defaults included).
        base_dir : pathlib.Path, optional
            Directory a relative ``experiment`` path is resolved against, before
            the working directory.
        """
        defaults = cls().to_dict()
        changed = {k: v for k, v in run_config.items() if k not in defaults or defaults[k] != v}
        experiment = str(changed.get("experiment", ""))
        config = cls()
        if experiment:
            config = cls.from_mapping(load_experiment(experiment, base_dir=base_dir), base=config)
        return cls.from_mapping(changed, base=config)


def _coerce(key: str, value: Any, type_name: str) -> Any:
    if type_name == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    expected = {"int": int, "str": str, "float": float, "bool": bool}[type_name]
    if isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
        raise ConfigError(f"{key}={value!r} must be of type {type_name}, got {type(value).__name__}")
    return value


def find_experiment(path: str, *, base_dir: Path | None = None) -> Path:
    """Locate an experiment file: as given, under ``base_dir``, or under its experiments folder."""
    candidates = [Path(path)]
    if base_dir is not None:
        candidates += [base_dir / path, base_dir / "simulations" / "experiments" / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"experiment={path!r}: no such file (looked in {[str(c) for c in candidates]})")


def load_experiment(path: str, *, base_dir: Path | None = None) -> dict[str, Any]:
    """Read a YAML experiment file: a flat mapping of config keys to values."""
    file = find_experiment(path, base_dir=base_dir)
    try:
        content = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"experiment={path!r} is not valid YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"experiment={path!r} must hold a mapping of config keys, got {type(content).__name__}")
    if "experiment" in content:
        raise ConfigError(f"experiment={path!r} may not name another experiment")
    return content
