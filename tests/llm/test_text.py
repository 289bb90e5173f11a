"""BBC News shared among the causal-LM sites: one site per topic, or a Dirichlet(0.5) split over the topics."""

from __future__ import annotations

from collections import Counter

import pytest

from fedkd.data.bbc_news import CATEGORIES
from fedkd.llm.text import LMTexts, SiteSplit, bbc_lm_texts

DIRICHLET = SiteSplit(partitioner="dirichlet", dirichlet_alpha=0.5, seed=0)


def _mix(texts: LMTexts) -> list[Counter[int]]:
    return [Counter(labels) for labels in texts.site_labels]


def test_bbc_lm_texts_topic_split_one_topic_per_site() -> None:
    texts = bbc_lm_texts()
    assert [set(labels) for labels in texts.site_labels] == [{label} for label in range(len(CATEGORIES))]
    assert [len(site) for site in texts.sites] == [len(labels) for labels in texts.site_labels]


def test_bbc_lm_texts_dirichlet_every_site_gets_articles_disjoint_same_train_articles_as_topic_split() -> None:
    # Execute
    topic, dirichlet = bbc_lm_texts(), bbc_lm_texts(split=DIRICHLET)

    # Assert: five non-empty sites, no article at two sites or held out, together the topic split's articles
    sites = [set(site) for site in dirichlet.sites]
    assert len(sites) == 5 and all(len(site) == len(texts) > 0 for site, texts in zip(sites, dirichlet.sites,
                                                                                      strict=True))
    assert sum(len(site) for site in sites) == len(set().union(*sites))
    assert set().union(*sites) == {text for site in topic.sites for text in site}
    assert not set().union(*sites) & set(dirichlet.test)


def test_bbc_lm_texts_dirichlet_topic_mix_skewed_unlike_the_topic_split() -> None:
    # Execute
    mix = _mix(bbc_lm_texts(split=DIRICHLET))

    # Assert: sites mix topics (the topic split gives one each), in unequal shares (Dirichlet(0.5), not IID)
    assert sum(len(counts) > 1 for counts in mix) >= 4
    shares = [max(counts.values()) / sum(counts.values()) for counts in mix]
    assert max(shares) > 0.4 and min(shares) < max(shares) - 0.1
    assert sorted(sum(counts.values()) for counts in mix) != sorted(len(s) for s in bbc_lm_texts().sites)


def test_bbc_lm_texts_dirichlet_same_seed_same_split_other_seed_another() -> None:
    # Execute
    first, again = bbc_lm_texts(split=DIRICHLET), bbc_lm_texts(split=DIRICHLET)
    other = bbc_lm_texts(split=SiteSplit(partitioner="dirichlet", dirichlet_alpha=0.5, seed=1))

    # Assert
    assert first == again
    assert _mix(first) != _mix(other)


def test_bbc_lm_texts_capped_sites_keep_a_mix_of_their_topics() -> None:
    # Execute: the experiment keeps 24 articles a site
    capped = bbc_lm_texts(max_per_site=24, split=DIRICHLET)
    full = bbc_lm_texts(split=DIRICHLET)

    # Assert: each site's first articles, drawn across its topics (not one topic's run of articles)
    assert all(len(site) == 24 and set(site) <= set(whole) for site, whole in zip(capped.sites, full.sites,
                                                                                   strict=True))
    assert sum(len(counts) > 1 for counts in _mix(capped)) >= 4


def test_bbc_lm_texts_topic_split_other_site_count_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match="lm-partitioner=topic gives one site per BBC topic .5 sites., not 3"):
        bbc_lm_texts(split=SiteSplit(num_sites=3))
    assert len(bbc_lm_texts(split=SiteSplit(partitioner="dirichlet", num_sites=3)).sites) == 3
