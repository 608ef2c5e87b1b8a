"""The on-disk embedding index and cosine top-k search over it.

An index is a directory (never a pickle)::

    manifest.json        format version, model identity, sizes, checksums, catalogue location
    vectors.npy          float32 (n, d) L2-normalised search vectors, memory-mapped
    projection.npz       optional PCA (mean, components) mapping 2048-d embeddings to d
    embeddings.f16.npy   float16 (n, 2048) raw embeddings, read only to rebuild or update
    signatures.npy       optional float32 (n, s) label signatures of the model's heads
                         (:mod:`fashion_desktop.core.scoring`), memory-mapped
    items.sqlite         item ids, image paths and hashes, metadata, filterable values
    ann.faiss            optional approximate-nearest-neighbour structure of the vectors
                         (:mod:`fashion_desktop.core.ann`), above 200,000 items by default

Large indexes store a PCA projection of the embeddings: 40,000 × 256 float32 is 41 MB resident
where 40,000 × 2048 would be 328 MB, for retrieval quality measured within 1% (BENCHMARKS.md).
Very large ones also store an ANN structure: its candidates are re-ranked exactly, so it changes
which items are looked at, never how they are scored; an index without one is searched exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.ann import (
    ANN_FILE,
    ANN_KIND,
    AnnSearcher,
    AnnSettings,
    build_ann,
    library_version,
    query_rows,
    wants_ann,
)
from fashion_desktop.core.atomic import replace_directory, write_text_atomic
from fashion_desktop.core.embedder import EMBEDDING_DIM, ModelIdentity
from fashion_desktop.core.errors import InvalidIndexError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.scoring import (
    CATALOGUE_LABEL_SHARE,
    DEFAULT_SCORING,
    SignatureLayout,
    item_signatures,
    label_agreement,
)

FORMAT_VERSION = 1
FORMAT_NAME = "fashion-desktop-index"
MANIFEST_FILE = "manifest.json"
VECTORS_FILE = "vectors.npy"
PROJECTION_FILE = "projection.npz"
EMBEDDINGS_FILE = "embeddings.f16.npy"
ITEMS_FILE = "items.sqlite"
SIGNATURES_FILE = "signatures.npy"
#: Below this many items full 2048-d float32 vectors cost at most 64 MB: no projection needed.
PROJECT_ABOVE_ITEMS = 8192
DEFAULT_PROJECTED_DIM = 256
#: Own items searched at build time to measure an ANN structure's recall@5 against exact search.
ANN_RECALL_QUERIES = 200
ANN_RECALL_K = 5


def normalise(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (or one vector); zero vectors stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


#: Rows per block when the PCA accumulates the covariance.
PCA_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class Projection:
    """PCA of normalised embeddings; search vectors are re-normalised after projecting."""

    mean: np.ndarray  # (2048,)
    components: np.ndarray  # (d, 2048)

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, normalised_embeddings: np.ndarray, dim: int) -> Projection:
        """Exact PCA: the top ``dim`` eigenvectors of the covariance (accumulated in float64,
        a block of rows at a time, so 40,000 × 2048 needs no float64 copy; a few seconds)."""
        x = np.asarray(normalised_embeddings, dtype=np.float32)
        count, width = x.shape
        if not 0 < dim <= min(count, width):
            raise ValueError(f"cannot project {count} × {width} embeddings to {dim} dimensions")
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        covariance = np.zeros((width, width), np.float64)
        for start in range(0, count, PCA_BLOCK_ROWS):
            block = x[start : start + PCA_BLOCK_ROWS] - mean
            covariance += (block.T @ block).astype(np.float64)
        values, vectors = np.linalg.eigh(covariance / max(count - 1, 1))
        top = vectors[:, np.argsort(values)[::-1][:dim]].T
        # a deterministic sign per component (the largest coordinate positive)
        signs = np.sign(top[np.arange(dim), np.abs(top).argmax(axis=1)])
        return cls(mean, (top * signs[:, None]).astype(np.float32))

    def apply(self, normalised_embeddings: np.ndarray) -> np.ndarray:
        return normalise((np.asarray(normalised_embeddings) - self.mean) @ self.components.T)


@dataclass(frozen=True)
class ItemRecord:
    """What the builder knows about one indexed item."""

    item_id: str
    image_path: Path
    sha256: str
    size: int
    mtime_ns: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class IndexedItem:
    row: int
    item_id: str
    image_path: Path
    sha256: str
    metadata: dict[str, str]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def search_vectors_for(raw: np.ndarray, projection: Projection | None) -> np.ndarray:
    """Raw embeddings → the normalised vectors an index with ``projection`` searches."""
    unit = normalise(raw)
    return projection.apply(unit) if projection is not None else unit


def write_index(
    directory: Path,
    *,
    records: Sequence[ItemRecord],
    raw_embeddings: np.ndarray,
    identity: ModelIdentity,
    catalogue_root: Path,
    fields: Sequence[str],
    dim: int | None,
    final_path: Path | None = None,
    heads: ClassifierHeads | None = None,
    ann: str = "auto",
    ann_settings: AnnSettings | None = None,
) -> None:
    """Write a complete index into an empty ``directory`` (the caller swaps it into place).

    ``final_path`` is where the caller will move ``directory``: the catalogue's relative location
    is recorded from there, so the index still finds a catalogue that moves along with it.
    With the model's classifier ``heads`` the items' label signatures are stored too. ``ann``
    (auto, on, off) decides whether an ANN structure is built: ``auto`` above
    :data:`~fashion_desktop.core.ann.ANN_ABOVE_ITEMS` items; ``ann_settings`` override its
    measured defaults.
    """
    with_ann = wants_ann(ann, len(records))
    directory.mkdir(parents=True, exist_ok=True)
    raw16 = np.asarray(raw_embeddings, dtype=np.float16)
    unit = normalise(raw16.astype(np.float32))
    projection = None
    if dim is not None and dim < EMBEDDING_DIM:
        if len(records) <= dim:
            raise InvalidIndexError(
                f"Cannot project {len(records)} items to {dim} dimensions; use a smaller --dim."
            )
        projection = Projection.fit(unit, dim)
        np.savez(
            directory / PROJECTION_FILE, mean=projection.mean, components=projection.components
        )
    vectors = projection.apply(unit) if projection else unit
    np.save(directory / VECTORS_FILE, np.ascontiguousarray(vectors, dtype=np.float32))
    np.save(directory / EMBEDDINGS_FILE, raw16)
    layout = None
    signatures = None
    if heads is not None:
        layout = SignatureLayout.from_heads(heads)
        signatures = item_signatures(
            heads, raw16.astype(np.float32), layout, [r.metadata for r in records]
        )
        np.save(directory / SIGNATURES_FILE, np.ascontiguousarray(signatures))
    root = catalogue_root.resolve()
    _write_items(directory / ITEMS_FILE, records, root, fields)
    ann_entry = None
    if with_ann:
        ann_entry = write_ann(directory, vectors, ann_settings, signatures, layout)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": identity.to_json(),
        "embedding_dim": EMBEDDING_DIM,
        "vector_dim": int(vectors.shape[1]),
        "projection": "pca" if projection else None,
        "signatures": layout.to_json() if layout is not None else None,
        "signature_label_share": CATALOGUE_LABEL_SHARE if layout is not None else None,
        "count": len(records),
        "fields": list(fields),
        "catalogue": {
            "absolute": str(root),
            "relative": os.path.relpath(root, (final_path or directory).resolve().parent),
        },
        "files": file_entries(directory),
    }
    if ann_entry is not None:
        manifest["ann"] = ann_entry
    write_manifest(directory, manifest)
    if ann_entry is not None:
        ann_entry.update(measure_ann_recall(directory))
        write_manifest(directory, manifest)


INDEX_FILES = (
    VECTORS_FILE,
    EMBEDDINGS_FILE,
    ITEMS_FILE,
    PROJECTION_FILE,
    SIGNATURES_FILE,
    ANN_FILE,
)


def file_entries(directory: Path) -> dict[str, dict]:
    """The manifest's ``files``: checksum and size of each index file present."""
    files = {}
    for name in INDEX_FILES:
        path = directory / name
        if path.exists():
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    return files


