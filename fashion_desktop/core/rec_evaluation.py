"""How well recommendations predict what clients bought next: ``evaluate --history``.

Each client's purchases are sorted by date and the last :data:`DEFAULT_HOLDOUT` share of them
(at least one) is held out; the recommender sees the rest, every other client's purchases up to
the day before the client's first held-out one (so co-purchase and popularity never peek at the
future), and ranks the WHOLE catalogue (no sampled negatives: they flatter, Krichene & Rendle
2020). Items bought again are not targets: the recommender never shows what a client owns.

Metrics per client, averaged (95% bootstrap intervals over clients): Recall@10, NDCG@10,
MAP@12 (the H&M competition's definition), plus catalogue coverage (share of items in any
list) and intra-list diversity (mean pairwise cosine distance of a list's vectors). Every run
reports the hybrid beside each component alone and three baselines: popularity, random, and the
nearest neighbours of the last purchase. All methods obey the same hard rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.recommend import (
    METHODS,
    Blend,
    BookArrays,
    CatalogueArrays,
    allowed_mask,
    catalogue_arrays,
    day_number,
    history_of_rows,
    rank_blends,
    season_lift,
    top_rows,
)

if TYPE_CHECKING:
    from fashion_desktop.core.index import EmbeddingIndex

DEFAULT_HOLDOUT = 0.2
DEFAULT_K = 10
MAP_K = 12
BASELINES = ("popularity", "random", "last-purchase")
ALL_METHODS = (*METHODS, *BASELINES)
BOOTSTRAP_SAMPLES = 1000
METRICS = ("recall", "ndcg", "map")


class EvaluationError(FashionDesktopError):
    """A history that cannot be evaluated (too few clients with enough purchases)."""


@dataclass(frozen=True)
class ClientSplit:
    name: str
    train: tuple[tuple[int, int, float, str], ...]  # (row, day, weight, "purchase")
    targets: frozenset[int]
    cut_day: int


@dataclass
class MethodScores:
    """Per-client metric values of one method (same client order for every method)."""

    recall: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    map: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    recommended: set[int] = field(default_factory=set)

    def mean(self, metric: str) -> float:
        values = getattr(self, metric)
        return float(np.mean(values)) if values else 0.0


@dataclass
class HistoryEvaluation:
    methods: dict[str, MethodScores]
    clients: int
    skipped_clients: int
    targets: int
    catalogue_items: int
    k: int
    holdout: float

    def summary(self, *, seed: int = 0) -> dict[str, dict[str, Any]]:
        """Per method: mean and 95% bootstrap interval of each metric, coverage, diversity."""
        table: dict[str, dict[str, Any]] = {}
        for name, scores in self.methods.items():
            row: dict[str, Any] = {}
            for metric in METRICS:
                values = np.asarray(getattr(scores, metric))
                low, high = bootstrap_interval(values, seed=seed)
                row[metric] = {"mean": float(values.mean()), "low": low, "high": high}
            row["coverage"] = len(scores.recommended) / max(self.catalogue_items, 1)
            row["diversity"] = scores.mean("diversity")
            table[name] = row
        return table

    def to_json(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "skipped_clients": self.skipped_clients,
            "held_out_purchases": self.targets,
            "catalogue_items": self.catalogue_items,
            "k": self.k,
            "map_k": MAP_K,
            "holdout": self.holdout,
            "methods": self.summary(),
        }


def bootstrap_interval(
    values: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling clients)."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def split_by_time(
    arrays: CatalogueArrays,
    purchases: Iterable[tuple[str, str, str, int]],
    holdout: float = DEFAULT_HOLDOUT,
) -> tuple[list[ClientSplit], list[tuple[str, str, str, int]], int]:
    """Per client: training events and held-out targets; the book's training purchases; the
    number of clients skipped (fewer than two purchases, or nothing new held out)."""
    if not 0.0 < holdout < 1.0:
        raise EvaluationError("The held-out share must lie strictly between 0 and 1.")
    grouped: dict[str, list[tuple[int, str, int, str, int]]] = {}
    names: dict[str, str] = {}
    for client, item_id, day, quantity in purchases:
        row = arrays.row_of.get(item_id)
        if row is None:
            continue
        key = names.setdefault(client.casefold(), client)
        grouped.setdefault(key, []).append((day_number(day), day, row, item_id, quantity))
    splits: list[ClientSplit] = []
    training: list[tuple[str, str, str, int]] = []
    skipped = 0
    for client, events in grouped.items():
        events.sort(key=lambda e: e[0])
        held = max(1, round(len(events) * holdout))
        if len(events) < 2:
            skipped += 1
            training += [(client, e[3], e[1], e[4]) for e in events]
            continue
        train, test = events[:-held], events[-held:]
        training += [(client, e[3], e[1], e[4]) for e in train]
        owned = {e[2] for e in train}
        targets = frozenset(e[2] for e in test) - owned
        if not targets:
            skipped += 1
            continue
        splits.append(
            ClientSplit(
                client,
                tuple((e[2], e[0], 1.0 + math.log(max(e[4], 1)), "purchase") for e in train),
                targets,
                test[0][0],
            )
        )
    return splits, training, skipped


def evaluate_history(
    index: EmbeddingIndex | CatalogueArrays,
    purchases: Iterable[tuple[str, str, str, int]],
    *,
    k: int = DEFAULT_K,
    holdout: float = DEFAULT_HOLDOUT,
    methods: Sequence[str] = ALL_METHODS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    diverse: bool = True,
    blends: Mapping[str, Blend] | None = None,
) -> HistoryEvaluation:
    """Hold out each client's last purchases and score every method on them (module doc).

    ``blends`` may override a method's weights (tuning; named methods beyond the standard
    ones are scored too).
    """
    blends = dict(blends or {})
    methods = [*methods, *(name for name in blends if name not in methods)]
    unknown = [m for m in methods if m not in ALL_METHODS and m not in blends]
    if unknown:
        raise EvaluationError(
            f"Unknown method {', '.join(unknown)}; choose from {', '.join(ALL_METHODS)}."
        )
    arrays = index if isinstance(index, CatalogueArrays) else catalogue_arrays(index)
    splits, training, skipped = split_by_time(arrays, purchases, holdout)
    if not splits:
        raise EvaluationError(
            "No client has enough purchases to hold some out (each needs at least two, the "
            "last ones new items)."
        )
    book = BookArrays.build(arrays, training)
    rng = np.random.default_rng(seed)
    depth = max(k, MAP_K)
    results = {name: MethodScores() for name in methods}
    seasons: dict[int, np.ndarray] = {}
    popularity: dict[int, np.ndarray] = {}
    for done, split in enumerate(splits, start=1):
        history = history_of_rows(split.name, split.train)
        before = split.cut_day - 1
        if before not in popularity:
            popularity[before] = book.popularity(before)
            seasons[before] = season_lift(arrays, book, before)
        pop = popularity[before]
        allowed = allowed_mask(arrays, history)
        ranked = rank_blends(
            arrays,
            book,
            history,
            depth,
            {
                name: blends.get(name) or Blend.for_method(name)
                for name in methods
                if name in METHODS or name in blends
            },
            reference=before,
            before=before,
            popularity=pop,
            season=seasons[before],
            diverse=diverse,
        )
        for name in methods:
            if name in ranked:
                rows = ranked[name]
            elif name == "popularity":
                rows = top_rows(
                    np.where(allowed, pop + 1e-9 * rng.random(len(pop)), -np.inf), depth
                )
            elif name == "random":
                rows = top_rows(np.where(allowed, rng.random(len(arrays)), -np.inf), depth)
            else:
                last = history.last_purchase
                similarity = (
                    arrays.vectors @ arrays.vectors[last]
                    if last is not None
                    else np.zeros(len(arrays))
                )
                rows = top_rows(np.where(allowed, similarity, -np.inf), depth)
            _score(results[name], rows, split.targets, k, arrays)
        if progress is not None:
            progress(done, len(splits))
    return HistoryEvaluation(
        results,
        clients=len(splits),
        skipped_clients=skipped,
        targets=sum(len(s.targets) for s in splits),
        catalogue_items=int(arrays.recommendable.sum()),
        k=k,
        holdout=holdout,
    )


def ranking_metrics(
    rows: Sequence[int], targets: frozenset[int] | set[int], k: int = DEFAULT_K
) -> tuple[float, float, float]:
    """Recall@k, NDCG@k (binary gains) and AP@12 (H&M: divided by min(|targets|, 12))."""
    hits = np.array([row in targets for row in rows], bool)
    top = hits[:k]
    recall = float(top.sum()) / len(targets)
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg = float((gains[: len(top)] * top).sum() / gains[: min(len(targets), k)].sum())
    ranked = hits[:MAP_K]
    precision = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    average_precision = float((precision * ranked).sum() / min(len(targets), MAP_K))
    return recall, ndcg, average_precision


def intra_list_diversity(arrays: CatalogueArrays, rows: Sequence[int]) -> float:
    """Mean pairwise cosine distance (1 - cosine) of a list's stored vectors."""
    if len(rows) < 2:
        return 0.0
    vectors = arrays.vectors[list(rows)]
    similarity = vectors @ vectors.T
    pairs = len(rows) * (len(rows) - 1)
    return float((pairs - (similarity.sum() - np.trace(similarity))) / pairs)


