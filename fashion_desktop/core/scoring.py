"""Label-aware scoring: embedding similarity plus agreement of what a query and an item are.

The model's classifier heads (article type, colour, gender) turn an embedding into class
probabilities. A query's *label signature* is its class probabilities, head after head; an
item's leans on its catalogue label (:func:`item_signatures`: what the store says the item is,
the heads' reading of its image where the label is missing or unknown to them). The dot product
of two signatures restricted to one head is the probability that the two belong to the same
class of that head (independent draws from each distribution: high only when both are confident
and agree). Divided by the query's agreement with itself and capped at 1, it is 1 for an item
seen exactly as the query; a near-duplicate of the query's picture (cosine from
:data:`NEAR_DUPLICATE_FROM`) is raised to 1 whatever its label, so it is never outranked. The
score is

    score = cosine(query, item) + Σ_head weight[head] × min(1, P_head(same) / P_head(q, q))

computed over the whole index (not a re-ranking of a few candidates). Signatures are stored in
the index (``signatures.npy``) so a search costs one extra small matrix product; the weights
(and, for photos, a temperature on the query's distributions) are a search-time choice measured
in BENCHMARKS.md (this agreement measure beat the Bhattacharyya coefficient and agreement of the
top class there), and the window's "Match colour" switch sets the colour weight to zero or back.
NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fashion_desktop.core.garment_colour import COLOUR_HEAD, MeasuredColours
from fashion_desktop.core.heads import OTHER_CLASS, ClassifierHeads

TYPE_HEAD = "articleType"


@dataclass(frozen=True)
class SignatureLayout:
    """Which heads a signature holds, in order, with their classes (to refuse a mismatch)."""

    heads: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_heads(cls, heads: ClassifierHeads) -> SignatureLayout:
        return cls(tuple((name, heads.heads[name].classes) for name in sorted(heads.names)))

    @classmethod
    def from_json(cls, data: list[dict]) -> SignatureLayout:
        return cls(tuple((str(h["head"]), tuple(str(c) for c in h["classes"])) for h in data))

    def to_json(self) -> list[dict]:
        return [{"head": name, "classes": list(classes)} for name, classes in self.heads]

    @property
    def width(self) -> int:
        return sum(len(classes) for _, classes in self.heads)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.heads)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, classes in self.heads:
            out[name] = slice(start, start + len(classes))
            start += len(classes)
        return out

    def matches(self, heads: ClassifierHeads | None) -> bool:
        """True when ``heads`` produce signatures comparable with this layout's."""
        return heads is not None and SignatureLayout.from_heads(heads) == self


def label_signatures(
    heads: ClassifierHeads,
    raw_embeddings: np.ndarray,
    layout: SignatureLayout,
    colours: MeasuredColours | None = None,
) -> np.ndarray:
    """Raw (n, 2048) embeddings → (n, layout.width) float32 label signatures; a query's
    measured garment ``colours`` are fused into its colour head's share."""
    probabilities = heads.probabilities(raw_embeddings, colours)
    return np.concatenate([probabilities[name] for name in layout.names], axis=1).astype(np.float32)


#: An item's signature per head: this share from its catalogue label (where the catalogue gives
#: one of the head's named classes), the rest from the heads' reading of its image. The labels
#: are what a store's catalogue says an item is, and what filters and the P@k figures count; the
#: heads' share keeps an item of an unsure label near its look-alikes. Chosen with
#: tests/benchmarks/bench_photo_ranking.py (``--label-share``) on the development synthetic photos
#: among rankings that meet the real-photo goals (BENCHMARKS.md, "The catalogue's own labels").
CATALOGUE_LABEL_SHARE = 0.8


def item_signatures(
    heads: ClassifierHeads,
    raw_embeddings: np.ndarray,
    layout: SignatureLayout,
    metadata: Sequence[Mapping[str, str]],
    label_share: float = CATALOGUE_LABEL_SHARE,
) -> np.ndarray:
    """Catalogue items' label signatures: the heads' class probabilities, each head's share
    moved ``label_share`` of the way to the item's own catalogue label where it has one of the
    head's named classes (a value the heads do not know, or ``other``, keeps their reading)."""
    signatures = label_signatures(heads, raw_embeddings, layout)
    if label_share == 0:
        return signatures
    for (head, classes), columns in zip(layout.heads, layout.slices().values(), strict=True):
        position = {name: n for n, name in enumerate(classes) if name != OTHER_CLASS}
        labelled = [
            (row, position[value])
            for row, item in enumerate(metadata)
            if (value := item.get(head, "")) in position
        ]
        if not labelled:
            continue
        rows, classes_of = (np.array(x) for x in zip(*labelled, strict=True))
        block = signatures[rows, columns] * (1.0 - label_share)
        block[np.arange(len(rows)), classes_of] += label_share
        signatures[rows, columns] = block
    return signatures


def tempered(signatures: np.ndarray, layout: SignatureLayout, temperature: float) -> np.ndarray:
    """Each head's class distribution raised to ``1 / temperature`` and renormalised: a query
    the heads are unsure of lets items of its runner-up classes agree too (1: unchanged)."""
    if temperature == 1.0:
        return signatures
    out = np.array(signatures, dtype=np.float32, copy=True)
    for columns in layout.slices().values():
        p = np.power(np.maximum(out[:, columns], 1e-12), 1.0 / temperature)
        out[:, columns] = p / p.sum(axis=1, keepdims=True)
    return out