def write_manifest(directory: Path, manifest: dict) -> None:
    write_text_atomic(directory / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")


def write_ann(
    directory: Path,
    vectors: np.ndarray,
    settings: AnnSettings | None = None,
    signatures: np.ndarray | None = None,
    layout: SignatureLayout | None = None,
) -> dict[str, Any]:
    """Build ``ann.faiss`` of an index's search ``vectors`` (and label ``signatures`` in
    ``layout``, when the index stores them); returns the manifest's ``ann`` key (its recall is
    added by :func:`measure_ann_recall` once the index can be opened)."""
    count, dim = vectors.shape
    width = layout.width if layout is not None and signatures is not None else 0
    settings = settings or AnnSettings.for_index(count, dim, width)
    if settings.signature_width not in (0, width):
        raise ValueError("the ANN settings' signature width does not match the index's")
    seconds = build_ann(
        vectors,
        directory / ANN_FILE,
        settings,
        signatures=signatures if settings.signature_width else None,
        heads=layout.slices() if layout is not None else None,
    )
    return {
        "kind": ANN_KIND,
        "file": ANN_FILE,
        "library": library_version(),
        "settings": settings.to_json(),
        "build_s": round(seconds, 1),
    }


def set_ann(path: Path, mode: str, settings: AnnSettings | None = None) -> bool:
    """Give the index at ``path`` the ANN structure ``mode`` asks for (on: built, off: none,
    auto: as :func:`write_index` decides), in a folder swapped into place as a build is: the
    other files are hard links of the old ones (copies where links fail), never rewritten.
    Returns whether anything changed.
    """
    manifest = read_manifest(path)
    want = wants_ann(mode, int(manifest["count"]))
    if ("ann" in manifest) == want and settings is None:
        return False
    staging = path.parent / f".{path.name}.ann"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    files = {name: entry for name, entry in manifest["files"].items() if name != ANN_FILE}
    for name in files:
        try:
            os.link(path / name, staging / name)
        except OSError:
            shutil.copy2(path / name, staging / name)
    manifest.pop("ann", None)
    if want:
        vectors = np.load(staging / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        layout = (
            SignatureLayout.from_json(manifest["signatures"])
            if manifest.get("signatures")
            else None
        )
        signatures = (
            np.load(staging / SIGNATURES_FILE, mmap_mode="r", allow_pickle=False)
            if layout is not None
            else None
        )
        manifest["ann"] = write_ann(staging, vectors, settings, signatures, layout)
        ann_file = staging / ANN_FILE
        files[ANN_FILE] = {"sha256": file_sha256(ann_file), "bytes": ann_file.stat().st_size}
    manifest["files"] = files
    write_manifest(staging, manifest)
    if want:
        manifest["ann"].update(measure_ann_recall(staging))
        write_manifest(staging, manifest)
    replace_directory(staging, path)
    return True


def measure_ann_recall(directory: Path, queries: int = ANN_RECALL_QUERIES) -> dict[str, Any]:
    """Recall@5 of the ANN search against exact search for a seeded sample of the index's own
    items, each querying with its stored vector and excluding itself (more-like-this): with
    cosine only, and with the default label agreement where the index stores signatures."""
    index = EmbeddingIndex.open(directory, verify=False)
    try:
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(len(index), min(queries, len(index)), replace=False))
        vectors = np.asarray(index.vectors[rows], dtype=np.float32)
        exclude = [[int(row)] for row in rows]
        measured: dict[str, Any] = {"recall_queries": len(rows)}
        layout = index.signature_layout
        variants: list[tuple[str, dict[str, float]]] = [("recall_at_5", {})]
        if layout is not None:
            weights = DEFAULT_SCORING.agreement_weights(False, layout, layout)
            variants.append(("recall_at_5_labels", weights))
        for key, weights in variants:
            signatures = (
                index.signatures[rows] if weights and index.signatures is not None else None
            )
            found = [
                index.search_many(
                    vectors,
                    ANN_RECALL_K,
                    exclude_rows=exclude,
                    signatures=signatures,
                    head_weights=weights,
                    exact=exact,
                    chunk=16,
                )
                for exact in (True, False)
            ]
            measured[key] = round(_recall(*found), 4)
        return measured
    finally:
        index.close()


def _recall(
    exact: Sequence[Sequence[tuple[int, float]]], approximate: Sequence[Sequence[tuple[int, float]]]
) -> float:
    hits = total = 0
    for truth, found in zip(exact, approximate, strict=True):
        hits += len({r for r, _ in truth} & {r for r, _ in found})
        total += len(truth)
    return hits / total if total else 1.0


def _write_items(
    path: Path, records: Sequence[ItemRecord], root: Path, fields: Sequence[str]
) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(
            """
            PRAGMA journal_mode = OFF;
            CREATE TABLE items (
                row INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, image TEXT NOT NULL,
                sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                metadata TEXT NOT NULL);
            CREATE TABLE item_values (
                row INTEGER NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
                folded TEXT NOT NULL);
            """
        )
        connection.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    row,
                    record.item_id,
                    _relative_image(record.image_path, root),
                    record.sha256,
                    record.size,
                    record.mtime_ns,
                    json.dumps(record.metadata, ensure_ascii=False),
                )
                for row, record in enumerate(records)
            ),
        )
        connection.executemany(
            "INSERT INTO item_values VALUES (?, ?, ?, ?)",
            (
                (row, field, value, value.casefold())
                for row, record in enumerate(records)
                for field in fields
                if (value := record.metadata.get(field, ""))
            ),
        )
        connection.executescript(
            """
            CREATE INDEX items_sha256 ON items (sha256);
            CREATE INDEX item_values_lookup ON item_values (field, folded, row);
            """
        )
        connection.commit()
    finally:
        connection.close()


