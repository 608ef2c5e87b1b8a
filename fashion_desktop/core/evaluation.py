"""Retrieval quality: precision, recall and mAP at k of metadata agreement; exact-item recall.

Two kinds of query are scored. **Catalogue-style** queries (a product on white): a retrieved
item is relevant for a field (article type, colour, ...) when both have the same value. Queries
come from a separate catalogue (honest: unseen products) or, without one, from the index itself,
leave-one-out (each item queries all the others). **Photos** (a garment somewhere in a busy
frame) show one particular item of the index, named by the photo catalogue's ``id``: Recall@k is
the share of photos whose item is among the first k results. A before/after comparison re-embeds
the index's catalogue with a new (e.g. fine-tuned) model and scores both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_desktop.core.builder import BuildProgress
from fashion_desktop.core.catalogue import Catalogue, CatalogueItem
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError, ImageError
from fashion_desktop.core.garment_colour import MeasuredColours
from fashion_desktop.core.imaging import CropBox, load_image
from fashion_desktop.core.index import EmbeddingIndex, search_vectors_for
from fashion_desktop.core.localise import (
    DEFAULT_LOCALISE,
    EmbeddedQuery,
    GarmentLocator,
    embed_query_images,
)
from fashion_desktop.core.ranking import describe_rankings, rank
from fashion_desktop.core.scoring import (
    DEFAULT_SCORING,
    Scoring,
    SignatureLayout,
    label_signatures,
)

DEFAULT_FIELDS = ("articleType", "baseColour", "gender", "masterCategory")
#: Catalogue label columns a labelled photo set may carry (any subset, empty values skipped).
LABEL_FIELDS = (
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "gender",
    "season",
    "usage",
)


@dataclass
class FieldScores:
    field: str
    queries: int = 0
    precision: float = 0.0
    recall: float = 0.0
    map: float = 0.0
    hit_rate: float = 0.0

    def to_json(self) -> dict:
        return {
            "queries": self.queries,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "map": round(self.map, 4),
            "hit_rate": round(self.hit_rate, 4),
        }


@dataclass
class EvaluationReport:
    k: int
    mode: str  # "queries" | "leave-one-out"
    queries: int
    index_items: int
    fields: dict[str, FieldScores] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    scoring: str = "cosine similarity"

    def to_json(self) -> dict:
        return {
            "k": self.k,
            "mode": self.mode,
            "queries": self.queries,
            "index_items": self.index_items,
            "scoring": self.scoring,
            "skipped": len(self.skipped),
            "fields": {name: scores.to_json() for name, scores in self.fields.items()},
        }


def score_rankings(
    query_values: Sequence[Mapping[str, str]],
    rankings: Sequence[Sequence[int]],
    index_values: Mapping[str, Sequence[str]],
    k: int,
    fields: Sequence[str],
    self_rows: Sequence[int | None] | None = None,
) -> dict[str, FieldScores]:
    """P@k, R@k, mAP@k and hit rate per field from ranked rows (pure, testable on toy data)."""
    results: dict[str, FieldScores] = {}
    for name in fields:
        values = [v.casefold() for v in index_values[name]]
        totals: dict[str, int] = {}
        for value in values:
            if value:
                totals[value] = totals.get(value, 0) + 1
        p_sum = r_sum = ap_sum = hit_sum = 0.0
        counted = 0
        for q, (meta, ranked) in enumerate(zip(query_values, rankings, strict=True)):
            wanted = meta.get(name, "").casefold()
            if not wanted:
                continue
            relevant_total = totals.get(wanted, 0)
            own_row = self_rows[q] if self_rows is not None else None
            if own_row is not None and values[own_row] == wanted:
                relevant_total -= 1
            rel = [1.0 if values[row] == wanted else 0.0 for row in ranked[:k]]
            counted += 1
            p_sum += sum(rel) / k
            hit_sum += 1.0 if any(rel) else 0.0
            if relevant_total > 0:
                r_sum += sum(rel) / relevant_total
                precision_at = np.cumsum(rel) / np.arange(1, len(rel) + 1) if rel else np.array([])
                ap_sum += float(np.dot(precision_at, rel)) / min(k, relevant_total)
        if counted:
            results[name] = FieldScores(
                name, counted, p_sum / counted, r_sum / counted, ap_sum / counted, hit_sum / counted
            )
        else:
            results[name] = FieldScores(name)
    return results


def check_fields(index: EmbeddingIndex, fields: Sequence[str]) -> None:
    missing = [f for f in fields if f not in index.fields]
    if missing:
        raise FashionDesktopError(
            f"The index has no field {', '.join(missing)}; fields are: {', '.join(index.fields)}."
        )


@dataclass
class QuerySet:
    """Query images embedded once, to score one or several indexes (e.g. before/after)."""

    metadata: list[dict[str, str]]
    sha256: list[str]
    raw: np.ndarray  # (n, 2048)
    skipped: list[tuple[str, str]]
    fingerprint: str
    item_ids: list[str] = field(default_factory=list)  # the catalogue ids, row for row
    boxes: list[CropBox | None] = field(default_factory=list)  # searched regions, if localised
    #: Label signatures of the queries (None when the model has no classifier heads).
    signatures: np.ndarray | None = None
    signature_layout: SignatureLayout | None = None
    #: Per query, whether it is a photo rather than a product shot: the search's own decision
    #: (:func:`localise.looks_like_product_shot`), which picks its ranking weights.
    photo: list[bool] = field(default_factory=list)
    #: Per query, a photo's garment colour measured on its pixels (None: not measured), as
    #: :func:`localise.embed_query_images` measures it for the search.
    colours: list[np.ndarray | None] = field(default_factory=list)

    def with_signatures(self, embedder: Embedder) -> QuerySet:
        """Add the label signatures of ``embedder``'s heads, with the measured garment colours
        fused in as the search fuses them (returns self)."""
        if embedder.heads is not None:
            self.signature_layout = SignatureLayout.from_heads(embedder.heads)
            measured = MeasuredColours.of(embedder.garment_colour, self.colours)
            self.signatures = label_signatures(
                embedder.heads, self.raw, self.signature_layout, measured
            )
        return self


#: Query images embedded per model run when a query catalogue is embedded.
QUERY_BATCH = 32


def embed_queries(
    catalogue: Catalogue,
    embedder: Embedder,
    progress: Callable[[BuildProgress], None] | None = None,
    *,
    localise: str = DEFAULT_LOCALISE,
) -> QuerySet:
    """Embed a query catalogue exactly as the search embeds a query image
    (:func:`localise.embed_query_images`: the same product-shot decision and localisation,
    ``localise`` auto/always/never), a batch of images per model run."""
    locator = GarmentLocator(embedder) if GarmentLocator.supports(embedder) else None
    started = time.perf_counter()
    metadata: list[dict[str, str]] = []
    hashes: list[str] = []
    ids: list[str] = []
    embedded: list[EmbeddedQuery] = []
    skipped: list[tuple[str, str]] = []
    items = catalogue.items
    for start in range(0, len(items), QUERY_BATCH):
        readable = []
        for item in items[start : start + QUERY_BATCH]:
            try:
                readable.append((item, load_image(item.image_path)))
            except ImageError as error:
                skipped.append((str(item.image_path), str(error)))
        if readable:
            batch = embed_query_images([q.image for _, q in readable], embedder, locator, localise)
            embedded.extend(batch.queries)
            metadata.extend(item.metadata for item, _ in readable)
            hashes.extend(q.sha256 for _, q in readable)
            ids.extend(item.item_id for item, _ in readable)
        if progress:
            done = min(start + QUERY_BATCH, len(items))
            elapsed = time.perf_counter() - started
            progress(BuildProgress(done, len(items), len(embedded), 0, len(skipped), elapsed))
    if not embedded:
        raise FashionDesktopError("None of the query images could be read.")
    return QuerySet(
        metadata,
        hashes,
        np.stack([e.raw for e in embedded]),
        skipped,
        embedder.identity.fingerprint,
        ids,
        [e.box for e in embedded],
        photo=[e.photo for e in embedded],
        colours=[e.colour for e in embedded],
    ).with_signatures(embedder)


def rank_queries(
    index: EmbeddingIndex,
    queries: QuerySet,
    k: int,
    scoring: Scoring,
    *,
    rows: Sequence[int] | None = None,
    exclude_own: bool = True,
) -> tuple[list[list[int]], str]:
    """Rank queries through the search's own ranking (:func:`ranking.rank`): each query's kind
    (photo or product shot) picks its weights. ``exclude_own`` leaves out index items whose
    image is the query's own file. Returns the ranked rows per query and how they were ranked."""
    rows = list(range(len(queries.raw))) if rows is None else list(rows)
    kinds = [bool(queries.photo[r]) if queries.photo else False for r in rows]
    ranked = rank(
        index,
        search_vectors_for(queries.raw[rows], index.projection),
        photo=kinds,
        scoring=scoring,
        k=k,
        signatures=None if queries.signatures is None else queries.signatures[rows],
        signature_layout=queries.signature_layout,
        exclude_rows=[index.rows_with_sha256([queries.sha256[r]]) for r in rows]
        if exclude_own
        else None,
    )
    return [r.rows for r in ranked], describe_rankings(ranked, kinds)


