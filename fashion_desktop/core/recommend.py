"""Recommendations for a client: content-based, collaborative and hybrid, with reasons.

No model runs here: everything comes from an index's stored vectors and metadata and from the
client book. Per index, :func:`catalogue_arrays` caches the metadata as integer codes (one NumPy
array per field), so a recommendation over 40,000 items is a handful of vector operations.

* **Content-based** (the client's own items: purchases, likes, shortlist; recency-weighted with
  a half-life of :data:`RECENCY_HALF_LIFE_DAYS`):
  - *interests*: the client's item vectors are clustered (weighted spherical k-means, at most
    :data:`MAX_INTERESTS` centroids), and an item scores by its best interest, so a client who
    buys kurtas and running shoes is matched on both instead of on their average;
  - *attribute affinity*: a smoothed naive-Bayes lift of the item's article type (backed off to
    its sub- and master category), colour, usage and gender among the client's items, with the
    profile's preferred colours, article types and usages counted as extra evidence.
* **Collaborative** ("clients who bought this also bought"): item-to-item co-occurrence over
  the whole book, cosine-normalised, summed over the client's items (NumPy, no library: see
  BENCHMARKS.md). Purchases after ``before`` are ignored, for leak-free evaluation.
* **Hybrid**: a weighted sum of the above plus the book's recency-weighted popularity and the
  season lift of the reference month (:class:`Blend`).
* **Hard rules** (:func:`allowed_mask`): never an item the client bought or disliked, nor one she
  already liked or shortlisted; never an avoided colour, article type or usage; only the
  client's gender or Unisex; no free gifts. The same product in another colour stays eligible
  (buying a favourite again in another colour is common; the simulated book rewards it too).
* **Diversity** (:func:`select_diverse`): one item per near-duplicate family (same article type
  and gender, same name once colour words are removed: the same shirt in five colours), none
  within cosine :data:`NEAR_DUPLICATE_COSINE` of an item already listed, and at most
  :data:`MAX_SHARE_PER_TYPE` of a list from one article type.

Each result says why, in words (:class:`Recommendation`).
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.clients import ClientBook, ClientProfile, pronoun
from fashion_desktop.core.errors import FashionDesktopError

if TYPE_CHECKING:
    from fashion_desktop.core.index import EmbeddingIndex

#: Metadata fields held as codes (the catalogue's column names); "" is code 0 in each.
CODED_FIELDS = (
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "usage",
    "season",
)
RECENCY_HALF_LIFE_DAYS = 180.0
POPULARITY_HALF_LIFE_DAYS = 90.0
MAX_INTERESTS = 6
#: Dimensions of the similarity pass (:func:`compact_vectors`).
COMPACT_DIM = 64
NEAR_DUPLICATE_COSINE = 0.95
MAX_SHARE_PER_TYPE = 0.7
#: Candidates (best first) the diversity pass looks through per requested item.
CANDIDATES_PER_ITEM = 40
NOT_RECOMMENDED_CATEGORIES = ("Free Items",)
#: How much a like, a shortlisted item and a stated preference count against one purchase.
LIKE_WEIGHT = 1.0
SHORTLIST_WEIGHT = 0.5
PREFERENCE_WEIGHT = 2.0
#: Pseudo-counts pulling a client's attribute shares towards the catalogue's.
ATTRIBUTE_SMOOTHING = 2.0
METHODS = ("hybrid", "content", "collaborative")
NEUTRAL_GENDER = "Unisex"


class RecommendationError(FashionDesktopError):
    """A recommendation that cannot be made (unknown method, empty index...)."""


# ------------------------------------------------------------------- per-index arrays
@dataclass(frozen=True)
class CatalogueArrays:
    """An index's metadata as NumPy codes and its vectors, built once per index."""

    ids: list[str]
    row_of: dict[str, int]
    names: list[str]
    images: list[str]
    vectors: np.ndarray  # (n, d) float32, L2-normalised (the index's memory map)
    compact: np.ndarray  # (n, COMPACT_DIM) float32, L2-normalised: the fast similarity pass
    codes: dict[str, np.ndarray]  # field → (n,) int32 codes into vocab[field]
    vocab: dict[str, list[str]]  # field → values; vocab[field][0] == ""
    families: np.ndarray  # (n,) int32 near-duplicate family
    recommendable: np.ndarray  # (n,) bool: not a free gift
    shares: dict[str, np.ndarray]  # field → (vocab,) share of the catalogue's items per value
    parents: dict[
        str, tuple[np.ndarray, np.ndarray]
    ]  # child field → (parent code, P(child|parent))

    def __len__(self) -> int:
        return len(self.ids)

    def code(self, field_name: str, value: str) -> int:
        """The code of ``value`` (case-insensitive); -1 when no item has it."""
        folded = value.casefold()
        for position, known in enumerate(self.vocab[field_name]):
            if known.casefold() == folded:
                return position
        return -1

    def value(self, field_name: str, row: int) -> str:
        return self.vocab[field_name][int(self.codes[field_name][row])]

    def mask_of(self, field_name: str, values: Iterable[str]) -> np.ndarray:
        """Rows whose ``field_name`` is one of ``values`` (case-insensitive)."""
        wanted = [c for v in values if (c := self.code(field_name, v)) >= 0]
        lookup = np.zeros(len(self.vocab[field_name]), bool)
        lookup[wanted] = True
        return lookup[self.codes[field_name]]

    @classmethod
    def build(cls, index: EmbeddingIndex) -> CatalogueArrays:
        items = index.items(range(len(index)))
        ids = [item.item_id for item in items]
        codes: dict[str, np.ndarray] = {}
        vocab: dict[str, list[str]] = {}
        for name in CODED_FIELDS:
            values: dict[str, int] = {"": 0}
            column = np.empty(len(items), np.int32)
            for row, item in enumerate(items):
                text = item.metadata.get(name, "").strip()
                if text.upper() == "NA":
                    text = ""
                column[row] = values.setdefault(text, len(values))
            codes[name] = column
            vocab[name] = list(values)
        names = [display_name(item.item_id, item.metadata) for item in items]
        colour_words = {
            word for colour in vocab["baseColour"] for word in colour.casefold().split()
        }
        family_of: dict[tuple, int] = {}
        families = np.empty(len(items), np.int32)
        for row, title in enumerate(names):
            words = tuple(w for w in re.findall(r"\w+", title.casefold()) if w not in colour_words)
            key = (codes["articleType"][row], codes["gender"][row], words)
            families[row] = family_of.setdefault(key, len(family_of))
        master = vocab["masterCategory"]
        blocked = [master.index(c) for c in NOT_RECOMMENDED_CATEGORIES if c in master]
        recommendable = ~np.isin(codes["masterCategory"], blocked)
        shares = {}
        for name, column in codes.items():
            counts = np.bincount(column, minlength=len(vocab[name])).astype(np.float64)
            shares[name] = counts / max(counts.sum(), 1.0)
        parents = {
            "subCategory": _within_parent(codes, vocab, "subCategory", "masterCategory"),
            "articleType": _within_parent(codes, vocab, "articleType", "subCategory"),
        }
        return cls(
            ids=ids,
            row_of={item_id: row for row, item_id in enumerate(ids)},
            names=names,
            images=[str(item.image_path) for item in items],
            vectors=np.asarray(index.vectors),
            compact=compact_vectors(np.asarray(index.vectors), index.projection is not None),
            codes=codes,
            vocab=vocab,
            families=families,
            recommendable=recommendable,
            shares=shares,
            parents=parents,
        )


