"""Building an index from a catalogue: batched inference, resumable, incremental.

Reading, hashing and decoding run in a small thread pool a few batches ahead of the model, so
the model never waits for JPEG decoding. Embeddings are checkpointed every few hundred images in
a staging folder beside the output (``.INDEX.building/``); an interrupted build resumes from
there, and the finished index replaces the old one in a single rename. Images are recognised
by the SHA-256 of their bytes, which is also how ``--update`` finds new or changed ones.

Everything but the embedding of the pending images (new or changed) is shared by every build:
the scan that decides what needs embedding, the checkpoints, the index written and swapped in. An
:class:`EmbeddingEngine` embeds the pending images: :class:`LocalEngine` in this process (the
default), or the Ray engine of :mod:`fashion_desktop.core.distributed` on a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from fashion_desktop.core.atomic import atomic_file, replace_directory, write_text_atomic
from fashion_desktop.core.catalogue import Catalogue, CatalogueItem, CatalogueProblem
from fashion_desktop.core.embedder import EMBEDDING_DIM, Embedder
from fashion_desktop.core.errors import FashionDesktopError, ImageError, InvalidIndexError
from fashion_desktop.core.imaging import (
    decode_image,
    prepare_for_model,
    read_image_bytes,
    sha256_bytes,
)
from fashion_desktop.core.index import (
    DEFAULT_PROJECTED_DIM,
    MANIFEST_FILE,
    PROJECT_ABOVE_ITEMS,
    EmbeddingIndex,
    ItemRecord,
    write_index,
)

CHECKPOINT_EVERY = 256
DECODE_THREADS = 2


@dataclass
class BuildProgress:
    done: int
    total: int
    embedded: int
    reused: int
    skipped: int
    elapsed_s: float


@dataclass
class BuildReport:
    total: int = 0
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    catalogue_problems: list[CatalogueProblem] = field(default_factory=list)
    elapsed_s: float = 0.0
    embed_seconds: float = 0.0
    vector_dim: int = EMBEDDING_DIM

    @property
    def indexed(self) -> int:
        return self.embedded + self.reused

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.elapsed_s if self.elapsed_s else 0.0


class BuildInterruptedError(FashionDesktopError):
    """Ctrl-C during a build: finished work is kept for the next run to resume."""


@dataclass
class PreparedItem:
    """One catalogue item after the scan: its file's hash and stat, whether it must be embedded
    (``pending``: its hash is not known yet), its model input where the scan decoded it, or why
    it cannot be read. ``position`` is the item's place in the catalogue."""

    item: CatalogueItem
    position: int = 0
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    pending: bool = False
    pixels: np.ndarray | None = None
    error: str | None = None


@dataclass
class EmbeddedBatch:
    """Pending items an engine has embedded (``vectors`` row for row), and those it could not
    decode with the reason (reported and skipped, as the scan's own unreadable files)."""

    items: list[PreparedItem]
    vectors: np.ndarray
    failures: list[tuple[PreparedItem, str]] = field(default_factory=list)
    embed_seconds: float = 0.0


class EmbeddingEngine(Protocol):
    """How a build embeds its pending images: the one thing engines differ in.

    The build hands each pending item to :meth:`submit` in catalogue order, then calls
    :meth:`finish` once; both return the batches embedded so far, which the build checkpoints as
    they arrive, in any order. ``decodes`` says whether the scan should decode pending images
    ahead of the engine (its decode thread pool) or leave that to the engine.
    """

    decodes: bool

    def submit(self, item: PreparedItem) -> Iterable[EmbeddedBatch]: ...

    def finish(self) -> Iterable[EmbeddedBatch]: ...


class LocalEngine:
    """The single-process engine: batches of the embedder's size, decoded ahead by the scan."""

    decodes = True

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._batch: list[PreparedItem] = []

    def submit(self, item: PreparedItem) -> list[EmbeddedBatch]:
        self._batch.append(item)
        return [self._flush()] if len(self._batch) >= self.embedder.batch_size else []

    def finish(self) -> list[EmbeddedBatch]:
        return [self._flush()] if self._batch else []

    def _flush(self) -> EmbeddedBatch:
        batch, self._batch = self._batch, []
        t0 = time.perf_counter()
        vectors = self.embedder.embed_batch(_stack_pixels(batch))
        return EmbeddedBatch(batch, vectors, embed_seconds=time.perf_counter() - t0)