def evaluate(
    index: EmbeddingIndex,
    queries: QuerySet | None = None,
    *,
    k: int = 5,
    fields: Sequence[str] = DEFAULT_FIELDS,
    scoring: Scoring = DEFAULT_SCORING,
) -> EvaluationReport:
    """Score retrieval for embedded ``queries``, or leave-one-out over the index without them,
    ranked as the search does (``scoring``)."""
    check_fields(index, fields)
    index_values = {name: index.metadata_column(name) for name in fields}
    if queries is None:
        vectors = np.asarray(index.vectors)
        query_meta = [
            {name: index_values[name][row] for name in fields} for row in range(len(index))
        ]
        self_rows: list[int | None] | None = list(range(len(index)))
        skipped: list[tuple[str, str]] = []
        mode = "leave-one-out"
        kinds = [False] * len(index)  # catalogue items are product shots
        ranked = rank(
            index,
            vectors,
            photo=kinds,
            scoring=scoring,
            k=k,
            signatures=None if index.signatures is None else np.asarray(index.signatures),
            signature_layout=index.signature_layout,
            exclude_rows=[{row} for row in range(len(index))],
        )
        rankings = [r.rows for r in ranked]
        described = describe_rankings(ranked, kinds)
    else:
        if queries.fingerprint != index.model["fingerprint"]:
            raise FashionDesktopError(
                "The queries were embedded with another model than the index was built with."
            )
        query_meta = queries.metadata
        self_rows = None
        skipped = queries.skipped
        mode = "queries"
        rankings, described = rank_queries(index, queries, k, scoring, exclude_own=True)
    report = EvaluationReport(k, mode, len(rankings), len(index), skipped=skipped)
    report.scoring = described
    report.fields = score_rankings(query_meta, rankings, index_values, k, fields, self_rows)
    return report