def _relative_image(image: Path, root: Path) -> str:
    resolved = image.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


class EmbeddingIndex:
    """A loaded, validated index: memory-mapped vectors plus item metadata in SQLite.

    Safe to share between threads: searches only read the memory map, and SQLite access is
    serialised by a lock.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict,
        vectors: np.ndarray,
        projection: Projection | None,
        signatures: np.ndarray | None = None,
        ann: AnnSearcher | None = None,
    ):
        self.path = path
        self.manifest = manifest
        self.vectors = vectors
        self.projection = projection
        #: (n, s) label signatures and their layout; None for an index built without heads.
        self.signatures = signatures
        layout = manifest.get("signatures")
        self.signature_layout = (
            SignatureLayout.from_json(layout) if signatures is not None and layout else None
        )
        #: The ANN structure (None: exact search), loaded on the first search.
        self.ann = ann
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            f"{(path / ITEMS_FILE).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._filter_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.catalogue_root = self._locate_catalogue()

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> EmbeddingIndex:
        """Open and validate an index; any problem raises :class:`InvalidIndexError`."""
        path = Path(path).expanduser()
        manifest = read_manifest(path)
        files = manifest["files"]
        has_signatures = bool(manifest.get("signatures"))
        ann_entry = manifest.get("ann")
        # An ANN structure of a kind this version does not know is ignored: exact search is
        # always correct, only slower.
        has_ann = isinstance(ann_entry, dict) and ann_entry.get("kind") == ANN_KIND
        for name in (
            (VECTORS_FILE, ITEMS_FILE)
            + ((PROJECTION_FILE,) if manifest["projection"] else ())
            + ((SIGNATURES_FILE,) if has_signatures else ())
            + ((ANN_FILE,) if has_ann else ())
        ):
            expected = files.get(name)
            file = path / name
            if expected is None or not file.is_file():
                raise InvalidIndexError(f"Index {path} is incomplete: {name} is missing.")
            if file.stat().st_size != expected["bytes"] or (
                verify and file_sha256(file) != expected["sha256"]
            ):
                raise InvalidIndexError(
                    f"Index {path} is corrupted ({name} does not match its checksum). Rebuild it "
                    "with `fashion-desktop index build`."
                )
        try:
            vectors = np.load(path / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
            projection = None
            if manifest["projection"]:
                with np.load(path / PROJECTION_FILE, allow_pickle=False) as archive:
                    projection = Projection(archive["mean"], archive["components"])
            signatures = None
            if has_signatures:
                signatures = np.load(path / SIGNATURES_FILE, mmap_mode="r", allow_pickle=False)
                layout = SignatureLayout.from_json(manifest["signatures"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InvalidIndexError(f"Index {path} cannot be read: {error}") from None
        if signatures is not None and (
            signatures.shape != (manifest["count"], layout.width) or signatures.dtype != np.float32
        ):
            raise InvalidIndexError(f"Index {path} is corrupted: signatures have the wrong shape.")
        expected_shape = (manifest["count"], manifest["vector_dim"])
        if vectors.shape != expected_shape or vectors.dtype != np.float32:
            raise InvalidIndexError(
                f"Index {path} is corrupted: vectors are {vectors.shape} {vectors.dtype}, "
                f"expected {expected_shape} float32."
            )
        ann = None
        if isinstance(ann_entry, dict) and has_ann:
            try:
                settings = AnnSettings.from_json(ann_entry.get("settings") or {})
                ann = AnnSearcher((path / ANN_FILE).open("rb"), settings)
            except (OSError, InvalidIndexError) as error:
                raise InvalidIndexError(f"Index {path} cannot be read: {error}") from None
        index = cls(path, manifest, vectors, projection, signatures, ann)
        try:
            stored = index._query_one("SELECT COUNT(*) FROM items")[0]
        except sqlite3.DatabaseError as error:
            index.close()
            raise InvalidIndexError(f"Index {path}: item database unreadable ({error}).") from None
        if stored != manifest["count"]:
            index.close()
            raise InvalidIndexError(f"Index {path} is corrupted: item count mismatch.")
        return index

    def _locate_catalogue(self) -> Path:
        catalogue = self.manifest["catalogue"]
        relative = (self.path.resolve().parent / catalogue["relative"]).resolve()
        return relative if relative.is_dir() else Path(catalogue["absolute"])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self.ann is not None:
            self.ann.close()

    # ------------------------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self.manifest["count"])

    @property
    def model(self) -> dict[str, str]:
        return self.manifest["model"]

    @property
    def fields(self) -> list[str]:
        return list(self.manifest["fields"])

    def check_model(self, identity: ModelIdentity) -> None:
        """Refuse to search with a model other than the one the index was built with."""
        built_with = self.model
        if built_with["fingerprint"] != identity.fingerprint:
            raise InvalidIndexError(
                f"The index {self.path.name} was built with another model ({built_with['source']}, "
                f"fingerprint {built_with['fingerprint'][:12]}) than the one loaded "
                f"({identity.source}, {identity.fingerprint[:12]}). Rebuild the index with this "
                "model, or load the model it was built with (--weights)."
            )
        if built_with["preprocessing"] != identity.preprocessing:
            raise InvalidIndexError(
                f"The index {self.path.name} was built with different image preprocessing; "
                "rebuild it with this version of Fashion Desktop."
            )

    def raw_embeddings(self) -> np.ndarray:
        """The stored float16 2048-d embeddings (verified against the manifest)."""
        file = self.path / EMBEDDINGS_FILE
        expected = self.manifest["files"].get(EMBEDDINGS_FILE)
        if expected is None or not file.is_file() or file_sha256(file) != expected["sha256"]:
            raise InvalidIndexError(
                f"Index {self.path}: {EMBEDDINGS_FILE} is missing or corrupted."
            )
        return np.load(file, mmap_mode="r", allow_pickle=False)

    # ----------------------------------------------------------------------------- items
    def _query_one(self, sql: str, params: Sequence = ()) -> tuple:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _query_all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _item_from_row(self, row: tuple) -> IndexedItem:
        number, item_id, image, sha256, metadata = row
        image_path = Path(image) if os.path.isabs(image) else self.catalogue_root / image
        return IndexedItem(number, item_id, image_path, sha256, json.loads(metadata))

    def items(self, rows: Iterable[int]) -> list[IndexedItem]:
        """Items for ``rows``, in the order given."""
        wanted = [int(r) for r in rows]
        found: dict[int, IndexedItem] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            for r in self._query_all(
                "SELECT row, item_id, image, sha256, metadata FROM items "
                f"WHERE row IN ({placeholders})",
                chunk,
            ):
                found[r[0]] = self._item_from_row(r)
        return [found[r] for r in wanted]

    def metadata_column(self, field: str) -> list[str]:
        """The value of ``field`` for every row, in row order ("" where empty)."""
        rows = self._query_all("SELECT metadata FROM items ORDER BY row")
        return [json.loads(metadata).get(field, "") for (metadata,) in rows]

    def item(self, row: int) -> IndexedItem:
        return self.items([row])[0]

    def row_of(self, item_id: str) -> int | None:
        found = self._query_one("SELECT row FROM items WHERE item_id = ?", (item_id,))
        return None if found is None else int(found[0])

    def rows_with_sha256(self, hashes: Iterable[str]) -> set[int]:
        rows: set[int] = set()
        for sha in set(hashes):
            rows.update(
                r[0] for r in self._query_all("SELECT row FROM items WHERE sha256 = ?", (sha,))
            )
        return rows

    def all_records(self) -> list[tuple[str, str, str, int, int]]:
        """(item_id, image, sha256, size, mtime_ns) for every row, in row order."""
        rows = self._query_all(
            "SELECT item_id, image, sha256, size, mtime_ns FROM items ORDER BY row"
        )
        return [
            (i, self._resolve_image(img), sha, size, mtime) for i, img, sha, size, mtime in rows
        ]

    def _resolve_image(self, image: str) -> str:
        return image if os.path.isabs(image) else str(self.catalogue_root / image)

    def field_values(self, field: str) -> list[tuple[str, int]]:
        """The distinct values of ``field`` with their item counts, most common first."""
        return [
            (value, count)
            for value, count in self._query_all(
                "SELECT value, COUNT(*) AS n FROM item_values WHERE field = ? "
                "GROUP BY folded ORDER BY n DESC, value",
                (field,),
            )
        ]

    def value_counts(self, field: str) -> dict[str, int]:
        """Items per case-folded value of ``field``."""
        return {
            folded: count
            for folded, count in self._query_all(
                "SELECT folded, COUNT(*) FROM item_values WHERE field = ? GROUP BY folded", (field,)
            )
        }

    # ---------------------------------------------------------------------------- search
    def rows_matching(self, filters: Filters | None) -> np.ndarray | None:
        """Sorted rows satisfying ``filters`` (None when there is no filter at all)."""
        if not filters:
            return None
        filters.check_fields(self.fields)
        key = filters.key()
        cached = self._filter_cache.get(key)
        if cached is not None:
            self._filter_cache.move_to_end(key)
            return cached
        rows: np.ndarray | None = None
        for field, values in key:
            folded = list(values)
            placeholders = ",".join("?" * len(folded))
            found = np.array(
                [
                    r[0]
                    for r in self._query_all(
                        "SELECT row FROM item_values "
                        f"WHERE field = ? AND folded IN ({placeholders})",
                        (field, *folded),
                    )
                ],
                dtype=np.int64,
            )
            rows = found if rows is None else np.intersect1d(rows, found)
        result = np.unique(rows) if rows is not None else np.empty(0, np.int64)
        self._filter_cache[key] = result
        if len(self._filter_cache) > 32:
            self._filter_cache.popitem(last=False)
        return result

    def search(
        self,
        query: np.ndarray,
        k: int = 5,
        *,
        filters: Filters | None = None,
        exclude_rows: Collection[int] = (),
        signature: np.ndarray | None = None,
        head_weights: Mapping[str, float] | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (row, score) for one normalised search vector (see :meth:`search_many`)."""
        return self.search_many(
            query[np.newaxis],
            k,
            filters=filters,
            exclude_rows=[exclude_rows],
            signatures=None if signature is None else signature[np.newaxis],
            head_weights=head_weights,
        )[0]

    def search_many(
        self,
        queries: np.ndarray,
        k: int = 5,
        *,
        filters: Filters | None = None,
        exclude_rows: Sequence[Collection[int]] | None = None,
        signatures: np.ndarray | None = None,
        head_weights: Mapping[str, float] | None = None,
        chunk: int = 256,
        exact: bool = False,
    ) -> list[list[tuple[int, float]]]:
        """Top-``k`` for many queries; filters restrict the candidates first.

        The score is the cosine, plus the label agreement of each head weighted by
        ``head_weights`` when the queries' ``signatures`` are given and the index stores
        signatures (:mod:`fashion_desktop.core.scoring`). ``exclude_rows[i]`` are rows query
        ``i`` must never return (itself, byte-identical images). Results always hold
        ``min(k, matching items not excluded)`` entries.

        Every item is scored, unless the index has an ANN structure (and not ``exact``): then
        the items scored are its candidates (:meth:`_search_candidates`), scored the same way.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.vectors.shape[1]:
            raise ValueError(
                f"query has {queries.shape[1]} dimensions, index {self.vectors.shape[1]}"
            )
        weights = {h: w for h, w in (head_weights or {}).items() if w}
        signatures = self._checked_signatures(signatures, len(queries)) if weights else None
        allowed = self.rows_matching(filters)
        if self.ann is not None and not exact:
            found = self._search_candidates(
                self.ann, queries, k, allowed, exclude_rows, signatures, weights
            )
            missing = [n for n, hits in enumerate(found) if hits is None]
            if missing:  # too few allowed candidates: these queries score every item
                exhaustive = self.search_many(
                    queries[missing],
                    k,
                    filters=filters,
                    exclude_rows=[exclude_rows[n] for n in missing] if exclude_rows else None,
                    signatures=None if signatures is None else signatures[missing],
                    head_weights=weights,
                    chunk=chunk,
                    exact=True,
                )
                for n, hits in zip(missing, exhaustive, strict=True):
                    found[n] = hits
            return [hits or [] for hits in found]
        matrix = np.asarray(self.vectors)
        blocked = None
        if allowed is not None:
            blocked = np.ones(len(self), dtype=bool)
            blocked[allowed] = False
        results: list[list[tuple[int, float]]] = []
        for start in range(0, len(queries), chunk):
            scores = queries[start : start + chunk] @ matrix.T
            if signatures is not None:
                scores += self._label_agreement(signatures[start : start + chunk], weights, scores)
            if blocked is not None:
                scores[:, blocked] = -np.inf
            for offset, row_scores in enumerate(scores):
                excluded = exclude_rows[start + offset] if exclude_rows else ()
                if excluded:
                    row_scores[list(excluded)] = -np.inf
                results.append(_top_k(row_scores, k))
        return results

    def _search_candidates(
        self,
        ann: AnnSearcher,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        exclude_rows: Sequence[Collection[int]] | None,
        signatures: np.ndarray | None,
        weights: Mapping[str, float],
    ) -> list[list[tuple[int, float]] | None]:
        """Top-``k`` among the ANN structure's candidates, scored exactly as every item would be.

        The candidates are the ANN structure's for the queries' rows (with their weighted label
        signatures where the structure holds signatures: :func:`~fashion_desktop.core.ann.
        query_rows`), over-fetched (thousands of rows), and filters apply inside the ANN scan,
        so k results come back whenever k items match: a filter matching no more items than the
        pool is scored over its items, and a query whose probed lists hold too few allowed items
        gets None (the caller scores every item for it).
        """
        pool = ann.settings.pool(labels=signatures is not None)
        available = len(self) if allowed is None else len(allowed)
        if allowed is not None and available <= pool:
            return [
                self._score_rows(queries[i : i + 1], allowed, k, excluded, signatures, weights, i)
                for i, excluded in enumerate(self._exclusions(exclude_rows, len(queries)))
            ]
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self), dtype=bool)
            mask[allowed] = True
        exclusions = self._exclusions(exclude_rows, len(queries))
        extra = max((len(excluded) for excluded in exclusions), default=0)
        heads = self.signature_layout.slices() if self.signature_layout is not None else {}
        candidates = ann.candidates(
            query_rows(queries, signatures, heads, weights, ann.settings), pool + extra, mask
        )
        results: list[list[tuple[int, float]] | None] = []
        for i, excluded in enumerate(exclusions):
            rows = candidates[i][candidates[i] >= 0]
            if excluded:
                rows = rows[~np.isin(rows, list(excluded))]
            blocked = (
                len(excluded)
                if mask is None
                else sum(1 for row in excluded if 0 <= row < len(self) and mask[row])
            )
            if len(rows) < min(k, available - blocked):
                results.append(None)
                continue
            results.append(
                self._score_rows(queries[i : i + 1], rows, k, excluded, signatures, weights, i)
            )
        return results

    @staticmethod
    def _exclusions(exclude_rows: Sequence[Collection[int]] | None, count: int) -> list[set[int]]:
        return [set(exclude_rows[i]) if exclude_rows else set() for i in range(count)]

    def _score_rows(
        self,
        query: np.ndarray,
        rows: np.ndarray,
        k: int,
        excluded: Collection[int],
        signatures: np.ndarray | None,
        weights: Mapping[str, float],
        position: int,
    ) -> list[tuple[int, float]]:
        """Top-``k`` of one query among ``rows``, by the exact score (cosine + agreement)."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))  # row order: ties break as in exact
        if excluded:
            rows = rows[~np.isin(rows, list(excluded))]
        if not len(rows):
            return []
        scores = (query @ np.asarray(self.vectors[rows]).T)[0]
        if signatures is not None:
            scores += self._label_agreement(
                signatures[position : position + 1], weights, scores[None], rows
            )[0]
        return [(int(rows[r]), score) for r, score in _top_k(scores, k)]

    def _checked_signatures(self, signatures: np.ndarray | None, count: int) -> np.ndarray | None:
        if signatures is None or self.signatures is None:
            return None
        signatures = np.atleast_2d(np.asarray(signatures, dtype=np.float32))
        if signatures.shape != (count, self.signatures.shape[1]):
            raise ValueError("query signatures do not match the index's signature layout")
        return signatures

    def _label_agreement(
        self,
        queries: np.ndarray,
        weights: Mapping[str, float],
        cosines: np.ndarray,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """:func:`label_agreement` of ``queries`` with every item, or only with ``rows``, with
        their ``cosines`` for the near-duplicate guard."""
        assert self.signatures is not None and self.signature_layout is not None
        stored = np.asarray(self.signatures if rows is None else self.signatures[rows])
        return label_agreement(queries, stored, self.signature_layout, weights, cosines)

    def signature(self, row: int) -> np.ndarray | None:
        """An item's stored label signature (None when the index has none)."""
        return None if self.signatures is None else np.array(self.signatures[row], np.float32)

    def vector(self, row: int) -> np.ndarray:
        return np.array(self.vectors[row], dtype=np.float32)


def _top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, len(scores))
    if k <= 0:
        return []
    candidates = np.argpartition(-scores, k - 1)[:k]
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [(int(r), float(scores[r])) for r in candidates if np.isfinite(scores[r])]


