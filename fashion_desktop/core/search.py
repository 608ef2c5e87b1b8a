"""Visual search: query images → embeddings → top-k catalogue items with their metadata.

:class:`SearchEngine` is the single entry point the CLI, the window's worker thread and the tests
use. The index can be used before the model has loaded (filters, item lookup, "more like this"
from stored vectors); image queries need :meth:`SearchEngine.attach_embedder` first.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.heads import Predictions
from fashion_desktop.core.imaging import CropBox, QueryImage, prepare_for_model
from fashion_desktop.core.index import EmbeddingIndex, normalise, search_vectors_for

DEFAULT_K = 5
FilterSpec = Mapping[str, str | Collection[str]]


@dataclass(frozen=True)
class SearchHit:
    rank: int
    item_id: str
    score: float
    image_path: Path
    metadata: dict[str, str]
    row: int

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "id": self.item_id,
            "score": round(self.score, 4),
            "image": str(self.image_path.resolve()),
            "metadata": self.metadata,
        }


@dataclass
class SearchResponse:
    """One answered query: the hits, how long each stage took and what the model saw."""

    query: str
    hits: list[SearchHit]
    timings_ms: dict[str, float] = field(default_factory=dict)
    predicted: Predictions | None = None
    #: The normalised search vector, kept so a view can refine the query without the model.
    vector: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        answer: dict = {
            "query": self.query,
            "results": [hit.to_json() for hit in self.hits],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.predicted is not None:
            answer["predicted"] = {
                head: [[label, prob] for label, prob in classes]
                for head, classes in self.predicted.items()
            }
        return answer


class ModelNotReadyError(FashionDesktopError):
    """An image query arrived before the model finished loading."""


class SearchEngine:
    """Answers queries against one index with one model."""

    def __init__(self, index: EmbeddingIndex, embedder: Embedder | None = None) -> None:
        self.index = index
        self.embedder: Embedder | None = None
        if embedder is not None:
            self.attach_embedder(embedder)

    def attach_embedder(self, embedder: Embedder) -> None:
        """Use ``embedder`` for image queries; refuses a model the index was not built with."""
        self.index.check_model(embedder.identity)
        self.embedder = embedder

    @property
    def ready(self) -> bool:
        return self.embedder is not None

    # ------------------------------------------------------------------------------ queries
    def search_images(
        self,
        images: Sequence[QueryImage],
        *,
        k: int = DEFAULT_K,
        filters: FilterSpec | None = None,
        blend: bool = False,
        crop: CropBox | None = None,
    ) -> list[SearchResponse]:
        """One response per image, or a single blended response when ``blend`` is set."""
        if not images:
            return []
        embedder = self._require_embedder()
        t0 = time.perf_counter()
        pixels = np.stack([prepare_for_model(q.image, crop) for q in images])
        t1 = time.perf_counter()
        raw = embedder.embed_batch(pixels)
        t2 = time.perf_counter()
        prepare_ms = (t1 - t0) * 1000 / len(images)
        embed_ms = (t2 - t1) * 1000 / len(images)
        if blend:
            label = " + ".join(q.label for q in images)
            unit = normalise(normalise(raw).mean(axis=0))
            raw_for_heads = raw.mean(axis=0)
            groups = [(label, unit, raw_for_heads, [q.sha256 for q in images])]
        else:
            groups = [
                (q.label, normalise(r), r, [q.sha256]) for q, r in zip(images, raw, strict=True)
            ]
        responses = []
        for label, unit, raw_vector, hashes in groups:
            response = self._search_vector(
                label,
                self._to_index_space(unit),
                k=k,
                filters=filters,
                exclude_rows=self.index.rows_with_sha256(hashes),
            )
            response.timings_ms = {
                "prepare": prepare_ms * len(hashes),
                "embed": embed_ms * len(hashes),
                **response.timings_ms,
            }
            response.predicted = embedder.predict(raw_vector)
            responses.append(response)
        return responses

    def search_item(
        self, item_id: str, *, k: int = DEFAULT_K, filters: FilterSpec | None = None
    ) -> SearchResponse:
        """ "More like this": search from an item's stored vector, without running the model."""
        row = self.index.row_of(item_id)
        if row is None:
            raise FashionDesktopError(f"No item with id {item_id} in this index.")
        item = self.index.item(row)
        exclude = {row} | self.index.rows_with_sha256([item.sha256])
        return self._search_vector(
            f"more like {item_id}",
            self.index.vector(row),
            k=k,
            filters=filters,
            exclude_rows=exclude,
        )

    def search_vector(
        self,
        vector: np.ndarray,
        *,
        label: str = "query",
        k: int = DEFAULT_K,
        filters: FilterSpec | None = None,
        exclude_rows: Collection[int] = (),
    ) -> SearchResponse:
        """Search again from a vector returned earlier (e.g. new filters on the same query)."""
        return self._search_vector(label, vector, k=k, filters=filters, exclude_rows=exclude_rows)

    # ---------------------------------------------------------------------------- internals
    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise ModelNotReadyError(
                "The model is still loading; the query will run when it is ready."
            )
        return self.embedder

    def _to_index_space(self, unit: np.ndarray) -> np.ndarray:
        return search_vectors_for(unit[np.newaxis], self.index.projection)[0]

    def _search_vector(
        self,
        label: str,
        vector: np.ndarray,
        *,
        k: int,
        filters: FilterSpec | None,
        exclude_rows: Collection[int],
    ) -> SearchResponse:
        if k < 1:
            raise FashionDesktopError("k must be at least 1.")
        t0 = time.perf_counter()
        ranked = self.index.search(vector, k, filters=filters, exclude_rows=exclude_rows)
        t1 = time.perf_counter()
        items = self.index.items([row for row, _ in ranked])
        hits = [
            SearchHit(rank, item.item_id, score, item.image_path, item.metadata, item.row)
            for rank, (item, (_, score)) in enumerate(zip(items, ranked, strict=True), start=1)
        ]
        timings = {"search": (t1 - t0) * 1000, "lookup": (time.perf_counter() - t1) * 1000}
        return SearchResponse(label, hits, timings, vector=vector)
