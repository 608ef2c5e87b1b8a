"""The one ranking path: query vectors (and label signatures) → each query's top-k items.

``search``, the window and ``evaluate`` all rank through :func:`rank`, so a figure measured by
``evaluate`` is what a user of ``search`` gets. Each query carries its kind (a photo, or a
product shot on a plain background: :func:`fashion_desktop.core.localise.looks_like_product_shot`),
which picks its label-agreement weights (:meth:`Scoring.agreement_weights`). The score results
are ordered by is scaled to 0..1 — the cosine plus the weighted agreement, divided by the most
that sum can be — and is the number users are shown; the plain cosine travels beside it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from fashion_desktop.core.filters import Filters
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.scoring import Scoring, SignatureLayout, describe_weights


@dataclass(frozen=True)
class RankedItem:
    row: int
    #: What results are ordered by, 0..1 (1: the same picture, every head agreeing).
    score: float
    #: The embeddings' cosine alone (1.0 = the same picture).
    similarity: float


@dataclass(frozen=True)
class RankedList:
    """One query's results, best first, and how they were ranked (:func:`describe_weights`)."""

    items: list[RankedItem]
    scoring: str

    @property
    def rows(self) -> list[int]:
        return [item.row for item in self.items]


def rank(
    index: EmbeddingIndex,
    vectors: np.ndarray,
    *,
    photo: Sequence[bool],
    scoring: Scoring,
    k: int,
    signatures: np.ndarray | None = None,
    signature_layout: SignatureLayout | None = None,
    filters: Filters | None = None,
    exclude_rows: Sequence[Collection[int]] | None = None,
) -> list[RankedList]:
    """Rank normalised search ``vectors`` (index space, one row per query) in ``index``.

    ``photo[i]`` is query i's kind; ``signatures`` (in ``signature_layout``) add label
    agreement where the index stores signatures of the same heads; ``exclude_rows[i]`` are
    rows query i must never return (its own image).
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if len(photo) != len(vectors) or (
        exclude_rows is not None and len(exclude_rows) != len(vectors)
    ):
        raise ValueError("one kind (and one exclusion set) per query is needed")
    results: list[RankedList | None] = [None] * len(vectors)
    for kind in (False, True):
        members = [n for n, is_photo in enumerate(photo) if bool(is_photo) == kind]
        if not members:
            continue
        weights = scoring.agreement_weights(
            kind, index.signature_layout, signature_layout if signatures is not None else None
        )
        ranked = index.search_many(
            vectors[members],
            k,
            filters=filters,
            exclude_rows=None if exclude_rows is None else [exclude_rows[n] for n in members],
            signatures=(
                scoring.query_signatures(kind, signatures[members], signature_layout)
                if weights and signatures is not None and signature_layout is not None
                else None
            ),
            head_weights=weights,
        )
        scale = 1.0 + sum(weights.values())
        described = describe_weights(weights)
        for n, hits in zip(members, ranked, strict=True):
            rows = [row for row, _ in hits]
            cosines = np.asarray(index.vectors[rows]) @ vectors[n] if rows else np.empty(0)
            results[n] = RankedList(
                [
                    RankedItem(row, score / scale, float(cosine))
                    for (row, score), cosine in zip(hits, cosines, strict=True)
                ],
                described,
            )
    return [result for result in results if result is not None]


def describe_rankings(rankings: Sequence[RankedList], photo: Sequence[bool]) -> str:
    """One line for a set of queries: ``product shots: ...; photos: ...`` when they differ."""
    by_kind: dict[bool, str] = {}
    for ranked, is_photo in zip(rankings, photo, strict=True):
        by_kind.setdefault(bool(is_photo), ranked.scoring)
    if len(set(by_kind.values())) == 2:
        return f"product shots: {by_kind[False]}; photos: {by_kind[True]}"
    return next(iter(by_kind.values()), "cosine similarity")