def _within_parent(
    codes: Mapping[str, np.ndarray], vocab: Mapping[str, list[str]], child: str, parent: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per value of ``child``: its (most common) parent value and P(child value | parent)."""
    width = len(vocab[parent])
    pairs = codes[child].astype(np.int64) * width + codes[parent]
    joint = np.bincount(pairs, minlength=len(vocab[child]) * width).reshape(-1, width)
    parent_of = joint.argmax(axis=1)
    within = joint[np.arange(len(joint)), parent_of] / np.maximum(joint.sum(axis=0)[parent_of], 1)
    return parent_of, within


def compact_vectors(vectors: np.ndarray, principal_order: bool) -> np.ndarray:
    """(n, COMPACT_DIM) unit vectors for the interest and style similarities.

    A pass over 40,000 × 256 float32 vectors reads 41 MB and is memory-bound (~10 ms here);
    the first :data:`COMPACT_DIM` principal components read a quarter of that. An index stored
    as a PCA projection is already in principal order; otherwise a PCA is fitted on (a sample
    of) the vectors once.
    """
    count, width = vectors.shape
    if width <= COMPACT_DIM:
        return np.ascontiguousarray(vectors, np.float32)
    if principal_order:
        head = np.ascontiguousarray(vectors[:, :COMPACT_DIM], np.float32)
    else:
        sample = vectors[:: max(1, count // 4096)].astype(np.float64)
        mean = sample.mean(axis=0)
        _, _, components = np.linalg.svd(sample - mean, full_matrices=False)
        basis = components[:COMPACT_DIM].T.astype(np.float32)
        head = np.empty((count, COMPACT_DIM), np.float32)
        for start in range(0, count, 8192):
            head[start : start + 8192] = vectors[start : start + 8192] @ basis
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    return head / np.maximum(norms, 1e-12)


_ARRAYS: weakref.WeakKeyDictionary[Any, CatalogueArrays] = weakref.WeakKeyDictionary()
_ARRAYS_LOCK = threading.Lock()


def catalogue_arrays(index: EmbeddingIndex) -> CatalogueArrays:
    """The cached :class:`CatalogueArrays` of an open index (built on first use)."""
    with _ARRAYS_LOCK:
        arrays = _ARRAYS.get(index)
        if arrays is None:
            arrays = _ARRAYS[index] = CatalogueArrays.build(index)
        return arrays


# ---------------------------------------------------------------------- the book's arrays
def day_number(text: str) -> int:
    """An ISO date (or date-time) → its proleptic ordinal (days)."""
    return date.fromisoformat(text[:10]).toordinal()


@dataclass(frozen=True)
class BookArrays:
    """Who bought what and when, over one index's rows: the collaborative and popularity signal.

    ``pair_*`` hold one entry per distinct (client, item) with its first purchase day, sorted by
    item (``item_start`` indexes them, CSR-style); ``by_client`` orders the same entries by client.
    """

    clients: list[str]
    client_of: dict[str, int]  # casefolded name → client number
    pair_client: np.ndarray
    pair_row: np.ndarray
    pair_day: np.ndarray
    item_start: np.ndarray  # (n + 1,)
    by_client: np.ndarray  # permutation of the pairs sorted by client
    client_start: np.ndarray  # (clients + 1,)
    buyers: np.ndarray  # (n,) distinct buyers per item
    unknown_items: int  # purchases of items the index does not have (ignored)
    pair_month: np.ndarray  # (pairs,) month (1-12) of each first purchase

    @classmethod
    def build(
        cls, arrays: CatalogueArrays, purchases: Iterable[tuple[str, str, str, int]]
    ) -> BookArrays:
        """From ``(client, item_id, date, quantity)`` tuples (e.g. ``ClientBook.all_purchases``)."""
        clients: list[str] = []
        client_of: dict[str, int] = {}
        first: dict[tuple[int, int], int] = {}
        unknown = 0
        for client, item_id, day, _quantity in purchases:
            row = arrays.row_of.get(item_id)
            if row is None:
                unknown += 1
                continue
            key = client.casefold()
            number = client_of.get(key)
            if number is None:
                number = client_of[key] = len(clients)
                clients.append(client)
            ordinal = day_number(day)
            pair = (number, row)
            if pair not in first or ordinal < first[pair]:
                first[pair] = ordinal
        count = len(arrays)
        pairs = np.array(list(first), np.int64).reshape(-1, 2)
        days = np.fromiter(first.values(), np.int64, len(first))
        order = np.lexsort((pairs[:, 0], pairs[:, 1]))
        pair_client = pairs[order, 0].astype(np.int32)
        pair_row = pairs[order, 1].astype(np.int32)
        pair_day = days[order].astype(np.int32)
        buyers = np.bincount(pair_row, minlength=count).astype(np.int32)
        item_start = np.concatenate([[0], np.cumsum(buyers)]).astype(np.int64)
        by_client = np.argsort(pair_client, kind="stable").astype(np.int64)
        per_client = np.bincount(pair_client, minlength=len(clients))
        client_start = np.concatenate([[0], np.cumsum(per_client)]).astype(np.int64)
        days_seen, inverse = np.unique(pair_day, return_inverse=True)
        months = np.array([date.fromordinal(int(d)).month for d in days_seen], np.int32)
        return cls(
            clients,
            client_of,
            pair_client,
            pair_row,
            pair_day,
            item_start,
            by_client,
            client_start,
            buyers,
            unknown,
            months[inverse].reshape(-1) if len(days_seen) else np.empty(0, np.int32),
        )

    @classmethod
    def empty(cls, arrays: CatalogueArrays) -> BookArrays:
        return cls.build(arrays, ())

    def popularity(self, reference: int | None = None) -> np.ndarray:
        """(n,) recency-weighted distinct buyers per item (``reference``: a day number; only
        purchases up to that day count, weighted by a half-life of
        :data:`POPULARITY_HALF_LIFE_DAYS` before it)."""
        count = len(self.buyers)
        if reference is None:
            reference = int(self.pair_day.max()) if len(self.pair_day) else 0
        age = reference - self.pair_day
        keep = age >= 0
        weights = np.exp2(-age[keep] / POPULARITY_HALF_LIFE_DAYS)
        return np.bincount(self.pair_row[keep], weights=weights, minlength=count)

    def co_purchase(
        self,
        rows: np.ndarray,
        weights: np.ndarray,
        *,
        exclude_client: int | None = None,
        before: int | None = None,
    ) -> np.ndarray:
        """(n,) Σ_i w_i · C(i, x) / √(n_i n_x): item-item cosine co-occurrence with the
        client's items ``rows``; ``exclude_client`` (the client) and purchases after ``before``
        are left out."""
        count = len(self.buyers)
        scores = np.zeros(count, np.float64)
        if not len(self.pair_row) or not len(rows):
            return scores
        valid = None if before is None else self.pair_day <= before
        buyers = (
            self.buyers.astype(np.float64)
            if valid is None
            else np.bincount(self.pair_row[valid], minlength=count).astype(np.float64)
        )
        positions = _ranges(self.item_start[rows], self.item_start[rows + 1])
        owners = np.repeat(np.arange(len(rows)), self.item_start[rows + 1] - self.item_start[rows])
        keep = np.ones(len(positions), bool)
        if valid is not None:
            keep &= valid[positions]
        clients = self.pair_client[positions]
        if exclude_client is not None:
            keep &= clients != exclude_client
        if not keep.any():
            return scores
        contribution = weights[owners[keep]] / np.sqrt(np.maximum(buyers[rows[owners[keep]]], 1))
        per_client = np.bincount(clients[keep], weights=contribution, minlength=len(self.clients))
        active = np.flatnonzero(per_client)
        entries = self.by_client[_ranges(self.client_start[active], self.client_start[active + 1])]
        if valid is not None:
            entries = entries[valid[entries]]
        scores += np.bincount(
            self.pair_row[entries],
            weights=per_client[self.pair_client[entries]],
            minlength=count,
        )
        return scores / np.sqrt(np.maximum(buyers, 1))

    def together_counts(self, row: int, rows: np.ndarray) -> np.ndarray:
        """For each of ``rows``: how many clients bought it and ``row`` (vectorised)."""
        buyers = self.pair_client[self.item_start[row] : self.item_start[row + 1]]
        counts = np.zeros(len(rows), np.int64)
        if not len(buyers) or not len(rows):
            return counts
        entries = self.by_client[_ranges(self.client_start[buyers], self.client_start[buyers + 1])]
        position = {int(r): i for i, r in enumerate(rows)}
        hits = [position[r] for r in self.pair_row[entries].tolist() if r in position]
        return np.bincount(np.asarray(hits, np.int64), minlength=len(rows)) if hits else counts

    def bought_together(self, row_a: int, row_b: int) -> int:
        """How many clients bought both items."""
        a = self.pair_client[self.item_start[row_a] : self.item_start[row_a + 1]]
        b = self.pair_client[self.item_start[row_b] : self.item_start[row_b + 1]]
        return len(np.intersect1d(a, b, assume_unique=True))


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, stop)`` for each pair, without a Python loop."""
    lengths = (stops - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(total, dtype=np.int64)


# ------------------------------------------------------------------------ a client's view
@dataclass(frozen=True)
class ClientHistory:
    """What the recommender knows about one client, as index rows.

    ``events``: ``(row, day number, weight, kind)`` with kind ``purchase``, ``like`` or
    ``shortlist``. Never recommended: ``owned`` and ``disliked`` rows, and the liked or
    shortlisted rows themselves (:attr:`chosen`).
    """

    name: str
    profile: ClientProfile = field(default_factory=ClientProfile)
    events: tuple[tuple[int, int, float, str], ...] = ()
    owned: frozenset[int] = frozenset()
    disliked: frozenset[int] = frozenset()
    labels: Mapping[int, tuple[str, str]] = field(default_factory=dict)  # row → (name, date)

    @property
    def chosen(self) -> frozenset[int]:
        """Rows she liked or shortlisted."""
        return frozenset(row for row, _, _, kind in self.events if kind != "purchase")

    @property
    def last_purchase(self) -> int | None:
        bought = [event for event in self.events if event[3] == "purchase"]
        return max(bought, key=lambda e: (e[1], e[2]))[0] if bought else None

    @classmethod
    def from_book(cls, book: ClientBook, client: str, arrays: CatalogueArrays) -> ClientHistory:
        activity = book.activity(client)
        events: list[tuple[int, int, float, str]] = []
        labels: dict[int, tuple[str, str]] = {}
        owned: set[int] = set()
        for item_id, day, quantity, title in activity.purchases:
            row = arrays.row_of.get(item_id)
            if row is None:
                continue
            events.append((row, day_number(day), _quantity_weight(quantity), "purchase"))
            owned.add(row)
            labels[row] = (title or arrays.names[row], day[:10])
        disliked: set[int] = set()
        for item_id, opinion, added, title in activity.opinions:
            row = arrays.row_of.get(item_id)
            if row is None:
                continue
            if opinion == "dislike":
                disliked.add(row)
            else:
                events.append((row, day_number(added), LIKE_WEIGHT, "like"))
                labels.setdefault(row, (title or arrays.names[row], added[:10]))
        for item_id, added, title in activity.shortlist:
            row = arrays.row_of.get(item_id)
            if row is not None and row not in owned:
                events.append((row, day_number(added), SHORTLIST_WEIGHT, "shortlist"))
                labels.setdefault(row, (title or arrays.names[row], added[:10]))
        return cls(
            activity.name,
            activity.profile,
            tuple(events),
            frozenset(owned),
            frozenset(disliked),
            labels,
        )


def _quantity_weight(quantity: int) -> float:
    return 1.0 + math.log(max(quantity, 1))


# ------------------------------------------------------------------------------- rules
def allowed_mask(arrays: CatalogueArrays, history: ClientHistory) -> np.ndarray:
    """(n,) True where an item may be shown to the client at all (the hard rules)."""
    profile = history.profile
    mask = arrays.recommendable.copy()
    if profile.gender and profile.gender != NEUTRAL_GENDER:
        mask &= arrays.mask_of("gender", (profile.gender, NEUTRAL_GENDER))
    for name, avoided in (
        ("baseColour", profile.avoided_colours),
        ("articleType", profile.avoided_article_types),
        ("usage", profile.avoided_usages),
    ):
        if avoided:
            mask &= ~arrays.mask_of(name, avoided)
    excluded = sorted(history.owned | history.disliked | history.chosen)
    if excluded:  # what she has, rejected, liked or shortlisted is not "what to show her next"
        mask[excluded] = False
    return mask


# ----------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Blend:
    """Weights of the hybrid's terms: the best NDCG@10 of a 162-point grid on seed 0 of the
    simulated book over the shared catalogue (``bench_recommend.py --tune``; a seed never
    reported), where the top ten settings lie within 5% of each other."""

    interests: float = 1.0
    attributes: float = 0.25
    collaborative: float = 0.5
    popularity: float = 1.0
    season: float = 0.5

    @classmethod
    def for_method(cls, method: str) -> Blend:
        if method not in METHODS:
            raise RecommendationError(
                f"Unknown recommendation method {method!r}; choose one of {', '.join(METHODS)}."
            )
        if method == "content":
            return replace(DEFAULT_BLEND, collaborative=0.0, popularity=0.0, season=0.0)
        if method == "collaborative":
            return cls(interests=0.0, attributes=0.0, collaborative=1.0, popularity=0.0, season=0.0)
        return DEFAULT_BLEND


DEFAULT_BLEND = Blend()
#: Popularity always breaks ties (e.g. content alone for a client without history).
TIE_BREAK = 1e-4


@dataclass(frozen=True)
class Terms:
    """Each term of every item's score for one client (the reasons read them)."""

    interests: np.ndarray
    attributes: np.ndarray
    collaborative: np.ndarray
    popularity: np.ndarray
    season: np.ndarray
    interest_vectors: np.ndarray  # (k, d)
    attribute_lift: dict[str, np.ndarray]  # field → (vocab,) log lift
    event_rows: np.ndarray
    event_weights: np.ndarray

    def total(self, blend: Blend) -> np.ndarray:
        return (
            blend.interests * self.interests
            + blend.attributes * self.attributes
            + blend.collaborative * self.collaborative
            + blend.popularity * self.popularity
            + blend.season * self.season
            + TIE_BREAK * self.popularity
        )


def client_weights(history: ClientHistory, reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and recency weights of the client's events (a row's weights add up)."""
    if not history.events:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    rows = np.array([e[0] for e in history.events], np.int64)
    days = np.array([e[1] for e in history.events], np.float64)
    base = np.array([e[2] for e in history.events], np.float64)
    weights = base * np.exp2(-np.maximum(reference - days, 0.0) / RECENCY_HALF_LIFE_DAYS)
    unique, inverse = np.unique(rows, return_inverse=True)
    return unique, np.bincount(inverse, weights=weights)


def interest_centroids(
    vectors: np.ndarray, weights: np.ndarray, max_interests: int = MAX_INTERESTS
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted spherical k-means: (k, d) unit centroids and their weight shares.

    Deterministic: the heaviest item seeds the first interest, then the item least like any
    chosen one (farthest-point), then ten assignment rounds.
    """
    count = len(vectors)
    if count == 0:
        return np.empty((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32), np.empty(0)
    k = int(min(max_interests, count, math.ceil(math.sqrt(count))))
    chosen = [int(np.argmax(weights))]
    closest = vectors @ vectors[chosen[0]]
    for _ in range(1, k):
        nxt = int(np.argmin(closest))
        chosen.append(nxt)
        closest = np.maximum(closest, vectors @ vectors[nxt])
    centroids = vectors[chosen].astype(np.float32)
    labels = np.zeros(count, np.int64)
    membership = np.zeros((k, count), np.float32)
    for _ in range(10):
        labels = np.argmax(vectors @ centroids.T, axis=1)
        membership[:] = 0
        membership[labels, np.arange(count)] = weights
        sums = membership @ vectors
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0
        centroids[filled] = (sums[filled] / norms[filled]).astype(np.float32)
    shares = np.bincount(labels, weights=weights, minlength=k)
    shares = shares / max(shares.sum(), 1e-12)
    keep = shares > 0
    return centroids[keep], shares[keep]


#: Interest score: cosine to the best interest plus this times the log of its share.
INTEREST_SHARE_WEIGHT = 0.1
#: Fields of the attribute affinity, with their weights (article type backed off).
ATTRIBUTE_FIELDS = {"articleType": 1.0, "baseColour": 0.6, "usage": 0.5, "gender": 0.8}


def score_terms(
    arrays: CatalogueArrays,
    book: BookArrays,
    history: ClientHistory,
    *,
    reference: int,
    before: int | None = None,
    popularity: np.ndarray | None = None,
    season_lift: np.ndarray | None = None,
) -> Terms:
    """Every term of every item's score for one client at day ``reference``."""
    count = len(arrays)
    rows, weights = client_weights(history, reference)
    # interests
    if len(rows):
        centroids, shares = interest_centroids(arrays.compact[rows], weights)
        similarity = arrays.compact @ centroids.T
        interests = (similarity + INTEREST_SHARE_WEIGHT * np.log(shares)).max(axis=1)
    else:
        centroids = np.empty((0, arrays.compact.shape[1]), np.float32)
        interests = np.zeros(count, np.float32)
    # attributes
    attributes, lifts = _attribute_affinity(arrays, history.profile, rows, weights)
    # collaborative
    exclude = book.client_of.get(history.name.casefold())
    co = book.co_purchase(rows, weights, exclude_client=exclude, before=before)
    peak = co.max() if len(co) else 0.0
    collaborative = co / peak if peak > 0 else co
    # popularity
    pop = book.popularity(reference) if popularity is None else popularity
    top = pop.max() if len(pop) else 0.0
    popularity_term = np.log1p(pop) / math.log1p(top) if top > 0 else np.zeros(count)
    season = season_lift[arrays.codes["season"]] if season_lift is not None else np.zeros(count)
    return Terms(
        interests.astype(np.float64),
        attributes,
        collaborative,
        popularity_term,
        season,
        centroids,
        lifts,
        rows,
        weights,
    )


def _attribute_affinity(
    arrays: CatalogueArrays, profile: ClientProfile, rows: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Σ_field w_f · log(P(value | client) / P(value | catalogue)), smoothed; article types are
    backed off to their sub- and master category so a new type in a loved category scores."""
    count = len(arrays)
    total_weight = float(weights.sum())
    preferences = {
        "baseColour": profile.preferred_colours,
        "articleType": profile.preferred_article_types,
        "usage": profile.preferred_usages,
    }
    lifts: dict[str, np.ndarray] = {}
    score = np.zeros(count)
    if total_weight == 0 and not any(preferences.values()):
        return score, lifts

    def client_share(name: str, prior: np.ndarray) -> np.ndarray:
        codes = arrays.codes[name]
        size = len(arrays.vocab[name])
        counts = (
            np.bincount(codes[rows], weights=weights, minlength=size)
            if len(rows)
            else np.zeros(size)
        )
        extra = [c for v in preferences.get(name, ()) if (c := arrays.code(name, v)) > 0]
        if extra:
            counts[extra] += PREFERENCE_WEIGHT
        mass = counts.sum()
        return (counts + ATTRIBUTE_SMOOTHING * prior) / (mass + ATTRIBUTE_SMOOTHING)

    catalogue = arrays.shares
    master = client_share("masterCategory", catalogue["masterCategory"])
    sub_parent, sub_within = arrays.parents["subCategory"]
    sub = client_share("subCategory", master[sub_parent] * sub_within)
    type_parent, type_within = arrays.parents["articleType"]
    article = client_share("articleType", sub[type_parent] * type_within)
    lifts["articleType"] = _log_ratio(article, catalogue["articleType"])
    for name in ("baseColour", "usage", "gender"):
        lifts[name] = _log_ratio(client_share(name, catalogue[name]), catalogue[name])
    for name, weight in ATTRIBUTE_FIELDS.items():
        score += weight * lifts[name][arrays.codes[name]]
    return score, lifts


def _log_ratio(share: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """log(share / prior), 0 for values no item has (both shares 0)."""
    return np.log(np.maximum(share, 1e-12)) - np.log(np.maximum(prior, 1e-12))


def season_lift(arrays: CatalogueArrays, book: BookArrays, reference: int) -> np.ndarray:
    """(seasons,) log lift of each season among the book's purchases in the reference's month
    (± one month, any year, up to the reference) over all its purchases; 0 without data."""
    size = len(arrays.vocab["season"])
    if not len(book.pair_day):
        return np.zeros(size)
    month = date.fromordinal(reference).month
    pair_months = book.pair_month
    distance = np.minimum((pair_months - month) % 12, (month - pair_months) % 12)
    seasons = arrays.codes["season"][book.pair_row]
    past = book.pair_day <= reference
    overall = np.bincount(seasons[past], minlength=size) + 1.0
    near = np.bincount(seasons[past & (distance <= 1)], minlength=size) + 1.0
    return np.log((near / near.sum()) / (overall / overall.sum()))


# --------------------------------------------------------------------------- diversity
def select_diverse(
    arrays: CatalogueArrays,
    scores: np.ndarray,
    k: int,
    *,
    max_share_per_type: float = MAX_SHARE_PER_TYPE,
    near_duplicate: float = NEAR_DUPLICATE_COSINE,
) -> list[int]:
    """The ``k`` best rows with no two near-duplicates and no article type over its share.

    ``scores`` are -inf where an item is not allowed. Looks through the best
    ``k × CANDIDATES_PER_ITEM`` candidates; when the type cap leaves the list short (only one
    kind of thing fits), a second pass fills it without the cap. Near-duplicates never: the
    list is shorter instead.
    """
    finite = np.isfinite(scores)
    available = int(finite.sum())
    if k <= 0 or available == 0:
        return []
    pool = min(available, max(k * CANDIDATES_PER_ITEM, k))
    candidates = np.argpartition(-scores, pool - 1)[:pool]
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    cap = max(1, math.ceil(k * max_share_per_type))
    chosen: list[int] = []
    families: set[int] = set()
    per_type: dict[int, int] = {}
    vectors = np.empty((k, arrays.vectors.shape[1]), np.float32)
    # the second pass lifts the type cap: when only one kind of thing fits, fill with it
    for capped in (True, False):
        for row in candidates.tolist():
            family = int(arrays.families[row])
            article = int(arrays.codes["articleType"][row])
            if family in families or (capped and per_type.get(article, 0) >= cap):
                continue
            if (
                chosen
                and float((vectors[: len(chosen)] @ arrays.vectors[row]).max()) >= near_duplicate
            ):
                continue
            vectors[len(chosen)] = arrays.vectors[row]
            chosen.append(row)
            families.add(family)
            per_type[article] = per_type.get(article, 0) + 1
            if len(chosen) == k:
                return chosen
    return chosen


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Recommendation:
    rank: int
    item_id: str
    row: int
    score: float
    reasons: list[str]
    metadata: dict[str, str]
    image: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.item_id,
            "score": round(self.score, 4),
            "reasons": self.reasons,
            "metadata": self.metadata,
            "image": self.image,
        }


@dataclass(frozen=True)
class RecommendationList:
    client: str
    method: str
    results: list[Recommendation]
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "method": self.method,
            "results": [r.to_json() for r in self.results],
            "elapsed_ms": round(self.elapsed_ms, 2),
            "notes": self.notes,
        }


def format_day(text: str, today: date | None = None) -> str:
    """``2024-05-03`` → ``3 May`` (this year) or ``3 May 2023``."""
    day = date.fromisoformat(text[:10])
    year = "" if today is not None and day.year == today.year else f" {day.year}"
    return f"{day.day} {day:%B}{year}"


def explain(
    arrays: CatalogueArrays,
    book: BookArrays,
    history: ClientHistory,
    terms: Terms,
    blend: Blend,
    row: int,
    today: date,
    *,
    limit: int = 3,
) -> list[str]:
    """Up to ``limit`` reasons for one recommended row, the strongest term first."""
    who = pronoun(history.name, history.profile)
    whose = {"she": "her", "he": "his"}.get(who, f"{who}'s")
    candidates: list[tuple[float, str]] = []
    if len(terms.event_rows) and blend.interests:
        similarity = arrays.compact[terms.event_rows] @ arrays.compact[row]
        best = int(np.argmax(similarity * np.sqrt(terms.event_weights)))
        source = int(terms.event_rows[best])
        kind = next((e[3] for e in history.events if e[0] == source), "purchase")
        title, day = history.labels.get(source, (arrays.names[source], ""))
        title = short_title(title)
        when = f" on {format_day(day, today)}" if day else ""
        verb = {"purchase": f"{who} bought", "like": f"{who} liked"}.get(
            kind, f"on {whose} shortlist"
        )
        if kind == "shortlist":
            when = ""
        if arrays.families[source] == arrays.families[row]:  # the same product, another colour
            colour = arrays.value("baseColour", source)
            text = f"another colour of the {colour + ' ' if colour else ''}one {verb}{when}"
        else:
            text = f"like the {title} {verb}{when}"
        candidates.append((blend.interests * float(terms.interests[row]), text))
    if blend.attributes and terms.attribute_lift:
        profile = history.profile
        colour = arrays.value("baseColour", row)
        colours = list(profile.preferred_colours) or _top_values(arrays, terms, "baseColour", 3)
        if colour and colour.casefold() in {c.casefold() for c in colours}:
            ordered = [colour] + [c for c in colours if c.casefold() != colour.casefold()]
            candidates.append(
                (
                    blend.attributes * 0.6 * _lift(arrays, terms, "baseColour", row) + 0.05,
                    f"{whose} colours: {', '.join(ordered[:3])}",
                )
            )
        article = arrays.value("articleType", row)
        if article and article.casefold() in {
            a.casefold() for a in profile.preferred_article_types
        }:
            candidates.append((1.0, f"{article} are in {whose} profile"))
        elif article and _lift(arrays, terms, "articleType", row) > 1.0:
            candidates.append(
                (
                    blend.attributes * _lift(arrays, terms, "articleType", row),
                    f"{who} often buys {article}",
                )
            )
        usage = arrays.value("usage", row)
        if usage and usage.casefold() in {u.casefold() for u in profile.preferred_usages}:
            candidates.append((0.5, f"{usage}, as {whose} profile says"))
    if blend.collaborative and terms.collaborative[row] > 0 and len(terms.event_rows):
        counts = book.together_counts(row, terms.event_rows)
        best = int(np.argmax(counts))
        shared, source = int(counts[best]), int(terms.event_rows[best])
        if shared > 0:
            title = short_title(history.labels.get(source, (arrays.names[source], ""))[0])
            clients = "client" if shared == 1 else "clients"
            candidates.append(
                (
                    blend.collaborative * float(terms.collaborative[row]) + 0.1,
                    f"bought together with the {title} by {shared} other {clients}",
                )
            )
    if blend.popularity and terms.popularity[row] > 0.8:
        candidates.append(
            (blend.popularity * float(terms.popularity[row]), "popular in the client book")
        )
    if blend.season and terms.season[row] > 0.2:
        candidates.append(
            (blend.season * float(terms.season[row]), f"in season ({arrays.value('season', row)})")
        )
    candidates.sort(key=lambda c: -c[0])
    reasons = []
    for _, text in candidates:
        if text not in reasons:
            reasons.append(text)
    return reasons[:limit] or ["popular in the catalogue"]


def short_title(title: str, limit: int = 48) -> str:
    """A product name short enough for a reason (whole words, an ellipsis when cut)."""
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def _lift(arrays: CatalogueArrays, terms: Terms, name: str, row: int) -> float:
    lift = terms.attribute_lift.get(name)
    return 0.0 if lift is None else float(lift[arrays.codes[name][row]])


def _top_values(arrays: CatalogueArrays, terms: Terms, name: str, count: int) -> list[str]:
    """The client's most weighted values of a field (from their own items)."""
    if not len(terms.event_rows):
        return []
    codes = arrays.codes[name][terms.event_rows]
    totals = np.bincount(codes, weights=terms.event_weights, minlength=len(arrays.vocab[name]))
    totals[0] = 0
    order = [int(c) for c in np.argsort(-totals)[:count] if totals[c] > 0.25 * totals.max()]
    return [arrays.vocab[name][c] for c in order]


# ------------------------------------------------------------------------ recommender
class Recommender:
    """Recommendations from a client book over one index (cached arrays; thread-safe reads)."""

    def __init__(self, index: EmbeddingIndex, book: ClientBook | None = None) -> None:
        self.index = index
        self.book = book
        self.arrays = catalogue_arrays(index)
        self._book_arrays: BookArrays | None = None
        self._token: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def book_arrays(self) -> BookArrays:
        """The book's arrays, rebuilt only when the book changed since the last call."""
        with self._lock:
            if self.book is None:
                if self._book_arrays is None:
                    self._book_arrays = BookArrays.empty(self.arrays)
                return self._book_arrays
            token = self.book.change_token()
            if self._book_arrays is None or token != self._token:
                self._book_arrays = BookArrays.build(self.arrays, self.book.all_purchases())
                self._token = self.book.change_token()
            return self._book_arrays

    def recommend(
        self,
        client: str,
        k: int = 10,
        *,
        method: str = "hybrid",
        today: date | None = None,
        history: ClientHistory | None = None,
    ) -> RecommendationList:
        """The ``k`` best items for a client of the book (or an explicit ``history``)."""
        import time

        started = time.perf_counter()
        if k < 1:
            raise RecommendationError("Ask for at least one recommendation.")
        blend = Blend.for_method(method)
        if history is None:
            if self.book is None:
                raise RecommendationError("Recommendations for a named client need a client book.")
            history = ClientHistory.from_book(self.book, client, self.arrays)
        today = today or datetime.now(UTC).date()
        reference = today.toordinal()
        book = self.book_arrays()
        terms = score_terms(
            self.arrays,
            book,
            history,
            reference=reference,
            season_lift=season_lift(self.arrays, book, reference) if blend.season else None,
        )
        scores = np.where(allowed_mask(self.arrays, history), terms.total(blend), -np.inf)
        rows = select_diverse(self.arrays, scores, k)
        notes = []
        if not history.events:
            notes.append(
                f"{history.name} has no purchases, likes or shortlist yet: these are the book's "
                "most popular items that fit the profile."
            )
        items = {item.row: item for item in self.index.items(rows)}
        results = [
            Recommendation(
                rank,
                self.arrays.ids[row],
                row,
                float(scores[row]),
                explain(self.arrays, book, history, terms, blend, row, today),
                items[row].metadata,
                str(items[row].image_path),
            )
            for rank, row in enumerate(rows, start=1)
        ]
        if len(results) < k:
            notes.append(f"Only {len(results)} items fit {history.name}'s rules.")
        elapsed = (time.perf_counter() - started) * 1000
        return RecommendationList(history.name, method, results, elapsed, notes)


def rank_rows(
    arrays: CatalogueArrays,
    book: BookArrays,
    history: ClientHistory,
    k: int,
    *,
    method: str = "hybrid",
    reference: int,
    before: int | None = None,
    popularity: np.ndarray | None = None,
    diverse: bool = True,
    season: np.ndarray | None = None,
    blend: Blend | None = None,
) -> list[int]:
    """The top-``k`` rows for a history (the evaluation's entry point: no SQLite, no reasons)."""
    blend = blend or Blend.for_method(method)
    return rank_blends(
        arrays,
        book,
        history,
        k,
        {method: blend},
        reference=reference,
        before=before,
        popularity=popularity,
        diverse=diverse,
        season=season,
    )[method]


def rank_blends(
    arrays: CatalogueArrays,
    book: BookArrays,
    history: ClientHistory,
    k: int,
    blends: Mapping[str, Blend],
    *,
    reference: int,
    before: int | None = None,
    popularity: np.ndarray | None = None,
    diverse: bool = True,
    season: np.ndarray | None = None,
) -> dict[str, list[int]]:
    """Top-``k`` rows under several blends, the terms computed once (evaluation, tuning)."""
    if season is None and any(b.season for b in blends.values()):
        season = season_lift(arrays, book, reference)
    terms = score_terms(
        arrays,
        book,
        history,
        reference=reference,
        before=before,
        popularity=popularity,
        season_lift=season,
    )
    allowed = allowed_mask(arrays, history)
    ranked = {}
    for name, blend in blends.items():
        scores = np.where(allowed, terms.total(blend), -np.inf)
        ranked[name] = select_diverse(arrays, scores, k) if diverse else top_rows(scores, k)
    return ranked


def top_rows(scores: np.ndarray, k: int) -> list[int]:
    """The ``k`` highest finite scores' rows, best first."""
    finite = int(np.isfinite(scores).sum())
    k = min(k, finite)
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")].tolist()


def history_of_rows(
    name: str,
    events: Sequence[tuple[int, int, float, str]],
    profile: ClientProfile | None = None,
) -> ClientHistory:
    """A :class:`ClientHistory` from in-memory purchases (evaluation, tests)."""
    owned = frozenset(e[0] for e in events if e[3] == "purchase")
    return ClientHistory(name, profile or ClientProfile(), tuple(events), owned)
