"""The fedkd ClientApp: unpack the global student, distill it from the private teacher, reply.

Only the student's weights and scalar metrics leave the site. The teacher, its
weights, its logits and the site's data stay here.

Two message formats reach the train handler: Flower's Message API records
(``arrays`` + ``config``), and, under secure aggregation, the legacy ``fitins``
records of Flower's SecAgg+ workflow, whose mod masks the reply before it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import adaptiveclipping_mod, fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common.recorddict_compat import fitres_to_recorddict, recorddict_to_fitins
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from clients.compression import compressed_reply
from clients.encoder_round import encoder_evaluate, encoder_train
from clients.lm_round import lm_evaluate, lm_train
from clients.local_round import BudgetSpent, current_teacher, teacher_accuracy, train_round
from clients.privacy import site_id
from clients.progress import SiteProgress, teacher_summary, train_summary
from clients.site import load_site
from clients.site_policy import SITE_REFUSED, SiteRefusal, check_request, refusal_reply
from fedkd.config import FedKDConfig
from fedkd.device import resolve_device
from fedkd.distill.agreement import transfer_metrics
from fedkd.distill.schedules import RoundValues
from fedkd.evaluation import evaluate
from fedkd.finite import first_non_finite, non_finite_scalars
from fedkd.node_config import NodeConfig
from fedkd.student import build_student

app = ClientApp()

# Error code of a train reply from a site whose privacy budget is spent.
BUDGET_SPENT = 4001
# Error code of a train reply whose student came out of the round with nan or inf in it.
NON_FINITE = 4002
LEGACY_ARRAYS = "fitins.parameters"


def config_from(record: ConfigRecord | dict[str, object]) -> FedKDConfig:
    """The run config the server sent, ignoring Flower's own keys (``server-round``, ...)."""
    known = set(FedKDConfig.keys())
    return FedKDConfig.from_mapping({k: v for k, v in record.items() if k in known})


def config_of(msg: Message) -> FedKDConfig:
    """The run config of a Message API message."""
    return config_from(msg.content.config_records.get("config", ConfigRecord()))


def student_of(msg: Message, config: FedKDConfig) -> torch.nn.Module:
    """The global student built from the message's arrays."""
    student = build_student(config)
    if "arrays" not in msg.content.array_records:
        raise ValueError("the message holds no 'arrays' record with the global student")
    student.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    return student


def client_dp_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Clip this site's update when the server asked for client-side clipping (train only).

    Flower's client-side DP wrappers send a clipping norm in the round's config;
    without one (no client-level DP, or clipping at the server) this does nothing.
    """
    record = msg.content.config_records.get("config", ConfigRecord())
    if KEY_CLIPPING_NORM not in record:
        return call_next(msg, context)
    adaptive = record.get("client-dp") == "client-adaptive"
    return (adaptiveclipping_mod if adaptive else fixedclipping_mod)(msg, context, call_next)


def secure_aggregation_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Run Flower's SecAgg+ protocol when the server's workflow speaks it; otherwise pass through."""
    if RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


def non_finite_reply(student: torch.nn.Module, metrics: Mapping[str, object]) -> str | None:
    """Why this site must not send its student (a weight or metric that is nan or inf), or ``None``.

    A site never sends non-finite weights: averaged in, they would poison every site's student.
    """
    reason = first_non_finite(student.state_dict()) or non_finite_scalars(metrics.items())
    return None if reason is None else f"this site's student is not finite after training, not sent: {reason}"


