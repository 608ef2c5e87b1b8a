"""Approximate nearest neighbours for large indexes: candidate rows from a faiss IVF-PQ index.

Exact search reads every stored vector for every query: ~60 ms a query at 1,000,000 items on two
cores. Above :data:`ANN_ABOVE_ITEMS` items an index also stores ``ann.faiss``, an inverted-file
index of product-quantised codes (32 bytes an item): a query scans the lists nearest to it and
returns a few thousand candidate rows, which :class:`~fashion_desktop.core.index.EmbeddingIndex`
re-ranks exactly with its own score from the memory-mapped vectors. Filters apply inside the scan
(a bitmap of the rows allowed). faiss (``faiss-cpu``) was chosen over hnswlib by measurement
(BENCHMARKS.md, "Approximate nearest neighbours"); it is imported only here, and only when such an
index is built or first searched, so the window's start and small indexes never load it.

**Label-aware candidates.** The product ranks by the cosine plus the heads' agreement, weighted
2 + 2 + 1 against the cosine's 1, so its top 5 can lie deep in the cosine order (under a filter
above all: 2,000 cosine candidates found 88% of them). When the index stores label signatures,
each item's row in the structure is therefore its vector followed by its signature, one unit
vector per head, and a query's row is its vector followed by ``weight × its own unit signature``
per head: the inner product is the cosine plus the weighted cosine of the signatures, a bounded
stand-in for the product's agreement term (:func:`item_rows`, :func:`query_rows`). A cosine-only
query leaves the label part zero.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from fashion_desktop.core.errors import InvalidIndexError

ANN_FILE = "ann.faiss"
ANN_KIND = "faiss-ivf-pq"
#: Above this many items ``write_index`` adds the ANN structure (``--ann auto``): where exact
#: search with label agreement passes ~10 ms a query on two cores (BENCHMARKS.md).
ANN_ABOVE_ITEMS = 200_000
AnnMode = Literal["auto", "on", "off"]
ANN_MODES: tuple[AnnMode, ...] = ("auto", "on", "off")
#: Rows added to faiss per call while building (a copy of this many vectors, not of all).
ADD_BLOCK_ROWS = 65_536


def wants_ann(mode: str, count: int) -> bool:
    """Whether an index of ``count`` items gets an ANN structure under ``mode``."""
    if mode not in ANN_MODES:
        raise ValueError(f"--ann must be one of {', '.join(ANN_MODES)}, not {mode!r}")
    return mode == "on" or (mode == "auto" and count > ANN_ABOVE_ITEMS)


@dataclass(frozen=True)
class AnnSettings:
    """The structure's shape and how it is searched (recorded in the manifest's ``ann`` key)."""

    #: inverted lists (k-means cells of the vectors)
    lists: int
    #: product-quantiser sub-vectors (bytes per item at 8 bits each)
    subquantizers: int
    #: bits per sub-vector code (8, fewer for tiny indexes that cannot train 256 centroids)
    bits: int
    #: lists scanned per query
    probes: int
    #: candidates re-ranked exactly for a cosine-only query
    candidates: int
    #: candidates re-ranked exactly when label agreement is part of the score
    label_candidates: int
    #: signature columns after the vector in each row (0: vectors only, an index without heads)
    signature_width: int = 0

    @classmethod
    def for_index(cls, count: int, dim: int, signature_width: int = 0) -> AnnSettings:
        """Measured defaults: ~√n lists (1,024 at 1M), 32-byte codes, 1/16 of the lists probed;
        1,000 candidates for a cosine query of a vectors-only structure, 2,000 otherwise (rows
        with signatures: recall@5 0.983 with 1,000, 0.994 with 2,000 at 1M; BENCHMARKS.md)."""
        lists = max(1, min(2 ** round(math.log2(max(count, 1)) / 2), count // 39 or 1))
        # rows with signatures are padded to a multiple of 32 (row_width); vectors alone are not
        subquantizers = (
            32 if signature_width else next(m for m in (32, 16, 8, 4, 2, 1) if dim % m == 0)
        )
        bits = max(1, min(8, int(math.log2(max(count, 2))) - 2))
        return cls(
            lists=lists,
            subquantizers=subquantizers,
            bits=bits,
            probes=max(1, min(lists, lists // 16 or 1)),
            candidates=2000 if signature_width else 1000,
            label_candidates=2000,
            signature_width=signature_width,
        )

    def row_width(self, dim: int) -> int:
        """Columns of the structure's rows: vector, signature, zeros up to a multiple of the
        product quantiser's sub-vectors."""
        width = dim + self.signature_width
        return math.ceil(width / self.subquantizers) * self.subquantizers

    def pool(self, labels: bool) -> int:
        return self.label_candidates if labels else self.candidates

    def describe(self) -> str:
        rows = " of vectors and label signatures" if self.signature_width else ""
        return (
            f"IVF-PQ{rows}: {self.lists:,} lists, "
            f"{self.subquantizers * self.bits // 8 or 1}-byte codes, {self.probes} probed, "
            f"{self.candidates:,} candidates re-ranked ({self.label_candidates:,} with labels)"
        )

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnnSettings:
        optional = {"signature_width": 0}  # manifests written before label-aware rows
        try:
            return cls(
                **{
                    name: int(data[name] if name in data else optional[name])
                    for name in cls.__dataclass_fields__
                }
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidIndexError(
                f"the manifest's ANN settings are unreadable ({error})"
            ) from None


def _faiss() -> Any:
    """faiss, imported on first use. Its OpenMP threads wait passively: spinning, they took
    the cores from the model's threads and the UI (a 3,000-item build: 18 s against 0.6 s on a
    busy two-core machine)."""
    if "faiss" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when libgomp loads
    import faiss

    return faiss


def library_version() -> str:
    return f"faiss {_faiss().__version__}"


def _unit_per_head(signatures: np.ndarray, heads: Mapping[str, slice]) -> np.ndarray:
    out = np.asarray(signatures, dtype=np.float32).copy()
    for columns in heads.values():
        norms = np.linalg.norm(out[:, columns], axis=1, keepdims=True)
        out[:, columns] /= np.maximum(norms, 1e-6)
    return out


def item_rows(
    vectors: np.ndarray,
    signatures: np.ndarray | None,
    heads: Mapping[str, slice],
    settings: AnnSettings,
) -> np.ndarray:
    """Items' rows of the structure: the vector, then the signature as one unit vector per head."""
    count, dim = vectors.shape
    rows = np.zeros((count, settings.row_width(dim)), dtype=np.float32)
    rows[:, :dim] = vectors
    if settings.signature_width:
        if signatures is None:
            raise ValueError("this ANN structure's rows hold label signatures")
        rows[:, dim : dim + settings.signature_width] = _unit_per_head(signatures, heads)
    return rows


def query_rows(
    queries: np.ndarray,
    signatures: np.ndarray | None,
    heads: Mapping[str, slice],
    weights: Mapping[str, float],
    settings: AnnSettings,
) -> np.ndarray:
    """Queries' rows: the vector, then ``weight × unit signature`` of each weighted head (zeros
    for a cosine-only query), so the inner product with an item's row is the cosine plus the
    weighted cosine of the two signatures, head by head."""
    count, dim = queries.shape
    rows = np.zeros((count, settings.row_width(dim)), dtype=np.float32)
    rows[:, :dim] = queries
    if settings.signature_width and signatures is not None:
        unit = _unit_per_head(signatures, heads)
        for head, columns in heads.items():
            weight = float(weights.get(head, 0.0))
            if weight:
                rows[:, dim + columns.start : dim + columns.stop] = weight * unit[:, columns]
    return rows


def build_ann(
    vectors: np.ndarray,
    path: Path,
    settings: AnnSettings,
    *,
    signatures: np.ndarray | None = None,
    heads: Mapping[str, slice] | None = None,
    seed: int = 0,
) -> float:
    """Train and fill the IVF-PQ structure of normalised ``vectors`` (with the items'
    ``signatures`` in the columns ``heads`` give, when ``settings`` has signature columns) and
    write it to ``path``.

    Trained on a seeded sample (64 rows a list, at least 10,000); rows are added a block at a time
    so a memory-mapped (n, d) array is never copied whole. Returns the seconds it took.
    """
    faiss = _faiss()
    started = time.perf_counter()
    count, dim = vectors.shape
    heads = heads or {}

    def rows(selected: np.ndarray | slice) -> np.ndarray:
        return item_rows(
            np.asarray(vectors[selected], dtype=np.float32),
            None if signatures is None else np.asarray(signatures[selected]),
            heads,
            settings,
        )

    index = faiss.index_factory(
        settings.row_width(dim),
        f"IVF{settings.lists},PQ{settings.subquantizers}x{settings.bits}",
        faiss.METRIC_INNER_PRODUCT,
    )
    # The factory's polysemous training (Hamming-distance pre-filtering, which this search does
    # not use) is most of an untuned build's time.
    index.do_polysemous_training = False
    # No warning for tiny test indexes with fewer than 39 training points per centroid.
    index.cp.min_points_per_centroid = 1
    index.pq.cp.min_points_per_centroid = 1
    index.cp.seed = index.pq.cp.seed = seed
    rng = np.random.default_rng(seed)
    sample_size = min(count, max(64 * settings.lists, 10_000))
    sample = np.sort(rng.choice(count, sample_size, replace=False))
    index.train(rows(sample))
    for start in range(0, count, ADD_BLOCK_ROWS):
        index.add(rows(slice(start, start + ADD_BLOCK_ROWS)))
    faiss.write_index(index, str(path))
    return time.perf_counter() - started


class AnnSearcher:
    """The ANN structure of one open index, read from its (already verified) open file on the
    first search: an index swapped in place later does not pull the file from under it."""

    def __init__(self, handle: IO[bytes], settings: AnnSettings) -> None:
        self.settings = settings
        self._handle = handle
        self._index: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._index is not None

    def _loaded_index(self) -> Any:
        with self._lock:
            if self._index is None:
                faiss = _faiss()
                self._handle.seek(0)
                data = np.frombuffer(self._handle.read(), dtype=np.uint8)
                self._index = faiss.deserialize_index(data)
                self._handle.close()
            return self._index

    def candidates(
        self, rows: np.ndarray, count: int, allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """(queries, count) candidate rows for the queries' :func:`query_rows`, best first by
        the approximate score; -1 pads where the probed lists hold fewer. ``allowed`` is a
        boolean row mask (a filter): the
        probes grow as the share of items allowed shrinks (a gender filter keeping 42% of 1M
        items: recall@5 0.97 with the unfiltered 64 probes, 0.999 with 152; BENCHMARKS.md)."""
        faiss = _faiss()
        index = self._loaded_index()
        params = faiss.SearchParametersIVF()
        probes = self.settings.probes
        if allowed is not None:
            share = max(float(np.count_nonzero(allowed)) / max(len(allowed), 1), 1e-9)
            probes = math.ceil(probes / share)
        params.nprobe = max(1, min(probes, self.settings.lists))
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
            params.sel = selector
        _, found = index.search(
            np.ascontiguousarray(rows, dtype=np.float32), int(count), params=params
        )
        return found

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()