#: A near-duplicate guard: an item whose cosine to the query reaches NEAR_DUPLICATE_FROM gets a
#: growing share of every head's agreement, all of it from NEAR_DUPLICATE_FULL on (a re-encoded
#: or resized copy of an item's own image lies at 0.99 and more). Items' signatures lean on their
#: catalogue labels, which the heads' reading of the item's own image may contradict; the guard
#: keeps the item itself first for a copy of its picture.
NEAR_DUPLICATE_FROM = 0.95
NEAR_DUPLICATE_FULL = 0.98


def label_agreement(
    queries: np.ndarray,
    items: np.ndarray,
    layout: SignatureLayout,
    weights: Mapping[str, float],
    cosines: np.ndarray | None = None,
) -> np.ndarray:
    """(n_queries, n_items) Σ_head weight × min(1, P(same class) / P(query agrees with itself)).

    Relative to the query's own agreement, so an item the heads see exactly as the query scores
    1 per head, the most any item can. With the query–item ``cosines`` (same shape as the
    result) a near-duplicate's agreement is raised towards 1 (:data:`NEAR_DUPLICATE_FROM`), so
    a copy of an item's own picture is never outranked.
    """
    total = np.zeros((len(queries), len(items)), np.float32)
    near = None
    if cosines is not None and cosines.size and cosines.max() > NEAR_DUPLICATE_FROM:
        span = NEAR_DUPLICATE_FULL - NEAR_DUPLICATE_FROM
        near = np.clip((cosines - NEAR_DUPLICATE_FROM) / span, 0.0, 1.0).astype(np.float32)
    for head, columns in layout.slices().items():
        weight = float(weights.get(head, 0.0))
        if weight == 0:
            continue
        q = queries[:, columns]
        own = np.maximum((q * q).sum(axis=1, keepdims=True), 1e-6)
        agree = np.minimum((q @ items[:, columns].T) / own, 1.0)
        total += weight * (agree if near is None else np.maximum(agree, near))
    return total


@dataclass(frozen=True)
class Scoring:
    """Per-head weights of label agreement added to the cosine; all zero = cosine alone.

    Product shots and photos have their own weights (the heads read the two differently);
    ``match_colour`` off zeroes the colour head's weight (the "Match colour" switch).
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    match_colour: bool = True
    #: Weights for photos (queries that are not a product on a plain background).
    photo_weights: Mapping[str, float] = field(default_factory=dict)
    #: A photo's class distributions are tempered by this before agreement (:func:`tempered`).
    photo_temperature: float = 1.0

    def head_weights(self, photo: bool) -> dict[str, float]:
        """The non-zero weight of each head for a query of this kind (photo or product shot)."""
        chosen = self.photo_weights if photo else self.weights
        return {
            head: float(weight)
            for head, weight in chosen.items()
            if weight and (head != COLOUR_HEAD or self.match_colour)
        }

    def agreement_weights(
        self,
        photo: bool,
        index_layout: SignatureLayout | None,
        query_layout: SignatureLayout | None,
    ) -> dict[str, float]:
        """The head weights that apply to a query of this kind in an index: empty (the cosine
        alone) unless the index stores signatures and the query's come from the same heads."""
        if index_layout is None or query_layout != index_layout:
            return {}
        names = set(index_layout.names)
        return {head: w for head, w in self.head_weights(photo).items() if head in names}

    def query_signatures(
        self, photo: bool, signatures: np.ndarray, layout: SignatureLayout
    ) -> np.ndarray:
        """Queries' signatures as their kind compares them: a photo's tempered."""
        return tempered(signatures, layout, self.photo_temperature) if photo else signatures

    def with_match_colour(self, on: bool) -> Scoring:
        return replace(self, match_colour=on)

    def colour_counts(self, photo: bool) -> bool:
        """Whether the "Match colour" switch changes the ranking of a query of this kind."""
        chosen = self.photo_weights if photo else self.weights
        return bool(chosen.get(COLOUR_HEAD, 0.0))


def describe_weights(weights: Mapping[str, float]) -> str:
    """How results were ranked: ``cosine + 2 × articleType agreement + ...``."""
    if not weights:
        return "cosine similarity"
    return "cosine + " + " + ".join(f"{w:g} × {h} agreement" for h, w in weights.items())


GENDER_HEAD = "gender"
#: Product shots: chosen with tests/benchmarks/bench_scoring.py on development queries not used
#: for the reported figures (1,500 `val` product shots, the best sum of article-type, colour and
#: gender P@5; the same weights won for the photo-trained model).
_LABEL_WEIGHTS = {TYPE_HEAD: 2.0, COLOUR_HEAD: 2.0, GENDER_HEAD: 1.0}
#: Photos: lighter weights and tempered distributions, so that a photo of a catalogue item still
#: finds that item while the labels pull in items of the photo's kind and colour; chosen with
#: tests/benchmarks/bench_photo_ranking.py as the best exact-item recall on the development
#: synthetic photos among the rankings that meet every real-photo goal on the `val` photos
#: (BENCHMARKS.md, "The catalogue's own labels").
_PHOTO_WEIGHTS = {TYPE_HEAD: 0.25, COLOUR_HEAD: 1.0}
PHOTO_TEMPERATURE = 1.5
DEFAULT_SCORING = Scoring(
    _LABEL_WEIGHTS, photo_weights=_PHOTO_WEIGHTS, photo_temperature=PHOTO_TEMPERATURE
)
COSINE_ONLY = Scoring({})
