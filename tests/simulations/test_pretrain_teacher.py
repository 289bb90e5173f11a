"""Teachers pretrained elsewhere: on corpora disjoint from the federated data, loadable by every site."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

import fedkd.data.bbc_news as bbc_news
from fedkd.data import ArrayDataset, DatasetSplits, load_dataset
from fedkd.data.mnist1d import make_mnist1d_corpus
from fedkd.data.site import SiteData, split_shard
from fedkd.distill.training import OptimizerSettings
from fedkd.teacher import obtain_teacher
from simulations.pretrain_teacher import main, pretrain

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def corpus() -> ArrayDataset:
    """20,000 fresh MNIST-1D samples (generating them takes most of this module's time)."""
    return make_mnist1d_corpus(20_000)


def test_make_mnist1d_corpus_shares_no_sample_with_the_official_splits(
    corpus: ArrayDataset, mnist1d: DatasetSplits
) -> None:
    official = {row.tobytes() for row in np.concatenate([mnist1d.train.x, mnist1d.test.x])}

    assert corpus.x.shape == (20_000, 40) and corpus.x.dtype == np.float32
    assert np.array_equal(np.bincount(corpus.y), np.full(10, 2000))
    assert not any(row.tobytes() in official for row in corpus.x)
    assert len({row.tobytes() for row in corpus.x}) == 20_000
    # Standardised like the official data, so a teacher trained on it reads the official scale.
    assert abs(float(corpus.x.mean())) < 1e-3 and abs(float(corpus.x.std()) - 1.0) < 1e-3


def test_make_mnist1d_corpus_is_reproducible_and_refuses_the_official_seed() -> None:
    first, second = make_mnist1d_corpus(100, seed=7), make_mnist1d_corpus(100, seed=7)

    assert first.fingerprint() == second.fingerprint()
    assert make_mnist1d_corpus(100, seed=8).fingerprint() != first.fingerprint()
    with pytest.raises(ValueError, match="seed 42 generates the official"):
        make_mnist1d_corpus(100, seed=42)
    with pytest.raises(ValueError, match="multiple of 10"):
        make_mnist1d_corpus(105)


def test_pretrained_cnn1d_on_fresh_samples_reaches_high_mnist1d_test_accuracy(
    corpus: ArrayDataset, cache_root: Path
) -> None:
    # Measured: 0.953 (cnn1d centrally on the 4,000 official train samples for 40 epochs: 0.907, docs/results.md).
    settings = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=128, epochs=10)

    result = pretrain("mnist1d", "cnn1d", corpus, settings=settings, seed=0, cache_dir=cache_root, device=CPU)

    assert result.corpus_size == 20_000 and result.input_shape == (40,)
    assert result.test_accuracy > 0.94


def test_main_mnist1d_writes_a_checkpoint_that_a_site_loads_as_its_teacher(
    small_site: SiteData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    out = tmp_path / "teachers" / "mnist1d-cnn1d.safetensors"

    # Execute
    accuracy = main(["--dataset", "mnist1d", "--architecture", "cnn1d", "--out", str(out), "--epochs", "3",
                     "--learning-rate", "0.05", "--num-samples", "1000", "--cache-dir", str(tmp_path / "cache"),
                     "--device", "cpu"])
    teacher = obtain_teacher(small_site, cache_dir=tmp_path / "site", device=CPU, checkpoint=out)

    # Assert
    assert f"test accuracy {accuracy:.4f}" in capsys.readouterr().out and 0.2 < accuracy <= 1.0
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert teacher.source == "checkpoint" and teacher.architecture == "cnn1d"
    assert teacher.train_logits.shape == (len(small_site.train), 10)


def _stand_in_encoder(texts: tuple[str, ...]) -> npt.NDArray[np.float32]:
    """A fixed random projection of the hashed words, in place of the slow MiniLM encoder."""
    projection = np.random.default_rng(0).normal(size=(bbc_news.NUM_FEATURES, bbc_news.EMBEDDING_DIM))
    embedded = bbc_news.hashed_words(texts) @ projection
    return (embedded / np.linalg.norm(embedded, axis=1, keepdims=True)).astype(np.float32)


def test_main_bbc_news_writes_an_mlp_teacher_for_the_embedding_view_that_a_site_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the plumbing only; tests/test_bbc_news.py measures the real MiniLM view.
    monkeypatch.setattr(bbc_news, "_encode", _stand_in_encoder)
    cache, out = tmp_path / "cache", tmp_path / "bbc-mlp.safetensors"
    splits = load_dataset("bbc-news", data_dir=None, cache_dir=cache)
    site = split_shard(splits.train.subset(np.arange(200)), test_fraction=0.2, seed=0, num_classes=5)

    # Execute
    accuracy = main(["--dataset", "bbc-news", "--architecture", "mlp", "--out", str(out), "--epochs", "20",
                     "--cache-dir", str(cache), "--device", "cpu"])
    teacher = obtain_teacher(site, cache_dir=tmp_path / "site", device=CPU, checkpoint=out)

    # Assert
    assert accuracy > 0.5
    assert teacher.train_logits.shape == (160, 5) and teacher.test_logits.shape == (40, 5)
    assert teacher.model(torch.from_numpy(site.test.teacher_view().x)).shape == (40, 5)