def site_refusal_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Reply with an error naming what this site refused (its data, a checkpoint, a setting), not a traceback.

    fedkd raises ``ValueError`` (and ``OSError`` for files) with a message naming the
    bad value; the server records that message as the site's reason for the round.
    Other exceptions are bugs and propagate as before.
    """
    try:
        return call_next(msg, context)
    except (ValueError, OSError) as error:
        return Message(error=Error(code=SITE_REFUSED, reason=f"{type(error).__name__}: {error}"), reply_to=msg)


@app.train(mods=[secure_aggregation_mod, client_dp_mod, site_refusal_mod])
def train(msg: Message, context: Context) -> Message:
    """Distill the received student from this site's teacher and return it."""
    if LEGACY_ARRAYS in msg.content.array_records:
        return _train_legacy(msg, context)
    config = config_of(msg)
    record = msg.content.config_records["config"]
    if config.task == "causal-lm":
        values = RoundValues.from_record(record)
        return lm_train(msg, context, config, int(record.get("server-round", 0)), values.kd_alpha,
                        values.kd_temperature)
    if config.task == "text-encoder":
        values = RoundValues.from_record(record)
        return encoder_train(msg, context, config, int(record.get("server-round", 0)), values.kd_alpha,
                             values.kd_temperature)
    student = student_of(msg, config)
    poisoned = first_non_finite(student.state_dict())
    if poisoned is not None:
        return Message(error=Error(code=NON_FINITE, reason=f"the global student received is not finite: {poisoned}"),
                       reply_to=msg)
    received = {name: value.detach().clone() for name, value in student.state_dict().items()}
    server_round = int(record.get("server-round", 0))
    progress = SiteProgress(NodeConfig.from_mapping(context.node_config), server_round, "train")
    try:
        announce_teacher(config, context, progress)
        with progress.timed() as elapsed:
            metrics = train_round(config, context, student, server_round, RoundValues.from_record(record))
    except BudgetSpent as spent:
        progress.say("refused: %s", spent)
        return Message(error=Error(code=BUDGET_SPENT, reason=str(spent)), reply_to=msg)
    except SiteRefusal as refusal:
        progress.say("refused: %s", refusal)
        return refusal_reply(msg, refusal)
    refusal = non_finite_reply(student, metrics)
    if refusal is not None:
        progress.say("not sent: %s", refusal)
        return Message(error=Error(code=NON_FINITE, reason=refusal), reply_to=msg)
    progress.say(train_summary(metrics, elapsed["seconds"], config.dp_delta))
    records: dict[str, ArrayRecord | ConfigRecord] = {"arrays": ArrayRecord(student.state_dict())}
    if config.update_compression != "none":
        records = compressed_reply(config, context, received, student.state_dict(), server_round)
    content = RecordDict({**records, "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)


def announce_teacher(config: FedKDConfig, context: Context, progress: SiteProgress) -> None:
    """At a real site, load its data and teacher ahead of the round (kept in this process for the round), saying
    what the teacher is and how long it took to be ready: a teacher trained at first use takes minutes.

    The site's policy is checked first: a server-sent path is never opened unless the site allows it.
    """
    if not progress.enabled:
        return
    node = NodeConfig.from_mapping(context.node_config)
    check_request(config, node)
    progress.say("loading the site's data and teacher")
    with progress.timed() as elapsed:
        site = load_site(config, node)
        teacher = current_teacher(config, context, site)
    progress.name_site(site_id(site))
    scored = teacher_accuracy(site, teacher)
    progress.say(teacher_summary(teacher.architecture, teacher.source, cast(float, scored["teacher-accuracy"]),
                                 len(site.test), elapsed["seconds"]))


def _train_legacy(msg: Message, context: Context) -> Message:
    """The same round for SecAgg+'s legacy ``fitins`` records; the reply is ``fitres`` records."""
    fitins = recorddict_to_fitins(msg.content, keep_input=True)
    config = config_from(fitins.config)
    student = build_student(config)
    names = list(student.state_dict())
    arrays = parameters_to_ndarrays(fitins.parameters)
    student.load_state_dict({name: torch.from_numpy(a.copy()) for name, a in zip(names, arrays, strict=True)})
    try:
        metrics = train_round(config, context, student, int(fitins.config.get("server-round", 0)),
                              RoundValues.from_record(fitins.config))
    except BudgetSpent as spent:
        return Message(error=Error(code=BUDGET_SPENT, reason=str(spent)), reply_to=msg)
    except SiteRefusal as refusal:
        return refusal_reply(msg, refusal)
    refusal = non_finite_reply(student, metrics)
    if refusal is not None:
        return Message(error=Error(code=NON_FINITE, reason=refusal), reply_to=msg)
    parameters = ndarrays_to_parameters([v.detach().cpu().numpy() for v in student.state_dict().values()])
    fitres = FitRes(Status(Code.OK, ""), parameters, int(metrics["num-examples"]), metrics)  # type: ignore[arg-type]
    return Message(content=fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)


@app.evaluate(mods=[site_refusal_mod])
def evaluate_student(msg: Message, context: Context) -> Message:
    """Evaluate the global student on this site's local test split, beside the site's teacher.

    Transfer metrics: ``teacher-accuracy`` and ``agreement`` (student and teacher
    top-1 predictions agree); the server turns them into accuracy retention. Every
    reply carries the same keys: a site without a test split reports zeros over
    ``num-examples`` 0, which the server skips.
    """
    config = config_of(msg)
    if config.task == "causal-lm":
        return lm_evaluate(msg, context, config)
    if config.task == "text-encoder":
        return encoder_evaluate(msg, context, config)
    node = NodeConfig.from_mapping(context.node_config)
    server_round = int(msg.content.config_records.get("config", ConfigRecord()).get("server-round", 0))  # type: ignore[arg-type]
    progress = SiteProgress(node, server_round, "evaluate")
    try:
        check_request(config, node)
    except SiteRefusal as refusal:
        progress.say("refused: %s", refusal)
        return refusal_reply(msg, refusal)
    with progress.timed() as elapsed:
        site = load_site(config, node)
        teacher = current_teacher(config, context, site)
        student = student_of(msg, config)
        stats = evaluate(student, site.test, device=resolve_device(config.student_device))
    progress.name_site(site_id(site))
    progress.say("global student %.1f%% on the local test split (%d) in %.1f s", 100 * stats.accuracy,
                 stats.num_examples, elapsed["seconds"])
    metrics = MetricRecord({"num-examples": stats.num_examples, "accuracy": stats.accuracy, "loss": stats.loss,
                            "site-id": site_id(site)})  # the server's per-site accuracy curves
    if config.client_dp != "none":
        metrics["dp-weight"] = 1
    metrics["teacher-accuracy"], metrics["agreement"] = 0.0, 0.0
    if len(site.test):
        transfer = transfer_metrics(student, teacher.test_logits, site.test, resolve_device(config.student_device))
        metrics["teacher-accuracy"], metrics["agreement"] = transfer.teacher_accuracy, transfer.agreement
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
