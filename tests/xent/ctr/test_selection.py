"""The CTR model candidates of `model.kind: auto`."""

import dataclasses

from xent.ctr import selection
from xent.pipelines.ctr import CTRConfig

SUMMARY = {
    "city": {"distinct": 80},
    "user": {"distinct": 900},
    "item": {"distinct": 4000},
    "weekday": {"distinct": 7},
}


def _auto(**features):
    config = CTRConfig()
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, kind="auto")
    )
    return dataclasses.replace(
        config, features=dataclasses.replace(config.features, **features)
    )


def test_top_fields_are_the_two_of_most_distinct_values():
    assert selection.top_fields(SUMMARY) == ["item", "user"]
    assert selection.top_fields({"a": {"distinct": 3}, "b": {"distinct": 3}}) == [
        "a",
        "b",
    ]


def test_candidates_change_only_the_model_and_the_cross():
    config = _auto()
    found = selection.candidates(config, SUMMARY)
    assert [c.name for c in found] == list(selection.CANDIDATES)
    kinds = [c.config.model.kind for c in found]
    assert kinds == ["deepfm", "deepfm", "finalmlp", "finalmlp"]
    for plain, crossed in (found[:2], found[2:]):
        assert plain.config.features.crosses == ()
        assert crossed.config.features.crosses == (("item", "user"),)
    for c in found:
        assert c.config.train == config.train
        assert c.config.model.embedding_dim == config.model.embedding_dim


def test_no_cross_candidate_with_configured_crosses_or_one_field():
    assert [
        c.name for c in selection.candidates(_auto(crosses=(("a", "b"),)), SUMMARY)
    ] == ["deepfm", "finalmlp"]
    one = {"user": {"distinct": 10}}
    assert [c.name for c in selection.candidates(_auto(), one)] == [
        "deepfm",
        "finalmlp",
    ]


def test_no_cross_candidate_when_the_top_columns_are_crossed_already():
    names = [c.name for c in selection.candidates(_auto(cross_top=2), SUMMARY)]
    assert names == ["deepfm", "finalmlp"]
