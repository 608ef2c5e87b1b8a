"""Label-aware scoring: embedding similarity plus agreement of what the heads say an image is.

The model's classifier heads (article type, colour, gender) turn an embedding into class
probabilities. An item's *label signature* is its class probabilities, head after head; the dot
product of two signatures restricted to one head is the probability that the two images belong
to the same class of that head (independent draws from each distribution: high only when both
are confident and agree). Divided by the query's agreement with itself and capped at 1, it is 1
for an item the heads see exactly as the query, so a near-duplicate is never outranked. The
score is

    score = cosine(query, item) + Σ_head weight[head] × min(1, P_head(same) / P_head(q, q))

computed over the whole index (not a re-ranking of a few candidates). Signatures are stored in
the index (``signatures.npy``) so a search costs one extra small matrix product; the weights are
a search-time choice measured in BENCHMARKS.md (this agreement measure beat the Bhattacharyya
coefficient and agreement of the top class there), and the window's "Match colour" switch sets
the colour weight to zero or back. NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from fashion_desktop.core.garment_colour import COLOUR_HEAD, MeasuredColours
from fashion_desktop.core.heads import ClassifierHeads

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


def label_agreement(
    queries: np.ndarray,
    items: np.ndarray,
    layout: SignatureLayout,
    weights: Mapping[str, float],
) -> np.ndarray:
    """(n_queries, n_items) Σ_head weight × min(1, P(same class) / P(query agrees with itself)).

    Relative to the query's own agreement, so an item the heads see exactly as the query scores
    1 per head, the most any item can: a near-duplicate is never outranked.
    """
    total = np.zeros((len(queries), len(items)), np.float32)
    for head, columns in layout.slices().items():
        weight = float(weights.get(head, 0.0))
        if weight == 0:
            continue
        q = queries[:, columns]
        own = np.maximum((q * q).sum(axis=1, keepdims=True), 1e-6)
        total += weight * np.minimum((q @ items[:, columns].T) / own, 1.0)
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
#: Chosen with tests/benchmarks/bench_scoring.py on development queries not used for the
#: reported figures (1,500 `val` product shots, the best sum of article-type, colour and gender
#: P@5; the same weights won for the photo-trained model). Photos are ranked with the same
#: weights: since the model learnt real photos its heads read them well enough that label
#: agreement raised every field's P@5 on the real `val` photos (tests/benchmarks/
#: bench_real_photos.py, BENCHMARKS.md).
_LABEL_WEIGHTS = {TYPE_HEAD: 2.0, COLOUR_HEAD: 2.0, GENDER_HEAD: 1.0}
DEFAULT_SCORING = Scoring(_LABEL_WEIGHTS, photo_weights=_LABEL_WEIGHTS)
COSINE_ONLY = Scoring({})
