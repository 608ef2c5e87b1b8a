"""Recommendations for a client: hard rules, several interests, diversity, reasons, JSON."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from fd_bookdata import item_ids, toy_catalogue

from fashion_desktop.core.clients import (
    ClientBook,
    ClientError,
    ClientProfile,
    ItemSnapshot,
    Purchase,
)
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.recommend import (
    MAX_SHARE_PER_TYPE,
    BookArrays,
    RecommendationError,
    Recommender,
    catalogue_arrays,
    interest_centroids,
    select_diverse,
)

TODAY = date(2024, 6, 1)
ROWS, _ = toy_catalogue()


def buy(book: ClientBook, client: str, ids, start: str = "2024-05-01") -> None:
    day = date.fromisoformat(start).toordinal()
    for offset, item_id in enumerate(ids):
        book.add_purchase(client, Purchase(item_id, date.fromordinal(day + offset).isoformat()))


def meta(item_id: str) -> dict[str, str]:
    return next(r for r in ROWS if r["id"] == item_id)


def test_per_index_arrays_are_built_once_and_coded(book_index: EmbeddingIndex):
    arrays = catalogue_arrays(book_index)
    assert catalogue_arrays(book_index) is arrays
    assert len(arrays) == len(book_index)
    row = arrays.row_of["100"]
    assert arrays.value("articleType", row) == "Kurtas"
    assert arrays.codes["gender"].dtype == np.int32
    polos = [
        arrays.row_of[i] for i in item_ids(ROWS, productDisplayName="Nike Men Blue Polo Tshirt")
    ]
    family = arrays.families[polos[0]]
    assert sum(int(arrays.families[arrays.row_of[r["id"]]] == family) for r in ROWS) == 5
    assert not arrays.recommendable[arrays.row_of[item_ids(ROWS, articleType="Free Gifts")[0]]]


def test_hard_rules_never_bought_disliked_avoided_or_other_gender(book, book_index):
    kurtas = item_ids(ROWS, articleType="Kurtas")
    buy(book, "Asha", kurtas[:3])
    disliked = kurtas[3]
    book.set_opinion("Asha", ItemSnapshot(disliked), "dislike")
    book.set_profile("Asha", ClientProfile(gender="Women", avoided_colours=("Red",)))
    result = Recommender(book_index, book).recommend("Asha", 40, today=TODAY)
    ids = [r.item_id for r in result.results]
    # every toy type holds two products in several colours: 12 women's or unisex types fit
    assert len(ids) == 24 and len(set(ids)) == 24
    assert "Only 24 items fit" in result.notes[-1]
    assert not set(ids) & {*kurtas[:3], disliked}
    for item_id in ids:
        assert meta(item_id)["baseColour"] != "Red"
        assert meta(item_id)["gender"] in ("Women", "Unisex")
        assert meta(item_id)["masterCategory"] != "Free Items"
    assert any(meta(i)["gender"] == "Unisex" for i in ids)  # Unisex fits everyone


def test_liked_and_shortlisted_items_are_not_shown_again(book, book_index):
    from fashion_desktop.core.shortlist import ShortlistEntry

    tops = item_ids(ROWS, articleType="Tops")
    buy(book, "Asha", tops[:1])
    book.set_profile("Asha", ClientProfile(gender="Women"))
    before = [
        r.item_id for r in Recommender(book_index, book).recommend("Asha", 6, today=TODAY).results
    ]
    liked, listed = before[0], before[1]
    book.set_opinion("Asha", ItemSnapshot(liked), "like")
    book.add("Asha", ShortlistEntry(listed, meta(listed)["productDisplayName"], Path("/x.jpg")))
    after = Recommender(book_index, book).recommend("Asha", 6, today=TODAY)
    ids = [r.item_id for r in after.results]
    assert liked not in ids and listed not in ids and len(ids) == 6
    for result in after.results:  # a reason never cites the item itself
        assert all(meta(result.item_id)["productDisplayName"] not in r for r in result.reasons)


def test_the_same_product_in_another_colour_is_explained_as_such(book, book_index):
    kurta = item_ids(ROWS, articleType="Kurtas")[0]  # the first kurta, Blue; four more colours
    buy(book, "Asha", [kurta])
    book.set_profile("Asha", ClientProfile(gender="Women"))
    results = Recommender(book_index, book).recommend("Asha", 12, today=TODAY).results
    same = [
        r for r in results if r.metadata["productDisplayName"].endswith("Kurtas 1")
    ]  # one of the family at most (diversity), explained as another colour of hers
    assert len(same) == 1
    assert "another colour of the Blue one she bought on 1 May" in same[0].reasons


def test_a_client_with_two_interests_gets_both(book, book_index):
    kurtas = item_ids(ROWS, articleType="Kurtas")
    shoes = item_ids(ROWS, articleType="Sports Shoes", gender="Women")
    buy(book, "Asha", [*kurtas[:6], *shoes[:2]])
    book.set_profile("Asha", ClientProfile(gender="Women"))
    types = [
        r.metadata["articleType"]
        for r in Recommender(book_index, book).recommend("Asha", 10, today=TODAY).results
    ]
    assert "Kurtas" in types and "Sports Shoes" in types


def test_no_near_duplicates_in_one_list(book, book_index):
    polos = item_ids(ROWS, productDisplayName="Nike Men Blue Polo Tshirt")
    tshirts = [i for i in item_ids(ROWS, articleType="Tshirts") if i not in polos]
    buy(book, "Ravi", tshirts[:4])
    book.set_profile("Ravi", ClientProfile(gender="Men"))
    results = Recommender(book_index, book).recommend("Ravi", 12, today=TODAY).results
    names = [r.metadata["productDisplayName"] for r in results]
    assert sum("Polo Tshirt" in name for name in names) <= 1
    arrays = catalogue_arrays(book_index)
    families = [int(arrays.families[r.row]) for r in results]
    assert len(families) == len(set(families))
    vectors = arrays.vectors[[r.row for r in results]]
    similarity = vectors @ vectors.T - np.eye(len(results))
    assert similarity.max() < 0.95
    types = [r.metadata["articleType"] for r in results]
    assert max(types.count(t) for t in types) <= math.ceil(12 * MAX_SHARE_PER_TYPE)


def test_select_diverse_lifts_the_type_cap_when_nothing_else_fits(book_index):
    arrays = catalogue_arrays(book_index)
    scores = np.where(arrays.mask_of("articleType", ["Kurtas", "Tops"]), 1.0, -np.inf)
    rows = select_diverse(arrays, scores, 4, max_share_per_type=0.25)
    assert len(rows) == 4
    assert sorted(arrays.value("articleType", r) for r in rows) == [
        "Kurtas",
        "Kurtas",
        "Tops",
        "Tops",
    ]
    # but never a near-duplicate: each toy type holds two products (families), in many colours
    assert len(select_diverse(arrays, scores, 10)) == 4


def test_reasons_name_the_purchase_the_colours_and_co_purchases(book, book_index):
    kurtas = item_ids(ROWS, articleType="Kurtas")
    churidar = item_ids(ROWS, articleType="Churidar")
    book.add_purchase("Asha", Purchase(kurtas[0], "2024-05-03", name="Blue Kurta"))
    book.set_profile("Asha", ClientProfile(gender="Women", preferred_colours=("White", "Blue")))
    for number in range(4):  # other clients buy that kurta with a churidar
        buy(book, f"Other {number}", [kurtas[0], churidar[0]], "2024-04-01")
    result = Recommender(book_index, book).recommend("Asha", 10, today=TODAY)
    reasons = [text for r in result.results for text in r.reasons]
    assert any(text.startswith("like the Blue Kurta she bought on 3 May") for text in reasons)
    assert any(text.startswith("her colours: ") for text in reasons)
    together = next(r for r in result.results if r.item_id == churidar[0])
    assert any(
        "bought together with the Blue Kurta by 4 other clients" in t for t in together.reasons
    )
    assert all(1 <= len(r.reasons) <= 3 for r in result.results)


def test_json_fields_per_result(book, book_index):
    buy(book, "Asha", item_ids(ROWS, articleType="Tops")[:2])
    answer = Recommender(book_index, book).recommend("Asha", 5, today=TODAY).to_json()
    assert answer["client"] == "Asha" and answer["method"] == "hybrid"
    for rank, result in enumerate(answer["results"], start=1):
        assert set(result) == {"rank", "id", "score", "reasons", "metadata", "image"}
        assert result["rank"] == rank and result["metadata"]["id"] == result["id"]
        assert isinstance(result["score"], float) and Path(result["image"]).is_file()
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_every_method_and_bad_requests(book, book_index):
    buy(book, "Asha", item_ids(ROWS, articleType="Tops")[:2])
    recommender = Recommender(book_index, book)
    for method in ("hybrid", "content", "collaborative"):
        assert len(recommender.recommend("Asha", 5, method=method, today=TODAY).results) == 5
    with pytest.raises(RecommendationError, match="Unknown recommendation method"):
        recommender.recommend("Asha", 5, method="magic")
    with pytest.raises(RecommendationError, match="at least one"):
        recommender.recommend("Asha", 0)
    with pytest.raises(ClientError, match="Did you mean Asha"):
        recommender.recommend("Ashaa")


def test_a_new_client_gets_popular_items_that_fit_the_profile(book, book_index):
    popular = item_ids(ROWS, articleType="Handbags")[0]
    for number in range(3):
        buy(book, f"Other {number}", [popular])
    book.set_profile("New", ClientProfile(gender="Women"))
    result = Recommender(book_index, book).recommend("New", 5, today=TODAY)
    assert result.results[0].item_id == popular
    assert "no purchases" in result.notes[0]


def test_the_recommender_sees_book_changes(book, book_index):
    recommender = Recommender(book_index, book)
    buy(book, "Asha", item_ids(ROWS, articleType="Tops")[:1])
    first = recommender.book_arrays()
    assert recommender.book_arrays() is first  # unchanged book: cached
    buy(book, "Bina", item_ids(ROWS, articleType="Tops")[1:2])
    assert recommender.book_arrays() is not first and len(recommender.book_arrays().clients) == 2


def test_co_purchase_ignores_the_future_and_the_client(book_index):
    arrays = catalogue_arrays(book_index)
    a, b, c = (arrays.ids[r] for r in range(3))
    book = BookArrays.build(
        arrays,
        [
            ("x", a, "2024-01-01", 1),
            ("x", b, "2024-01-02", 1),
            ("y", a, "2024-01-01", 1),
            ("y", c, "2024-03-01", 1),
        ],
    )
    rows = np.array([arrays.row_of[a]])
    scores = book.co_purchase(rows, np.ones(1))
    assert scores[arrays.row_of[b]] > 0 and scores[arrays.row_of[c]] > 0
    early = book.co_purchase(rows, np.ones(1), before=date(2024, 2, 1).toordinal())
    assert early[arrays.row_of[b]] > 0 and early[arrays.row_of[c]] == 0
    alone = book.co_purchase(rows, np.ones(1), exclude_client=book.client_of["x"])
    assert alone[arrays.row_of[b]] == 0 and alone[arrays.row_of[c]] > 0
    assert book.bought_together(arrays.row_of[a], arrays.row_of[b]) == 1


def test_interest_centroids_find_separate_interests():
    rng = np.random.default_rng(0)
    first, second = np.eye(8)[0], np.eye(8)[1]
    vectors = np.vstack(
        [first + 0.05 * rng.normal(size=(6, 8)), second + 0.05 * rng.normal(size=(3, 8))]
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids, shares = interest_centroids(vectors.astype(np.float32), np.ones(9))
    best = (centroids @ np.vstack([first, second]).T).max(axis=0)
    assert (best > 0.95).all() and shares.sum() == pytest.approx(1.0)