def _stack_pixels(prepared: Sequence[PreparedItem]) -> np.ndarray:
    """The model batch of decoded items (every one of them has its pixels by now)."""
    pixels = [p.pixels for p in prepared if p.pixels is not None]
    if len(pixels) != len(prepared):
        raise RuntimeError("an item reached the model undecoded")
    return np.stack(pixels)


def failure_reason(error: ImageError | OSError) -> str:
    """What the build reports for an image it cannot use (the same from every engine)."""
    return str(error) if isinstance(error, ImageError) else f"cannot read: {error}"


def load_pending_image(path: Path, sha256: str) -> np.ndarray:
    """A pending image's model input, read again where it is embedded (an engine's worker).

    The bytes must still be the ones the scan hashed; raises :class:`ImageError` or ``OSError``
    (give either to :func:`failure_reason`).
    """
    data = read_image_bytes(path)
    if sha256_bytes(data) != sha256:
        raise ImageError(f"{path.name} changed during the build; run it again to index it.")
    return prepare_for_model(decode_image(data, path.name))


def resolve_dim(dim: int | str | None, count: int) -> int | None:
    """``auto`` projects only indexes large enough for full vectors to cost real memory."""
    if dim in (None, "full", 0, "0"):
        return None
    if dim == "auto":
        return DEFAULT_PROJECTED_DIM if count > PROJECT_ABOVE_ITEMS else None
    try:
        value = int(dim)
    except (TypeError, ValueError):
        raise FashionDesktopError(
            f"--dim must be auto, full or a number of dimensions, not {dim!r}."
        ) from None
    if value < 0:
        raise FashionDesktopError(f"--dim must be a positive number of dimensions, not {value}.")
    return None if value == 0 or value >= EMBEDDING_DIM else value


