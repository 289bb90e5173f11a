"""Knowledge from intermediate features: FitNets hints, attention transfer, relational KD.

Features are taken with forward hooks on modules named as in ``model.named_modules()``
(``net.4``, ``features.5``), never by editing model code. A hint needs a small
adapter from the student's feature shape to the teacher's; it is trained with the
student but belongs to the site: it is never sent or aggregated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from fedkd.losses.feature import attention_transfer, hint_loss
from fedkd.losses.relational import RELATIONAL_LOSSES

# The default layer to take features from: the MLP's last hidden activation; for the CNNs the last
# convolutional feature map before pooling (attention transfer needs a spatial map; RKD's cost grows with its size).
FEATURE_LAYERS: dict[str, str] = {
    "mlp": "net.4",
    "cnn1d": "features.5",
    "cnn-small": "features.4",
    "cnn-large": "features.4",
    "mlp-tanh": "net.4",
    "cnn-small-gn-tanh": "features.6",
    "cnn-niid-bench": "features.4",
}


@dataclass(frozen=True)
class FeatureKnowledge:
    """Weights of the feature knowledge terms and where features are taken.

    Attributes
    ----------
    hint_weight : float
        FitNets hint (Romero et al. 2015): MSE from adapted student features to the teacher's.
    attention_weight : float
        Attention transfer (Zagoruyko and Komodakis 2017); needs spatial maps of equal size.
    relational_weight : float
        Relational knowledge over the batch: RKD (Park et al. 2019) or
        similarity-preserving KD (Tung and Mori 2019).
    relational_loss : str
        ``rkd`` or ``similarity``.
    student_layer, teacher_layer : str
        Module names to hook.
    """

    hint_weight: float = 0.0
    attention_weight: float = 0.0
    relational_weight: float = 0.0
    relational_loss: str = "rkd"
    student_layer: str = ""
    teacher_layer: str = ""

    def __post_init__(self) -> None:
        for name in ("hint_weight", "attention_weight", "relational_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.relational_loss not in RELATIONAL_LOSSES:
            raise ValueError(f"relational_loss={self.relational_loss!r}; choose one of {', '.join(RELATIONAL_LOSSES)}")

    @property
    def active(self) -> bool:
        """Whether any feature term has a weight."""
        return self.hint_weight > 0 or self.attention_weight > 0 or self.relational_weight > 0


def layer_of(architecture: str, chosen: str) -> str:
    """``chosen`` if given, else the architecture's default feature layer."""
    if chosen:
        return chosen
    if architecture not in FEATURE_LAYERS:
        raise ValueError(f"no default feature layer for {architecture!r}; name one (feature-*-layer)")
    return FEATURE_LAYERS[architecture]


class FeatureTap:
    """Holds the latest output of one hooked module."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None

    def take(self) -> torch.Tensor:
        """The captured output; raises if the module did not run."""
        if self.value is None:
            raise RuntimeError("the hooked module produced no output in the last forward pass")
        return self.value


@contextmanager
def tapped(model: nn.Module, layer: str) -> Iterator[FeatureTap]:
    """Capture the output of ``model``'s module named ``layer`` while the context is open."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"no module named {layer!r}; modules: {', '.join(n for n in modules if n)}")
    tap = FeatureTap()

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        tap.value = output

    handle = modules[layer].register_forward_hook(hook)
    try:
        yield tap
    finally:
        handle.remove()


def build_adapter(student_shape: tuple[int, ...], teacher_shape: tuple[int, ...]) -> nn.Module:
    """The hint adapter from one sample's student features to the teacher's.

    Equal spatial sizes get a 1x1 convolution over channels (FitNets' convolutional
    regressor); anything else a linear map of the flattened features.
    """
    same_spatial = len(student_shape) == len(teacher_shape) and student_shape[1:] == teacher_shape[1:]
    if same_spatial and len(student_shape) == 2:
        return nn.Conv1d(student_shape[0], teacher_shape[0], kernel_size=1)
    if same_spatial and len(student_shape) == 3:
        return nn.Conv2d(student_shape[0], teacher_shape[0], kernel_size=1)
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(student_shape), math.prod(teacher_shape)),
                         nn.Unflatten(1, teacher_shape))


def feature_losses(
    student_features: torch.Tensor,
    teacher_features: torch.Tensor,
    knowledge: FeatureKnowledge,
    adapter: nn.Module | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted feature knowledge of one batch.

    Returns
    -------
    tuple of torch.Tensor
        Per-sample terms ``(batch,)`` (hint and attention) and the batch-level
        relational term (a scalar, already divided by nothing: add it to the batch mean).
    """
    teacher_features = teacher_features.detach()
    per_sample = torch.zeros(student_features.shape[0], device=student_features.device)
    if knowledge.hint_weight > 0:
        if adapter is None:
            raise ValueError("a hint needs an adapter")
        per_sample = per_sample + knowledge.hint_weight * hint_loss(adapter(student_features), teacher_features,
                                                                    reduction="none")
    if knowledge.attention_weight > 0:
        per_sample = per_sample + knowledge.attention_weight * attention_transfer(
            student_features, teacher_features, reduction="none")
    batch = torch.zeros((), device=student_features.device)
    if knowledge.relational_weight > 0:
        relational = RELATIONAL_LOSSES[knowledge.relational_loss]
        batch = knowledge.relational_weight * relational(student_features.flatten(1), teacher_features.flatten(1))
    return per_sample, batch


def check_feature_shapes(knowledge: FeatureKnowledge, student_shape: tuple[int, ...],
                         teacher_shape: tuple[int, ...]) -> None:
    """Raise a clear error when attention transfer cannot compare these feature maps."""
    if knowledge.attention_weight > 0 and (len(student_shape) < 2 or student_shape[1:] != teacher_shape[1:]):
        raise ValueError(
            f"attention transfer needs spatial feature maps of equal size; student features {student_shape}, "
            f"teacher features {teacher_shape} (choose other layers or attention-weight=0)")


@dataclass(frozen=True)
class FeatureTeacher:
    """What a training loop needs to add feature knowledge: the teacher, its inputs, the hooks, the adapter.

    Attributes
    ----------
    teacher : torch.nn.Module
        Frozen; runs under ``torch.no_grad()``.
    teacher_x : torch.Tensor
        The teacher's inputs for every training sample, on the teacher's device.
    knowledge : FeatureKnowledge
        Weights and layer names (already resolved to module names).
    adapter : torch.nn.Module or None
        The site's hint adapter, trained with the student; ``None`` without a hint.
    """

    teacher: nn.Module
    teacher_x: torch.Tensor
    knowledge: FeatureKnowledge
    adapter: nn.Module | None

    def teacher_features(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The teacher's features of the samples at ``index``, moved to ``device``."""
        with torch.no_grad(), tapped(self.teacher, self.knowledge.teacher_layer) as tap:
            self.teacher(self.teacher_x[index.to(self.teacher_x.device)])
            return tap.take().to(device)


def feature_shapes(student: nn.Module, teacher: nn.Module, knowledge: FeatureKnowledge, student_x: torch.Tensor,
                   teacher_x: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """One sample's feature shapes at the hooked layers of student and teacher."""
    shapes = []
    for model, layer, x in ((student, knowledge.student_layer, student_x), (teacher, knowledge.teacher_layer,
                                                                            teacher_x)):
        was_training = model.training
        model.eval()
        with torch.no_grad(), tapped(model, layer) as tap:
            model(x[:1])
            shapes.append(tuple(tap.take().shape[1:]))
        model.train(was_training)
    return shapes[0], shapes[1]
