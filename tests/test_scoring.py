"""Label-aware scoring: signatures stored in the index, weights applied over the whole index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_desktop.core.embedder import EMBEDDING_DIM, ModelIdentity
from fashion_desktop.core.errors import InvalidIndexError
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.index import (
    SIGNATURES_FILE,
    EmbeddingIndex,
    ItemRecord,
    search_vectors_for,
    write_index,
)
from fashion_desktop.core.ranking import rank
from fashion_desktop.core.scoring import (
    COLOUR_HEAD,
    COSINE_ONLY,
    Scoring,
    SignatureLayout,
    describe_weights,
    item_signatures,
    label_agreement,
    label_signatures,
    tempered,
)

IDENTITY = ModelIdentity(fingerprint="f" * 64, source="test", preprocessing="test-preprocessing")


def toy_heads() -> ClassifierHeads:
    """Colour from embedding dimensions 0/1, type from 2/3: sharp, so labels are unambiguous."""
    colour = np.zeros((EMBEDDING_DIM, 2), np.float32)
    colour[0, 0] = colour[1, 1] = 60.0
    kind = np.zeros((EMBEDDING_DIM, 2), np.float32)
    kind[2, 0] = kind[3, 1] = 60.0
    return ClassifierHeads(
        [
            ClassifierHead(COLOUR_HEAD, colour, np.zeros(2, np.float32), ("Red", "Blue")),
            ClassifierHead("articleType", kind, np.zeros(2, np.float32), ("Tshirts", "Jeans")),
        ]
    )


def raw(*components: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(EMBEDDING_DIM, np.float32)
    vector[10] = 0.4  # the shared "shape" every item has (cosines stay below near-duplicates)
    for dim, value in components:
        vector[dim] += value
    return vector


#: The query is a red T-shirt. "blue" is nearer by cosine; "red" has the query's colour.
QUERY = raw((0, 0.2), (2, 0.2))
ITEMS = {
    "blue": raw((1, 0.2), (2, 0.2)),
    "red": raw((0, 0.2), (2, 0.2), (11, 0.37)),
}


def write_toy_index(folder: Path, heads: ClassifierHeads | None = None) -> EmbeddingIndex:
    images = folder / "images"
    images.mkdir(parents=True)
    records = []
    for name in ITEMS:
        path = images / f"{name}.png"
        Image.new("RGB", (4, 4)).save(path)
        records.append(ItemRecord(name, path, name * 8, 1, 1, {"id": name}))
    write_index(
        folder / "index",
        records=records,
        raw_embeddings=np.stack(list(ITEMS.values())),
        identity=IDENTITY,
        catalogue_root=folder,
        fields=["id"],
        dim=None,
        heads=heads,
    )
    return EmbeddingIndex.open(folder / "index")


def ranking(index: EmbeddingIndex, scoring: Scoring, *, photo: bool = False) -> list[str]:
    """The toy query's ranking through the one ranking path search and evaluate share."""
    layout = SignatureLayout.from_heads(toy_heads())
    (ranked,) = rank(
        index,
        search_vectors_for(QUERY[None], None),
        photo=[photo],
        scoring=scoring,
        k=2,
        signatures=label_signatures(toy_heads(), QUERY, layout),
        signature_layout=layout,
    )
    return [index.item(row).item_id for row in ranked.rows]


def test_signature_layout_round_trips_and_slices() -> None:
    layout = SignatureLayout.from_heads(toy_heads())
    assert layout.names == ("articleType", "baseColour")  # sorted, stable
    assert SignatureLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout
    assert layout.width == 4
    assert layout.slices() == {"articleType": slice(0, 2), "baseColour": slice(2, 4)}
    assert layout.matches(toy_heads()) and not layout.matches(None)