def build_index(
    catalogue: Catalogue,
    out: str | os.PathLike[str],
    embedder: Embedder,
    *,
    update: bool = False,
    dim: int | str | None = "auto",
    progress: Callable[[BuildProgress], None] | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    engine: EmbeddingEngine | None = None,
    ann: str = "auto",
) -> BuildReport:
    """Embed ``catalogue`` and write the index to ``out`` atomically.

    With ``update`` the existing index at ``out`` supplies embeddings of unchanged images. An
    interrupted build raises :class:`BuildInterruptedError` after checkpointing; calling again with
    the same arguments resumes. ``engine`` embeds the pending images (default: a
    :class:`LocalEngine` over ``embedder``, whose identity and heads the index records either way).
    ``ann`` (auto/on/off) decides the index's approximate-nearest-neighbour structure
    (:func:`fashion_desktop.core.index.write_index`).
    """
    out = Path(out).expanduser()
    check_output_folder(out)
    resolve_dim(dim, len(catalogue.items))  # refuse a bad --dim before any work
    engine = engine if engine is not None else LocalEngine(embedder)
    started = time.perf_counter()
    staging = out.parent / f".{out.name}.building"
    known = _resume_or_start(staging, embedder)
    report = BuildReport(catalogue_problems=list(catalogue.problems), total=len(catalogue.items))
    if update and out.exists():
        old = EmbeddingIndex.open(out)
        try:
            old.check_model(embedder.identity)
            raw = old.raw_embeddings()
            old_records = old.all_records()
            for row, (_, _, sha, _, _) in enumerate(old_records):
                known.setdefault(sha, np.asarray(raw[row]))
            current = {item.item_id for item in catalogue.items}
            report.removed = sum(1 for item_id, *_ in old_records if item_id not in current)
        finally:
            old.close()

    records: list[ItemRecord] = []
    # (catalogue position, image, reason): reported in catalogue order whenever they were found.
    skipped: list[tuple[int, str, str]] = []
    failed: set[str] = set()
    fresh_hashes: list[str] = []
    fresh_vectors: list[np.ndarray] = []
    scanned = 0

    def checkpoint() -> None:
        if fresh_hashes:
            _write_chunk(staging, fresh_hashes, np.stack(fresh_vectors))
            fresh_hashes.clear()
            fresh_vectors.clear()

    def report_progress() -> None:
        if progress:
            settled = report.embedded + report.reused + len(skipped)
            progress(
                BuildProgress(
                    settled,
                    report.total,
                    report.embedded,
                    report.reused,
                    len(skipped),
                    time.perf_counter() - started,
                )
            )

    def absorb(batches: Iterable[EmbeddedBatch]) -> None:
        for batch in batches:
            report.embed_seconds += batch.embed_seconds
            for prepared, vector in zip(batch.items, batch.vectors, strict=True):
                known[prepared.sha256] = np.asarray(vector).astype(np.float16)
                fresh_hashes.append(prepared.sha256)
                fresh_vectors.append(vector)
            for prepared, reason in batch.failures:
                failed.add(prepared.sha256)
                skipped.append((prepared.position, str(prepared.item.image_path), reason))
            report.embedded += len(batch.items)
            if len(fresh_hashes) >= checkpoint_every:
                checkpoint()
            report_progress()

    try:
        items = _prepare_items(catalogue.items, known, embedder.batch_size, decode=engine.decodes)
        # closed here, on this thread, even when interrupted: a scan left to the garbage
        # collector shuts its decoding threads down wherever the collector happens to run
        # (inside another thread's start-up once, which deadlocked).
        with closing(items):
            for prepared in items:
                scanned += 1
                if prepared.error:
                    skipped.append(
                        (prepared.position, str(prepared.item.image_path), prepared.error)
                    )
                else:
                    records.append(
                        ItemRecord(
                            prepared.item.item_id,
                            prepared.item.image_path,
                            prepared.sha256,
                            prepared.size,
                            prepared.mtime_ns,
                            prepared.item.metadata,
                        )
                    )
                    if prepared.pending:
                        absorb(engine.submit(prepared))
                    else:
                        report.reused += 1
                if scanned % embedder.batch_size == 0:
                    report_progress()
        absorb(engine.finish())
    except KeyboardInterrupt:
        checkpoint()
        raise BuildInterruptedError(
            f"Interrupted: {len(known):,} embeddings are saved in {staging}. Run the same command "
            "again to resume without redoing them."
        ) from None
    except Exception:
        checkpoint()  # an engine that failed: what it finished is kept for the next run
        raise
    checkpoint()
    report_progress()
    report.skipped = [(path, reason) for _, path, reason in sorted(skipped)]
    records = [record for record in records if record.sha256 not in failed]
    if not records:
        raise FashionDesktopError("No image of the catalogue could be read; nothing to index.")
    embeddings = [known[record.sha256] for record in records]
    target_dim = resolve_dim(dim, len(records))
    final = staging / "index"
    if final.exists():
        shutil.rmtree(final)
    write_index(
        final,
        records=records,
        raw_embeddings=np.stack(embeddings),
        identity=embedder.identity,
        catalogue_root=catalogue.root,
        fields=[f for f in catalogue.fields if f not in {"image"}],
        dim=target_dim,
        final_path=out,
        heads=embedder.heads,
        ann=ann,
    )
    replace_directory(final, out)
    shutil.rmtree(staging, ignore_errors=True)
    report.vector_dim = target_dim or EMBEDDING_DIM
    report.elapsed_s = time.perf_counter() - started
    return report


