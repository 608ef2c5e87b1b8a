"""Retrieval metrics on hand-computed toy rankings, and evaluation over a tiny index."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import ModelIdentity
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.evaluation import embed_queries, evaluate, score_rankings

# Six indexed items; "type" values a a b b a c (so 3 × a, 2 × b, 1 × c).
INDEX_VALUES = {"type": ["a", "a", "b", "b", "a", "c"]}


def test_precision_recall_and_ap_of_one_query() -> None:
    # Ranked [0, 2, 4] for a query of type "a": relevant at ranks 1 and 3.
    scores = score_rankings([{"type": "a"}], [[0, 2, 4]], INDEX_VALUES, 3, ["type"])["type"]
    assert scores.queries == 1
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)  # 2 of the 3 "a" items
    assert scores.map == pytest.approx((1 / 1 + 2 / 3) / 3)  # AP@3 = mean precision at hits / 3
    assert scores.hit_rate == 1.0


def test_metrics_are_averaged_over_queries() -> None:
    queries = [{"type": "a"}, {"type": "b"}]
    rankings = [[0, 2, 4], [5, 3, 2]]  # second: relevant at ranks 2 and 3, both "b" items found
    scores = score_rankings(queries, rankings, INDEX_VALUES, 3, ["type"])["type"]
    ap_a = (1 + 2 / 3) / 3
    ap_b = (1 / 2 + 2 / 3) / 2  # min(k, relevant) = 2
    assert scores.queries == 2
    assert scores.precision == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert scores.recall == pytest.approx((2 / 3 + 1.0) / 2)
    assert scores.map == pytest.approx((ap_a + ap_b) / 2)
    assert scores.hit_rate == 1.0


def test_perfect_and_useless_rankings() -> None:
    perfect = score_rankings([{"type": "b"}], [[2, 3]], INDEX_VALUES, 2, ["type"])["type"]
    assert (perfect.precision, perfect.recall, perfect.map, perfect.hit_rate) == (1, 1, 1, 1)
    useless = score_rankings([{"type": "c"}], [[0, 1, 2]], INDEX_VALUES, 3, ["type"])["type"]
    assert (useless.precision, useless.recall, useless.map, useless.hit_rate) == (0, 0, 0, 0)


def test_short_rankings_count_missing_places_as_misses() -> None:
    # Only one result came back (e.g. a narrow filter) for k = 5.
    scores = score_rankings([{"type": "a"}], [[0]], INDEX_VALUES, 5, ["type"])["type"]
    assert scores.precision == pytest.approx(1 / 5)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.map == pytest.approx(1 / 3)  # precision 1 at its hit, / min(5, 3)


def test_queries_without_a_value_are_not_counted_and_case_is_ignored() -> None:
    queries = [{"type": "A"}, {"type": ""}, {}]
    scores = score_rankings(queries, [[0], [0], [0]], INDEX_VALUES, 1, ["type"])["type"]
    assert scores.queries == 1 and scores.precision == 1.0


def test_leave_one_out_does_not_count_the_query_as_relevant() -> None:
    # Item 0 ("a") queries the others: only 2 other "a" items exist.
    scores = score_rankings([{"type": "a"}], [[1, 4]], INDEX_VALUES, 2, ["type"], self_rows=[0])[
        "type"
    ]
    assert scores.recall == pytest.approx(1.0)
    assert scores.map == pytest.approx(1.0)


def test_value_absent_from_the_index() -> None:
    scores = score_rankings([{"type": "z"}], [[0, 1]], INDEX_VALUES, 2, ["type"])["type"]
    assert scores.queries == 1 and scores.precision == 0 and scores.recall == 0


def test_field_with_no_query_values() -> None:
    scores = score_rankings([{}], [[0]], INDEX_VALUES, 1, ["type"])["type"]
    assert scores.queries == 0 and scores.precision == 0


def test_several_fields_are_scored_independently() -> None:
    values = {"type": ["a", "b"], "colour": ["red", "red"]}
    scores = score_rankings([{"type": "a", "colour": "red"}], [[1]], values, 1, ["type", "colour"])
    assert scores["type"].precision == 0 and scores["colour"].precision == 1


# ----------------------------------------------------------------------- on an index
@pytest.mark.model
def test_leave_one_out_on_the_tiny_index(tiny_index) -> None:
    k = 3
    report = evaluate(tiny_index, k=k, fields=("gender", "baseColour"))
    assert report.mode == "leave-one-out"
    assert report.queries == report.index_items == len(tiny_index) == 20
    # Recompute P@k for gender by brute force over the stored vectors.
    vectors = np.asarray(tiny_index.vectors)
    genders = tiny_index.metadata_column("gender")
    precision = []
    for row in range(20):
        scores = vectors @ vectors[row]
        scores[row] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        precision.append(np.mean([genders[t] == genders[row] for t in top]))
    assert report.fields["gender"].precision == pytest.approx(np.mean(precision), abs=1e-9)
    data = report.to_json()
    assert data["mode"] == "leave-one-out" and set(data["fields"]) == {"gender", "baseColour"}
    assert set(data["fields"]["gender"]) == {"queries", "precision", "recall", "map", "hit_rate"}


@pytest.mark.model
def test_evaluate_unknown_field(tiny_index) -> None:
    with pytest.raises(FashionDesktopError, match="The index has no field masterCategory"):
        evaluate(tiny_index, k=5)  # the default fields include masterCategory


@pytest.mark.model
def test_query_catalogue_evaluation(tiny_index, tiny_catalogue_dir, random_embedder) -> None:
    catalogue = read_catalogue(tiny_catalogue_dir).subset(["1001", "1002"])
    queries = embed_queries(catalogue, random_embedder)
    report = evaluate(tiny_index, queries, k=19, fields=("gender",))
    assert report.mode == "queries" and report.queries == 2
    # The query images are in the index byte for byte: excluded, so 19 others are ranked and
    # 9 of them share each query's gender.
    assert report.fields["gender"].precision == pytest.approx(9 / 19)
    assert report.fields["gender"].recall == pytest.approx(9 / 10)  # the query itself counts
    wrong = queries.__class__(
        queries.metadata, queries.sha256, queries.raw, [], ModelIdentity("0" * 64, "x").fingerprint
    )
    with pytest.raises(FashionDesktopError, match="another model"):
        evaluate(tiny_index, wrong, k=5, fields=("gender",))