def test_signatures_are_probabilities_and_agree_as_the_chance_of_one_class() -> None:
    heads = toy_heads()
    layout = SignatureLayout.from_heads(heads)
    signatures = label_signatures(heads, np.stack([QUERY, *ITEMS.values()]), layout)
    colour = signatures[:, layout.slices()[COLOUR_HEAD]]
    assert np.allclose(colour.sum(axis=1), 1.0, atol=1e-5)
    uncertain = label_signatures(heads, raw(), layout)[:, layout.slices()[COLOUR_HEAD]]
    assert uncertain[0] @ uncertain[0] == pytest.approx(0.5, abs=1e-3)  # 50/50 agrees half the time
    assert colour[0] @ colour[2] == pytest.approx(1.0, abs=1e-3)  # red vs red
    assert colour[0] @ colour[1] == pytest.approx(0.0, abs=0.01)  # red vs blue


def test_item_signatures_lean_on_the_catalogues_own_labels() -> None:
    heads = toy_heads()
    layout = SignatureLayout.from_heads(heads)
    colours = layout.slices()[COLOUR_HEAD]
    red_tshirts = np.stack([ITEMS["red"]] * 5)  # the heads read all five as red T-shirts
    metadata = [
        {"baseColour": "Blue", "articleType": "Jeans"},  # the catalogue says otherwise
        {"baseColour": "Teal"},  # a colour the heads do not know: their reading stands
        {"baseColour": "other"},  # merged rare classes are no label to trust
        {},
        {"baseColour": "Red"},
    ]
    read = label_signatures(heads, red_tshirts, layout)
    signatures = item_signatures(heads, red_tshirts, layout, metadata, label_share=0.8)
    assert np.allclose(signatures[:, colours].sum(axis=1), 1.0, atol=1e-5)
    assert signatures[0, colours] == pytest.approx(0.2 * read[0, colours] + [0.0, 0.8], abs=1e-5)
    assert signatures[0, layout.slices()["articleType"]][1] >= 0.8  # Jeans
    np.testing.assert_allclose(signatures[1:4], read[1:4], atol=1e-6)
    assert signatures[4, colours][0] == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(
        item_signatures(heads, red_tshirts, layout, metadata, label_share=0.0), read
    )


def test_a_photos_class_distributions_are_tempered_before_agreement() -> None:
    layout = SignatureLayout.from_heads(toy_heads())  # articleType [0:2], baseColour [2:4]
    sure = np.array([[0.9, 0.1, 0.8, 0.2]], np.float32)
    flat = tempered(sure, layout, 2.0)
    assert flat[0, :2] == pytest.approx([0.75, 0.25])  # sqrt(0.9) : sqrt(0.1)
    assert flat[0, 2:] == pytest.approx([2 / 3, 1 / 3])
    np.testing.assert_array_equal(tempered(sure, layout, 1.0), sure)
    scoring = Scoring({COLOUR_HEAD: 1.0}, photo_weights={COLOUR_HEAD: 1.0}, photo_temperature=2.0)
    np.testing.assert_allclose(scoring.query_signatures(True, sure, layout), flat)
    np.testing.assert_array_equal(scoring.query_signatures(False, sure, layout), sure)
    item = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)  # the query's runner-up classes
    assert (
        label_agreement(flat, item, layout, {COLOUR_HEAD: 1.0})[0, 0]
        > label_agreement(sure, item, layout, {COLOUR_HEAD: 1.0})[0, 0]
    )


def test_a_near_duplicate_keeps_its_agreement_whatever_its_catalogue_label_says() -> None:
    layout = SignatureLayout.from_heads(toy_heads())  # articleType [0:2], baseColour [2:4]
    query = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)  # read as a red T-shirt
    items = np.array(
        [
            [1.0, 0.0, 0.0, 1.0],  # a copy of the query's picture, labelled blue by the catalogue
            [1.0, 0.0, 1.0, 0.0],  # another red T-shirt
        ],
        np.float32,
    )
    weights = {COLOUR_HEAD: 2.0}
    cosines = np.array([[0.995, 0.90]], np.float32)
    plain = cosines + label_agreement(query, items, layout, weights)
    assert plain[0].argmax() == 1  # the labels alone would put the other T-shirt first
    guarded = cosines + label_agreement(query, items, layout, weights, cosines)
    assert guarded[0].argmax() == 0 and guarded[0, 0] == pytest.approx(2.995)
    halfway = label_agreement(query, items, layout, weights, np.array([[0.965, 0.0]]))
    assert halfway[0, 0] == pytest.approx(1.0)  # half-way up the ramp: half the weight


