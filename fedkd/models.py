"""A small registry of classifier architectures, chosen by name.

Students and teachers are built from the same registry; only the student is
shared across sites, so each site may pick a different teacher architecture.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import nn

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]


class MLPBase(nn.Module):
    """Two hidden layers of 100 units: the MNIST-1D paper's ``MLPBase``.

    Accepts any input shape; it is flattened first. ``activation=nn.Tanh`` gives the
    bounded variant that suits DP-SGD (tempered sigmoids, Papernot et al., 2021).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 100,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), hidden),
            activation(),
            nn.Linear(hidden, hidden),
            activation(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)
        return logits


class ConvBase1d(nn.Module):
    """Three strided 1-D convolutions of 25 channels: the MNIST-1D paper's ``ConvBase``."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, channels: int = 25):
        super().__init__()
        if len(input_shape) != 1:
            raise ValueError(f"cnn1d needs 1-D inputs, got input shape {input_shape}")
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 1, *input_shape)).shape[1]
        self.classifier = nn.Linear(flat, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(x.unsqueeze(1)))
        return logits


class ConvNet2d(nn.Module):
    """Two 5x5 convolutions with max pooling, then two fully connected layers.

    ``width=(32, 64), hidden=512`` is the 2-conv CNN of McMahan et al. (2017); narrower
    widths give a small student. ``width=(6, 16), hidden=(120, 84), padding=0`` is the CNN
    of Flower Baselines' niid-bench on (Fashion-)MNIST (LeNet-5's shape): ``hidden`` may
    list several fully connected layers.
    ``groups > 0`` adds GroupNorm (Wu & He, 2018) after each convolution and ``activation=nn.Tanh``
    bounds the activations: the variant that suits DP-SGD (no batch statistics, which per-sample
    clipping cannot bound; tempered sigmoids, Papernot et al., 2021).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        width: tuple[int, int] = (32, 64),
        hidden: int | tuple[int, ...] = 512,
        activation: type[nn.Module] = nn.ReLU,
        groups: int = 0,
        padding: int = 2,
    ):
        super().__init__()
        if len(input_shape) != 2:
            raise ValueError(f"2-D CNNs need image inputs, got input shape {input_shape}")

        def block(channels_in: int, channels_out: int) -> list[nn.Module]:
            norm = [nn.GroupNorm(groups, channels_out)] if groups else []  # none at all: the keys stay as they were
            return [nn.Conv2d(channels_in, channels_out, 5, padding=padding), *norm, activation(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(1, width[0]), *block(width[0], width[1]), nn.Flatten())
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 1, *input_shape)).shape[1]
        sizes = (flat, *((hidden,) if isinstance(hidden, int) else hidden))
        layers: list[nn.Module] = []
        for size_in, size_out in itertools.pairwise(sizes):
            layers += [nn.Linear(size_in, size_out), activation()]
        self.classifier = nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(x.unsqueeze(1)))
        return logits


def _mlp(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLPBase(shape, classes)


def _cnn1d(shape: tuple[int, ...], classes: int) -> nn.Module:
    return ConvBase1d(shape, classes)


def _mlp_tanh(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLPBase(shape, classes, activation=nn.Tanh)


def _cnn_small(shape: tuple[int, ...], classes: int) -> nn.Module:
    return ConvNet2d(shape, classes, width=(8, 16), hidden=64)


def _cnn_small_gn_tanh(shape: tuple[int, ...], classes: int) -> nn.Module:
    return ConvNet2d(shape, classes, width=(8, 16), hidden=64, activation=nn.Tanh, groups=4)


def _cnn_large(shape: tuple[int, ...], classes: int) -> nn.Module:
    return ConvNet2d(shape, classes, width=(32, 64), hidden=512)


def _cnn_niid_bench(shape: tuple[int, ...], classes: int) -> nn.Module:
    return ConvNet2d(shape, classes, width=(6, 16), hidden=(120, 84), padding=0)


MODELS: dict[str, ModelBuilder] = {}
INPUT_RANKS: dict[str, tuple[int, ...]] = {}


def register(name: str, builder: ModelBuilder, *, input_ranks: tuple[int, ...]) -> None:
    """Add an architecture to the registry.

    Parameters
    ----------
    name : str
        Registry key used in config (``student``, ``teacher``).
    builder : callable
        ``builder(input_shape, num_classes) -> nn.Module``.
    input_ranks : tuple of int
        Input ranks (1 for sequences, 2 for images) the architecture accepts.

    Raises
    ------
    ValueError
        If ``name`` is already registered.
    """
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = builder
    INPUT_RANKS[name] = input_ranks


register("mlp", _mlp, input_ranks=(1, 2))
register("cnn1d", _cnn1d, input_ranks=(1,))
register("cnn-small", _cnn_small, input_ranks=(2,))
register("mlp-tanh", _mlp_tanh, input_ranks=(1, 2))
register("cnn-small-gn-tanh", _cnn_small_gn_tanh, input_ranks=(2,))
register("cnn-large", _cnn_large, input_ranks=(2,))
register("cnn-niid-bench", _cnn_niid_bench, input_ranks=(2,))


def build_model(name: str, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build a freshly initialised model by registry name.

    Raises
    ------
    ValueError
        For an unknown name or an input shape the architecture cannot take.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    if len(input_shape) not in INPUT_RANKS[name]:
        raise ValueError(
            f"model {name!r} takes inputs of rank {INPUT_RANKS[name]}, "
            f"got input shape {input_shape}"
        )
    return MODELS[name](input_shape, num_classes)