# ---------------------------------------------------------------------------- photos
#: Photo catalogues written by ``tests/benchmarks/make_photo_queries.py`` name each photo's scene.
PHOTO_GROUP_FIELD = "scene"


@dataclass
class PhotoReport:
    """Exact-item retrieval of photos: Recall@k for each k, the mean reciprocal rank, by group."""

    ks: tuple[int, ...]
    queries: int
    index_items: int
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    not_in_index: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    scoring: str = "cosine similarity"

    def to_json(self) -> dict:
        return {
            "mode": "photos",
            "scoring": self.scoring,
            "queries": self.queries,
            "index_items": self.index_items,
            "recall": {f"R@{k}": round(value, 4) for k, value in self.recall.items()},
            f"mrr@{max(self.ks)}": round(self.mrr, 4),
            "not_in_index": len(self.not_in_index),
            "skipped": len(self.skipped),
            "groups": {
                name: {key: round(value, 4) for key, value in scores.items()}
                for name, scores in self.groups.items()
            },
        }


def exact_item_recall(
    target_rows: Sequence[int], rankings: Sequence[Sequence[int]], ks: Sequence[int]
) -> tuple[dict[int, float], float]:
    """Recall@k (the target row among the first k) for each k, and MRR over max(ks) results."""
    if not rankings:
        return {k: 0.0 for k in ks}, 0.0
    ranks = []
    for target, ranked in zip(target_rows, rankings, strict=True):
        position = list(ranked[: max(ks)]).index(target) + 1 if target in ranked[: max(ks)] else 0
        ranks.append(position)
    found = np.array(ranks)
    recall = {k: float(np.mean((found > 0) & (found <= k))) for k in ks}
    mrr = float(np.mean(np.where(found > 0, 1.0 / np.maximum(found, 1), 0.0)))
    return recall, mrr