def test_label_agreement_is_relative_to_the_query_and_capped_per_head() -> None:
    layout = SignatureLayout.from_heads(toy_heads())  # articleType [0:2], baseColour [2:4]
    query = np.array([[1.0, 0.0, 0.5, 0.5]], np.float32)  # sure of its type, unsure of colour
    items = np.array(
        [
            [1.0, 0.0, 0.5, 0.5],  # seen exactly as the query
            [1.0, 0.0, 1.0, 0.0],  # same type, a sure colour the query half-agrees with
            [0.0, 1.0, 0.5, 0.5],  # another type
        ],
        np.float32,
    )
    weights = {"articleType": 2.0, COLOUR_HEAD: 1.0}
    agreement = label_agreement(query, items, layout, weights)
    assert agreement.shape == (1, 3)
    # each head's term is capped at its weight: a sure colour cannot beat the query's own match
    assert agreement[0] == pytest.approx([3.0, 3.0, 1.0])
    assert label_agreement(query, items, layout, {})[0] == pytest.approx([0.0, 0.0, 0.0])


def test_agreement_weights_follow_heads_layouts_and_the_match_colour_switch() -> None:
    layout = SignatureLayout.from_heads(toy_heads())
    scoring = Scoring({COLOUR_HEAD: 0.3, "articleType": 0.1, "gender": 1.0})
    # per head, only the heads the index's signatures hold
    assert scoring.agreement_weights(False, layout, layout) == {
        COLOUR_HEAD: 0.3,
        "articleType": 0.1,
    }
    off = scoring.with_match_colour(False)
    assert off.agreement_weights(False, layout, layout) == {"articleType": 0.1}
    assert (
        Scoring({COLOUR_HEAD: 0.3})
        .with_match_colour(False)
        .agreement_weights(False, layout, layout)
        == {}
    )
    assert COSINE_ONLY.agreement_weights(False, layout, layout) == {}
    assert scoring.agreement_weights(False, None, layout) == {}  # index without signatures
    other = SignatureLayout((("articleType", ("a", "b")),))
    assert scoring.agreement_weights(False, layout, other) == {}  # signatures of other heads
    assert scoring.agreement_weights(False, layout, None) == {}
    assert "0.3 × baseColour" in describe_weights(scoring.head_weights(False))
    assert describe_weights({}) == "cosine similarity"


def test_colour_weight_brings_the_same_colour_first(tmp_path: Path) -> None:
    index = write_toy_index(tmp_path, toy_heads())
    try:
        assert (tmp_path / "index" / SIGNATURES_FILE).is_file()
        assert index.signature_layout == SignatureLayout.from_heads(toy_heads())
        assert ranking(index, COSINE_ONLY) == ["blue", "red"]
        matching = Scoring({COLOUR_HEAD: 0.1})
        assert ranking(index, matching) == ["red", "blue"]
        assert ranking(index, matching.with_match_colour(False)) == ["blue", "red"]
        # Filters and exclusions still apply to the combined score.
        red_only = index.search(
            QUERY / np.linalg.norm(QUERY),
            2,
            exclude_rows={1},
            signature=label_signatures(toy_heads(), QUERY, index.signature_layout)[0],
            head_weights={COLOUR_HEAD: 0.1},
        )
        assert [row for row, _ in red_only] == [0]
        # row 1 is "red": its stored signature is what the heads say about its embedding
        expected = label_signatures(toy_heads(), ITEMS["red"], index.signature_layout)[0]
        np.testing.assert_allclose(index.signature(1), expected, atol=1e-3)
    finally:
        index.close()