def check_output_folder(out: Path) -> None:
    """Refuse to build into a folder that holds something other than an index."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST_FILE).exists())
    ):
        raise InvalidIndexError(
            f"{out} exists and is not a Fashion Desktop index; choose another --out folder so "
            "nothing there is overwritten."
        )


def _resume_or_start(staging: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """Embeddings already computed by an interrupted build with the same model."""
    state_file = staging / "build.json"
    known: dict[str, np.ndarray] = {}
    if staging.exists():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            if state.get("fingerprint") != embedder.identity.fingerprint:
                raise ValueError("another model")
            for chunk in sorted((staging / "chunks").glob("chunk-*.npz")):
                with np.load(chunk, allow_pickle=False) as archive:
                    for sha, vector in zip(archive["sha256"], archive["embeddings"], strict=True):
                        known[str(sha)] = vector
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            shutil.rmtree(staging, ignore_errors=True)
            known.clear()
    (staging / "chunks").mkdir(parents=True, exist_ok=True)
    write_text_atomic(state_file, json.dumps({"fingerprint": embedder.identity.fingerprint}))
    return known


def _write_chunk(staging: Path, hashes: Sequence[str], vectors: np.ndarray) -> None:
    chunks = staging / "chunks"
    number = len(list(chunks.glob("chunk-*.npz")))
    with atomic_file(chunks / f"chunk-{number:06d}.npz", "wb") as handle:
        np.savez(handle, sha256=np.array(hashes, dtype=str), embeddings=vectors.astype(np.float16))


def _prepare_items(
    items: Sequence[CatalogueItem],
    known: dict[str, np.ndarray],
    batch_size: int,
    *,
    decode: bool = True,
) -> Generator[PreparedItem, None, None]:
    """Read and hash items, in order, a few batches ahead: the one place a build decides what it
    must embed (an image whose SHA-256 is not known yet). With ``decode`` the pending ones are
    decoded for the model here too."""

    def prepare(position: int, item: CatalogueItem) -> PreparedItem:
        prepared = PreparedItem(item, position)
        try:
            data = read_image_bytes(item.image_path)
            stat = item.image_path.stat()
            prepared.sha256 = sha256_bytes(data)
            prepared.size = stat.st_size
            prepared.mtime_ns = stat.st_mtime_ns
            prepared.pending = prepared.sha256 not in known
            if prepared.pending and decode:
                prepared.pixels = prepare_for_model(decode_image(data, item.image_path.name))
        except (ImageError, OSError) as error:
            prepared.error = failure_reason(error)
        return prepared

    window = max(4 * batch_size, 32)
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
        queue: deque[Future[PreparedItem]] = deque()
        iterator = enumerate(items)
        for position, item in iterator:
            queue.append(pool.submit(prepare, position, item))
            if len(queue) >= window:
                break
        try:
            while queue:
                yield queue.popleft().result()
                nxt = next(iterator, None)
                if nxt is not None:
                    queue.append(pool.submit(prepare, *nxt))
        finally:  # closed early (interrupted, failed): images not yet started are not read
            for future in queue:
                future.cancel()


def embed_items(
    items: Sequence[CatalogueItem],
    embedder: Embedder,
    progress: Callable[[BuildProgress], None] | None = None,
) -> tuple[list[tuple[CatalogueItem, str]], np.ndarray, list[tuple[str, str]]]:
    """Embed catalogue items in batches (no index): (item, sha256) pairs, raw vectors, skipped."""
    started = time.perf_counter()
    embedded: list[tuple[CatalogueItem, str]] = []
    vectors: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    batch: list[PreparedItem] = []

    def flush() -> None:
        if batch:
            vectors.append(embedder.embed_batch(_stack_pixels(batch)))
            embedded.extend((p.item, p.sha256) for p in batch)
            batch.clear()

    with closing(_prepare_items(items, {}, embedder.batch_size)) as scan:
        for done, prepared in enumerate(scan, start=1):
            if prepared.error:
                skipped.append((str(prepared.item.image_path), prepared.error))
            else:
                batch.append(prepared)
                if len(batch) >= embedder.batch_size:
                    flush()
            if progress and (done % embedder.batch_size == 0 or done == len(items)):
                elapsed = time.perf_counter() - started
                progress(BuildProgress(done, len(items), len(embedded), 0, len(skipped), elapsed))
    flush()
    raw = np.concatenate(vectors) if vectors else np.empty((0, EMBEDDING_DIM), np.float32)
    return embedded, raw, skipped