def evaluate_photos(
    index: EmbeddingIndex,
    photos: QuerySet,
    *,
    ks: Sequence[int] = (1, 5),
    group_field: str = PHOTO_GROUP_FIELD,
    scoring: Scoring = DEFAULT_SCORING,
) -> PhotoReport:
    """Exact-item Recall@k of embedded photos whose catalogue ids name items of ``index``,
    ranked with ``scoring``'s photo weights (catalogue-style queries use its product weights).

    Photos of items the index lacks cannot be found and are left out (and counted): the index
    must contain every photo's item for the figure to mean anything. Nothing is excluded from
    the ranking: the item's own catalogue image is exactly what a photo should find.
    """
    if photos.fingerprint != index.model["fingerprint"]:
        raise FashionDesktopError(
            "The photos were embedded with another model than the index was built with."
        )
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise FashionDesktopError("Recall needs k of at least 1.")
    ids = photos.item_ids or [meta.get("id", "") for meta in photos.metadata]
    targets: list[int] = []
    kept: list[int] = []
    missing: list[str] = []
    for position, item_id in enumerate(ids):
        row = index.row_of(item_id) if item_id else None
        if row is None:
            missing.append(item_id)
        else:
            targets.append(row)
            kept.append(position)
    if not kept:
        raise FashionDesktopError(
            f"None of the {len(ids):,} photos shows an item of the index: each photo's id must be "
            "the id of the indexed item it shows."
        )
    rankings, described = rank_queries(
        index, photos, max(ks), scoring, rows=kept, exclude_own=False
    )
    report = PhotoReport(ks, len(kept), len(index), not_in_index=missing, skipped=photos.skipped)
    report.scoring = described
    report.recall, report.mrr = exact_item_recall(targets, rankings, ks)
    groups: dict[str, list[int]] = {}
    for n, position in enumerate(kept):
        value = photos.metadata[position].get(group_field, "")
        if value:
            groups.setdefault(value, []).append(n)
    for name, members in sorted(groups.items()):
        recall, _ = exact_item_recall(
            [targets[n] for n in members], [rankings[n] for n in members], ks
        )
        report.groups[name] = {"queries": float(len(members))} | {
            f"R@{k}": value for k, value in recall.items()
        }
    return report


# ------------------------------------------------------------------------- before/after
METRICS = (("precision", "P"), ("recall", "R"), ("map", "mAP"))


def reembed_index(
    index: EmbeddingIndex,
    embedder: Embedder,
    out: Path,
    progress: Callable[[BuildProgress], None] | None = None,
) -> EmbeddingIndex:
    """The same catalogue items as ``index``, embedded with another model into ``out``.

    The vector size follows the original (same PCA dimension when it was projected), so a
    before/after comparison differs only in the model.
    """
    from fashion_desktop.core.builder import build_index

    items = [
        CatalogueItem(item.item_id, item.image_path, item.metadata)
        for item in index.items(range(len(index)))
    ]
    catalogue = Catalogue(index.catalogue_root, index.path, "index", index.fields, items)
    dim = index.projection.dim if index.projection is not None else "full"
    build_index(catalogue, out, embedder, dim=dim, progress=progress)
    return EmbeddingIndex.open(out)


@dataclass
class ModelComparison:
    """The same queries and catalogue scored with the old model (before) and the new (after)."""

    before: EvaluationReport
    after: EvaluationReport
    before_model: Mapping[str, str]
    after_model: Mapping[str, str]

    def to_json(self) -> dict:
        delta = {}
        for name, old in self.before.fields.items():
            new = self.after.fields.get(name)
            if new is not None:
                delta[name] = {
                    key: round(getattr(new, key) - getattr(old, key), 4)
                    for key in ("precision", "recall", "map", "hit_rate")
                }
        return {
            "before": {"model": dict(self.before_model), **self.before.to_json()},
            "after": {"model": dict(self.after_model), **self.after.to_json()},
            "delta": delta,
        }

    def table(self) -> str:
        """A side-by-side text table: per field, each metric before, after and the change."""
        k = self.before.k
        head = f"{'field':<16}" + "".join(
            f"{f'{short}@{k} before':>14}{'after':>8}{'Δ':>8}" for _, short in METRICS
        )
        old, new = self.before_model, self.after_model
        lines = [
            f"before: {old.get('source', '?')} ({old.get('fingerprint', '')[:12]})   "
            f"after: {new.get('source', '?')} ({new.get('fingerprint', '')[:12]})",
            f"{self.before.mode}: {self.before.queries:,} queries against "
            f"{self.before.index_items:,} items (after: {self.after.index_items:,}), k = {k}",
            head,
        ]
        for name, before in self.before.fields.items():
            after = self.after.fields.get(name, FieldScores(name))
            row = f"{name:<16}"
            for key, _ in METRICS:
                a, b = getattr(before, key), getattr(after, key)
                row += f"{a:>14.3f}{b:>8.3f}{b - a:>+8.3f}"
            lines.append(row)
        return "\n".join(lines)


def compare_models(
    index: EmbeddingIndex,
    before_queries: QuerySet | None,
    after_index: EmbeddingIndex,
    after_queries: QuerySet | None,
    *,
    k: int = 5,
    fields: Sequence[str] = DEFAULT_FIELDS,
    scoring: Scoring = DEFAULT_SCORING,
) -> ModelComparison:
    """Score the old index/queries and the re-embedded ones with the same k, fields, ranking."""
    before = evaluate(index, before_queries, k=k, fields=fields, scoring=scoring)
    after = evaluate(after_index, after_queries, k=k, fields=fields, scoring=scoring)
    return ModelComparison(before, after, index.model, after_index.model)
