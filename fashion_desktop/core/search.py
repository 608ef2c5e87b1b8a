"""Visual search: query images → embeddings → top-k catalogue items with their metadata.

:class:`SearchEngine` is the single entry point the CLI, the window's worker thread and the tests
use. The index can be used before the model has loaded (filters, item lookup, "more like this"
from stored vectors); image queries need :meth:`SearchEngine.attach_embedder` first.

An image query that is not a product on a plain background (a photo) is first cropped to the
garment (:mod:`fashion_desktop.core.localise`) unless the user cropped it; the ranking combines
the cosine with the heads' label agreement (:mod:`fashion_desktop.core.scoring`).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.garment_colour import MeasuredColours
from fashion_desktop.core.heads import Predictions
from fashion_desktop.core.imaging import CropBox, QueryImage
from fashion_desktop.core.index import EmbeddingIndex, normalise, search_vectors_for
from fashion_desktop.core.localise import (
    DEFAULT_LOCALISE,
    LOCALISE_MODES,
    GarmentLocator,
    embed_query_images,
)
from fashion_desktop.core.ranking import rank
from fashion_desktop.core.scoring import DEFAULT_SCORING, Scoring, label_signatures

DEFAULT_K = 5


@dataclass(frozen=True)
class SearchHit:
    rank: int
    item_id: str
    score: float
    image_path: Path
    metadata: dict[str, str]
    row: int
    #: The embeddings' cosine (1.0 = the same picture); ``score`` (0..1) also counts label
    #: agreement and is what the results are ordered by and what users are shown.
    similarity: float = 0.0

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "id": self.item_id,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
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
    #: The normalised search vector and label signature, kept so a view can refine the query
    #: (filters, "Match colour") without the model.
    vector: np.ndarray | None = field(default=None, repr=False)
    signature: np.ndarray | None = field(default=None, repr=False)
    #: The region that was searched when the garment was localised automatically (a photo).
    found_box: CropBox | None = None
    #: How the results were ranked (:meth:`Scoring.describe`).
    scoring: str = ""
    #: The query is a photo (not a product on a plain background): ranked with photo weights.
    photo: bool = False

    def to_json(self) -> dict:
        answer: dict = {
            "query": self.query,
            "results": [hit.to_json() for hit in self.hits],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.found_box is not None:
            answer["garment_box"] = [round(v, 4) for v in self.found_box.as_tuple()]
        if self.scoring:
            answer["scoring"] = self.scoring
        answer["query_kind"] = "photo" if self.photo else "product shot"
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

    def __init__(
        self,
        index: EmbeddingIndex,
        embedder: Embedder | None = None,
        *,
        scoring: Scoring = DEFAULT_SCORING,
        localise: str = DEFAULT_LOCALISE,
    ) -> None:
        if localise not in LOCALISE_MODES:
            raise ValueError(f"localise must be one of {LOCALISE_MODES}, not {localise!r}")
        self.index = index
        self.embedder: Embedder | None = None
        self.locator: GarmentLocator | None = None
        #: Default ranking and localisation of queries that do not name their own.
        self.scoring = scoring
        self.localise = localise
        if embedder is not None:
            self.attach_embedder(embedder)

    def attach_embedder(self, embedder: Embedder) -> None:
        """Use ``embedder`` for image queries; refuses a model the index was not built with."""
        self.index.check_model(embedder.identity)
        self.embedder = embedder
        self.locator = None

    def garment_locator(self) -> GarmentLocator | None:
        """The localiser for photos (built on first use; None when the model has no heads)."""
        embedder = self.embedder
        if self.locator is None and embedder is not None and GarmentLocator.supports(embedder):
            self.locator = GarmentLocator(embedder)
        return self.locator

    @property
    def ready(self) -> bool:
        return self.embedder is not None

    # ------------------------------------------------------------------------------ queries
    def search_images(
        self,
        images: Sequence[QueryImage],
        *,
        k: int = DEFAULT_K,
        filters: Filters | None = None,
        blend: bool = False,
        crop: CropBox | None = None,
        scoring: Scoring | None = None,
        localise: str | None = None,
    ) -> list[SearchResponse]:
        """One response per image, or a single blended response when ``blend`` is set.

        ``crop`` (the user's) applies to every image and turns localisation off; otherwise
        ``localise`` (auto/always/never, default the engine's) crops photos to the garment.
        """
        if not images:
            return []
        embedder = self._require_embedder()
        mode = self.localise if localise is None else localise
        scoring = self.scoring if scoring is None else scoring
        locator = None if crop is not None else self.garment_locator()
        batch = embed_query_images([q.image for q in images], embedder, locator, mode, crop)
        embedded = batch.queries
        groups: list[
            tuple[str, np.ndarray, np.ndarray, list[str], CropBox | None, bool, np.ndarray | None]
        ]
        if blend:
            label = " + ".join(q.label for q in images)
            raw = np.stack([e.raw for e in embedded])
            unit = normalise(normalise(raw).mean(axis=0))
            photo = any(e.photo for e in embedded)
            measured = [e.colour for e in embedded if e.colour is not None]
            colour = np.mean(measured, axis=0) if measured else None
            hashes = [q.sha256 for q in images]
            groups = [(label, unit, raw.mean(axis=0), hashes, None, photo, colour)]
        else:
            groups = [
                (
                    q.label,
                    normalise(e.raw),
                    e.raw,
                    [q.sha256],
                    e.box,
                    e.photo,
                    e.colour,
                )
                for q, e in zip(images, embedded, strict=True)
            ]
        responses = []
        for label, unit, raw_vector, hashes, box, photo, colour in groups:
            colours = MeasuredColours.of(embedder.garment_colour, [colour])
            response = self._rank_one(
                label,
                self._to_index_space(unit),
                self.query_signature(raw_vector, colours),
                photo=photo,
                k=k,
                filters=filters,
                exclude_rows=self.index.rows_with_sha256(hashes),
                scoring=scoring,
            )
            timings = {
                name: ms * len(hashes)
                for name, ms in batch.timings_ms.items()
                if (name != "localise" or box is not None)
                and (name != "colour" or colours is not None)
            }
            response.timings_ms = timings | response.timings_ms
            response.found_box = box
            response.predicted = embedder.predict(raw_vector, colours)
            responses.append(response)
        return responses

    def query_signature(
        self, raw_embedding: np.ndarray, colours: MeasuredColours | None = None
    ) -> np.ndarray | None:
        """The label signature of one raw embedding (with its photo's measured garment
        ``colours``), if the index and model both have heads."""
        layout = self.index.signature_layout
        heads = self.embedder.heads if self.embedder is not None else None
        if layout is None or heads is None or not layout.matches(heads):
            return None
        return label_signatures(heads, raw_embedding, layout, colours)[0]

    def search_item(
        self,
        item_id: str,
        *,
        k: int = DEFAULT_K,
        filters: Filters | None = None,
        scoring: Scoring | None = None,
    ) -> SearchResponse:
        """ "More like this": search from an item's stored vector, without running the model."""
        row = self.index.row_of(item_id)
        if row is None:
            raise FashionDesktopError(f"No item with id {item_id} in this index.")
        item = self.index.item(row)
        exclude = {row} | self.index.rows_with_sha256([item.sha256])
        return self._rank_one(
            f"more like {item_id}",
            self.index.vector(row),
            self.index.signature(row),
            photo=False,  # a catalogue item is a product shot
            k=k,
            filters=filters,
            exclude_rows=exclude,
            scoring=scoring,
        )

    def search_vector(
        self,
        vector: np.ndarray,
        *,
        signature: np.ndarray | None = None,
        label: str = "query",
        k: int = DEFAULT_K,
        filters: Filters | None = None,
        exclude_rows: Collection[int] = (),
        scoring: Scoring | None = None,
        photo: bool = False,
    ) -> SearchResponse:
        """Search again from a vector (and signature) returned earlier, e.g. with new filters;
        ``photo`` as the original response said."""
        return self._rank_one(
            label,
            vector,
            signature,
            photo=photo,
            k=k,
            filters=filters,
            exclude_rows=exclude_rows,
            scoring=scoring,
        )

    # ---------------------------------------------------------------------------- internals
    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise ModelNotReadyError(
                "The model is still loading; the query will run when it is ready."
            )
        return self.embedder

    def _to_index_space(self, unit: np.ndarray) -> np.ndarray:
        return search_vectors_for(unit[np.newaxis], self.index.projection)[0]

    def _rank_one(
        self,
        label: str,
        vector: np.ndarray,
        signature: np.ndarray | None,
        *,
        photo: bool,
        k: int,
        filters: Filters | None,
        exclude_rows: Collection[int],
        scoring: Scoring | None,
    ) -> SearchResponse:
        if k < 1:
            raise FashionDesktopError("k must be at least 1.")
        t0 = time.perf_counter()
        (ranked,) = rank(
            self.index,
            vector[np.newaxis],
            photo=[photo],
            scoring=self.scoring if scoring is None else scoring,
            k=k,
            signatures=None if signature is None else signature[np.newaxis],
            signature_layout=self.index.signature_layout,
            filters=filters,
            exclude_rows=[exclude_rows],
        )
        t1 = time.perf_counter()
        items = self.index.items(ranked.rows)
        hits = [
            SearchHit(
                rank,
                item.item_id,
                found.score,
                item.image_path,
                item.metadata,
                item.row,
                found.similarity,
            )
            for rank, (item, found) in enumerate(zip(items, ranked.items, strict=True), start=1)
        ]
        timings = {"search": (t1 - t0) * 1000, "lookup": (time.perf_counter() - t1) * 1000}
        return SearchResponse(
            label,
            hits,
            timings,
            vector=vector,
            signature=signature,
            scoring=ranked.scoring,
            photo=photo,
        )