def _score(
    scores: MethodScores,
    rows: Sequence[int],
    targets: frozenset[int],
    k: int,
    arrays: CatalogueArrays,
) -> None:
    recall, ndcg, average_precision = ranking_metrics(rows, targets, k)
    scores.recall.append(recall)
    scores.ndcg.append(ndcg)
    scores.map.append(average_precision)
    listed = list(rows[:k])
    scores.recommended.update(listed)
    if len(listed) > 1:
        scores.diversity.append(intra_list_diversity(arrays, listed))


def purchases_of_rows(rows: Iterable[Any]) -> list[tuple[str, str, str, int]]:
    """``HistoryRow``-like objects (client, item_id, date, quantity) → purchase tuples."""
    return [(r.client, r.item_id, r.date, r.quantity) for r in rows]


def format_table(evaluation: HistoryEvaluation) -> str:
    """A plain-text table: one row per method, mean [95% interval] per metric."""
    summary = evaluation.summary()
    lines = [
        f"{evaluation.clients:,} clients ({evaluation.skipped_clients:,} skipped), "
        f"{evaluation.targets:,} held-out purchases (last {evaluation.holdout:.0%} by date), "
        f"whole catalogue of {evaluation.catalogue_items:,} items ranked",
        f"{'method':<15}{'Recall@' + str(evaluation.k):>24}{'NDCG@' + str(evaluation.k):>24}"
        f"{'MAP@' + str(MAP_K):>24}{'coverage':>10}{'diversity':>11}",
    ]
    for name, row in summary.items():
        cells = "".join(
            f"{row[m]['mean']:>8.4f} [{row[m]['low']:.4f}, {row[m]['high']:.4f}]" for m in METRICS
        )
        lines.append(f"{name:<15}{cells}{row['coverage']:>10.3f}{row['diversity']:>11.3f}")
    return "\n".join(lines)
