"""Building an index from a catalogue: batched inference, resumable, incremental.

Reading, hashing and decoding run in a small thread pool a few batches ahead of the model, so
the model never waits for JPEG decoding. Embeddings are checkpointed every few hundred images in
a staging folder beside the output (``.INDEX.building/``); an interrupted build resumes from
there, and the finished index replaces the old one in a single rename. Images are recognised
by the SHA-256 of their bytes, which is also how ``--update`` finds new or changed ones.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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
class _Prepared:
    item: CatalogueItem
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    pixels: np.ndarray | None = None
    error: str | None = None


def _stack_pixels(prepared: Sequence[_Prepared]) -> np.ndarray:
    """The model batch of decoded items (every one of them has its pixels by now)."""
    pixels = [p.pixels for p in prepared if p.pixels is not None]
    if len(pixels) != len(prepared):
        raise RuntimeError("an item reached the model undecoded")
    return np.stack(pixels)


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
) -> BuildReport:
    """Embed ``catalogue`` and write the index to ``out`` atomically.

    With ``update`` the existing index at ``out`` supplies embeddings of unchanged images. An
    interrupted build raises :class:`BuildInterruptedError` after checkpointing; calling again with
    the same arguments resumes.
    """
    out = Path(out).expanduser()
    check_output_folder(out)
    resolve_dim(dim, len(catalogue.items))  # refuse a bad --dim before any work
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
    embeddings: list[np.ndarray] = []
    pending: list[_Prepared] = []
    fresh_hashes: list[str] = []
    fresh_vectors: list[np.ndarray] = []

    def checkpoint() -> None:
        if fresh_hashes:
            _write_chunk(staging, fresh_hashes, np.stack(fresh_vectors))
            fresh_hashes.clear()
            fresh_vectors.clear()

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        vectors = embedder.embed_batch(_stack_pixels(pending))
        report.embed_seconds += time.perf_counter() - t0
        for prepared, vector in zip(pending, vectors, strict=True):
            known[prepared.sha256] = vector.astype(np.float16)
            fresh_hashes.append(prepared.sha256)
            fresh_vectors.append(vector)
        report.embedded += len(pending)
        pending.clear()
        if len(fresh_hashes) >= checkpoint_every:
            checkpoint()

    done = 0
    try:
        for prepared in _prepare_items(catalogue.items, known, embedder.batch_size):
            done += 1
            if prepared.error:
                report.skipped.append((str(prepared.item.image_path), prepared.error))
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
                if prepared.pixels is None:
                    report.reused += 1
                else:
                    pending.append(prepared)
                    if len(pending) >= embedder.batch_size:
                        flush()
            if progress and (done % embedder.batch_size == 0 or done == report.total):
                progress(
                    BuildProgress(
                        done,
                        report.total,
                        report.embedded,
                        report.reused,
                        len(report.skipped),
                        time.perf_counter() - started,
                    )
                )
        flush()
    except KeyboardInterrupt:
        pending.clear()
        checkpoint()
        raise BuildInterruptedError(
            f"Interrupted: {len(known):,} embeddings are saved in {staging}. Run the same command "
            "again to resume without redoing them."
        ) from None
    checkpoint()
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
    items: Sequence[CatalogueItem], known: dict[str, np.ndarray], batch_size: int
) -> Iterator[_Prepared]:
    """Read, hash and (only if not already known) decode items, in order, a few batches ahead."""

    def prepare(item: CatalogueItem) -> _Prepared:
        prepared = _Prepared(item)
        try:
            data = read_image_bytes(item.image_path)
            stat = item.image_path.stat()
            prepared.sha256 = sha256_bytes(data)
            prepared.size = stat.st_size
            prepared.mtime_ns = stat.st_mtime_ns
            if prepared.sha256 not in known:
                prepared.pixels = prepare_for_model(decode_image(data, item.image_path.name))
        except ImageError as error:
            prepared.error = str(error)
        except OSError as error:
            prepared.error = f"cannot read: {error}"
        return prepared

    window = max(4 * batch_size, 32)
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
        queue: deque[Future[_Prepared]] = deque()
        iterator = iter(items)
        for item in iterator:
            queue.append(pool.submit(prepare, item))
            if len(queue) >= window:
                break
        while queue:
            yield queue.popleft().result()
            nxt = next(iterator, None)
            if nxt is not None:
                queue.append(pool.submit(prepare, nxt))


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
    batch: list[_Prepared] = []

    def flush() -> None:
        if batch:
            vectors.append(embedder.embed_batch(_stack_pixels(batch)))
            embedded.extend((p.item, p.sha256) for p in batch)
            batch.clear()

    for done, prepared in enumerate(_prepare_items(items, {}, embedder.batch_size), start=1):
        if prepared.error:
            skipped.append((str(prepared.item.image_path), prepared.error))
        else:
            batch.append(prepared)
            if len(batch) >= embedder.batch_size:
                flush()
        if progress and (done % embedder.batch_size == 0 or done == len(items)):
            progress(
                BuildProgress(
                    done, len(items), len(embedded), 0, len(skipped), time.perf_counter() - started
                )
            )
    flush()
    raw = np.concatenate(vectors) if vectors else np.empty((0, EMBEDDING_DIM), np.float32)
    return embedded, raw, skipped
