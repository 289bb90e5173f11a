"""Pretrain a teacher elsewhere: centrally, on a corpus disjoint from the federated data.

A site may bring a teacher trained on a larger private corpus instead of training
one on its shard. This script makes such a teacher for a registered dataset and
writes it with :func:`fedkd.checkpoint.save_model` (atomically), for a site's
``teacher-checkpoint``. The corpus, never part of the federated or test data:

- ``mnist1d``: fresh MNIST-1D samples from the official generator with another
  seed (:func:`fedkd.data.mnist1d.make_mnist1d_corpus`);
- ``bbc-news``: the teacher part of BBC News, in its MiniLM view
  (:func:`fedkd.data.bbc_news.load_bbc_teacher_corpus`);
- ``fashion-mnist``: the first ``--num-samples`` train images of the public-pool holdout
  (:func:`fedkd.data.public_pool.held_out_pool`); a run whose sites use that teacher
  sets ``public-pool-holdout`` to at least as many, so that no site holds them.

It prints the teacher's accuracy on the dataset's official test split.

fedkd's default run does the same for MNIST-1D by itself (``teacher-pretraining=public-pool``,
:mod:`fedkd.pretraining`: same corpus, same seeds and settings, cached per machine under the
cache's ``pretrained/``); this command writes such a teacher to a file of your choosing, e.g.
for a site's node-config ``teacher-checkpoint``.

Run: ``python -m simulations.pretrain_teacher --dataset mnist1d --architecture cnn1d --out teacher.safetensors``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from fedkd.checkpoint import save_model
from fedkd.config import FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.data.bbc_news import load_bbc_teacher_corpus
from fedkd.data.mnist1d import make_mnist1d_corpus
from fedkd.data.public_pool import public_samples
from fedkd.data.registry import load_dataset
from fedkd.device import resolve_device
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import evaluate
from fedkd.io import resolve_cache_dir
from fedkd.models import build_model

DEFAULTS = FedKDConfig()
EPOCHS_AND_LEARNING_RATE: dict[str, tuple[int, float]] = {"mnist1d": (15, 0.01), "bbc-news": (20, 0.05)}
"""Default epochs and learning rate per dataset; the command prints the test accuracy they reach."""
DATASETS = tuple(EPOCHS_AND_LEARNING_RATE)


@dataclass(frozen=True)
class Pretrained:
    """A pretrained teacher and what it was checked against."""

    model: nn.Module
    input_shape: tuple[int, ...]
    num_classes: int
    corpus_size: int
    test_accuracy: float


def pretraining_corpus(dataset: str, *, cache_dir: Path, num_samples: int) -> ArrayDataset:
    """The teacher's corpus in the teacher view; ``num_samples`` applies to MNIST-1D and Fashion-MNIST."""
    if dataset == "mnist1d":
        return make_mnist1d_corpus(num_samples)
    if dataset == "fashion-mnist":
        return public_samples(dataset, num_samples, cache_dir=cache_dir)
    if dataset == "bbc-news":
        return load_bbc_teacher_corpus(cache_dir).teacher_view()
    raise ValueError(f"no pretraining corpus for dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def pretrain(
    dataset: str,
    architecture: str,
    corpus: ArrayDataset,
    *,
    settings: OptimizerSettings,
    seed: int,
    cache_dir: Path,
    device: torch.device,
) -> Pretrained:
    """Train ``architecture`` with cross-entropy on ``corpus``; test it on the dataset's official test split.

    Parameters
    ----------
    dataset : str
        Registry name; its test split (teacher view) measures the teacher.
    architecture : str
        Model registry name.
    corpus : ArrayDataset
        Training data in the teacher view, from :func:`pretraining_corpus`.
    settings : OptimizerSettings
        SGD settings and epochs.
    seed : int
        Seeds the initial weights and the batch order.
    cache_dir : pathlib.Path
        The dataset cache.
    device : torch.device
        Where to train.
    """
    splits = load_dataset(dataset, data_dir=None, cache_dir=cache_dir)
    if tuple(corpus.x.shape[1:]) != splits.teacher_input_shape:
        raise ValueError(f"corpus inputs have shape {corpus.x.shape[1:]}, {dataset}'s teacher needs "
                         f"{splits.teacher_input_shape}")
    torch.manual_seed(seed)
    model = build_model(architecture, input_shape=splits.teacher_input_shape, num_classes=splits.num_classes)
    distill(model, corpus, None, settings=settings, objective=CE_ONLY, device=device, seed=seed)
    accuracy = evaluate(model, splits.test.teacher_view(), device=device).accuracy
    return Pretrained(model.cpu(), splits.teacher_input_shape, splits.num_classes, len(corpus), accuracy)


def main(argv: list[str] | None = None) -> float:
    """Command-line entry point; returns the test accuracy."""
    parser = argparse.ArgumentParser(description="Pretrain a teacher on a corpus disjoint from the federated data.")
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--architecture", required=True, help="teacher model name, e.g. cnn1d or mlp")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint to write (.safetensors)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the corpus (default: 15 for mnist1d, 20 for bbc-news)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initial weights and batch order")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="dataset cache (default: $FEDKD_CACHE_DIR, else ~/.cache/fedkd)")
    parser.add_argument("--num-samples", type=int, default=20_000,
                        help="MNIST-1D corpus size, or Fashion-MNIST images of the holdout (default 20000)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="SGD learning rate (default: 0.01 for mnist1d, 0.05 for bbc-news)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    epochs, learning_rate = EPOCHS_AND_LEARNING_RATE[args.dataset]
    epochs = epochs if args.epochs is None else args.epochs
    learning_rate = learning_rate if args.learning_rate is None else args.learning_rate
    if epochs < 1 or learning_rate <= 0:
        parser.error(f"--epochs must be >= 1 and --learning-rate > 0, got {epochs} and {learning_rate}")
    chosen = resolve_cache_dir(args.cache_dir or "")
    cache_dir = Path(chosen).expanduser()
    settings = OptimizerSettings(learning_rate, DEFAULTS.momentum, args.batch_size, epochs)
    corpus = pretraining_corpus(args.dataset, cache_dir=cache_dir, num_samples=args.num_samples)
    result = pretrain(args.dataset, args.architecture, corpus, settings=settings, seed=args.seed,
                      cache_dir=cache_dir, device=resolve_device(args.device))
    save_model(args.out, result.model, architecture=args.architecture, input_shape=result.input_shape,
               num_classes=result.num_classes)
    print(f"{args.architecture} teacher for {args.dataset}: trained on {result.corpus_size} samples for "
          f"{epochs} epochs, test accuracy {result.test_accuracy:.4f}; wrote {args.out}")
    return result.test_accuracy


if __name__ == "__main__":
    main()