def test_index_without_heads_has_no_signatures_and_ignores_weights(tmp_path: Path) -> None:
    index = write_toy_index(tmp_path)
    try:
        manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
        assert manifest["signatures"] is None
        assert not (tmp_path / "index" / SIGNATURES_FILE).exists()
        assert index.signatures is None and index.signature_layout is None
        assert ranking(index, Scoring({COLOUR_HEAD: 5.0})) == ["blue", "red"]
        assert index.signature(0) is None
    finally:
        index.close()


def test_corrupted_or_mismatched_signatures_are_refused(tmp_path: Path) -> None:
    write_toy_index(tmp_path, toy_heads()).close()
    signatures = tmp_path / "index" / SIGNATURES_FILE
    data = bytearray(signatures.read_bytes())
    data[-1] ^= 0xFF
    signatures.write_bytes(bytes(data))
    with pytest.raises(InvalidIndexError, match=r"signatures\.npy"):
        EmbeddingIndex.open(tmp_path / "index")
    signatures.unlink()
    with pytest.raises(InvalidIndexError, match=r"signatures\.npy is missing"):
        EmbeddingIndex.open(tmp_path / "index")


def test_query_signatures_of_another_layout_are_refused(tmp_path: Path) -> None:
    index = write_toy_index(tmp_path, toy_heads())
    try:
        with pytest.raises(ValueError, match="signature layout"):
            index.search(
                QUERY / np.linalg.norm(QUERY),
                2,
                signature=np.ones(3, np.float32),
                head_weights={COLOUR_HEAD: 1.0},
            )
    finally:
        index.close()


def test_photos_use_their_own_weights(tmp_path: Path) -> None:
    layout = SignatureLayout.from_heads(toy_heads())
    scoring = Scoring({COLOUR_HEAD: 2.0}, photo_weights={})
    assert scoring.agreement_weights(False, layout, layout) == {COLOUR_HEAD: 2.0}
    assert scoring.agreement_weights(True, layout, layout) == {}
    photo = Scoring({COLOUR_HEAD: 2.0}, photo_weights={COLOUR_HEAD: 0.5})
    assert photo.agreement_weights(True, layout, layout) == {COLOUR_HEAD: 0.5}
    assert scoring.colour_counts(False) and not scoring.colour_counts(True)
    index = write_toy_index(tmp_path, toy_heads())
    try:  # the same query ranks by label agreement as a product shot, by the cosine as a photo
        assert ranking(index, scoring, photo=False) == ["red", "blue"]
        assert ranking(index, scoring, photo=True) == ["blue", "red"]
    finally:
        index.close()


def test_the_score_shown_is_the_score_results_are_ordered_by(tmp_path: Path) -> None:
    """ "red" is second by cosine but first by label agreement: its shown score must be higher."""
    index = write_toy_index(tmp_path, toy_heads())
    layout = SignatureLayout.from_heads(toy_heads())
    try:
        (ranked,) = rank(
            index,
            search_vectors_for(QUERY[None], None),
            photo=[False],
            scoring=Scoring({COLOUR_HEAD: 1.0}),
            k=2,
            signatures=label_signatures(toy_heads(), QUERY, layout),
            signature_layout=layout,
        )
        first, second = ranked.items
        assert index.item(first.row).item_id == "red"
        assert (
            first.similarity < second.similarity
        )  # the cosine alone would order them the other way
        assert 1.0 >= first.score > second.score >= 0.0
        assert ranked.scoring == "cosine + 1 × baseColour agreement"
        # scaled by the most agreement can add: cosine + 1 × agreement, over 2
        assert first.score == pytest.approx((first.similarity + 1.0) / 2, abs=1e-3)
    finally:
        index.close()