def read_manifest(path: Path) -> dict:
    """Read and sanity-check ``manifest.json``; refuse what this version cannot read."""
    if not path.exists():
        raise InvalidIndexError(f"Index not found: {path}")
    if not path.is_dir():
        raise InvalidIndexError(f"{path} is a file; an index is a folder made by `index build`.")
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise InvalidIndexError(
            f"{path} is not a Fashion Desktop index (no {MANIFEST_FILE}); build one with "
            "`fashion-desktop index build CATALOG --out INDEX`."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidIndexError(f"Index {path}: {MANIFEST_FILE} is unreadable ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise InvalidIndexError(f"{path} is not a Fashion Desktop index.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise InvalidIndexError(
            f"Index {path} has format version {version}; this Fashion Desktop reads version "
            f"{FORMAT_VERSION}." + (" Update the application." if newer else " Rebuild the index.")
        )
    required = ("model", "embedding_dim", "vector_dim", "count", "fields", "catalogue", "files")
    missing = [key for key in required if key not in manifest]
    if missing or "projection" not in manifest:
        raise InvalidIndexError(
            f"Index {path}: manifest lacks {', '.join(missing) or 'projection'}."
        )
    if manifest["embedding_dim"] != EMBEDDING_DIM:
        raise InvalidIndexError(
            f"Index {path} was built for {manifest['embedding_dim']}-d embeddings."
        )
    return manifest
