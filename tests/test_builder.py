"""Building indexes: atomic replacement, interruption and resume, --update, --dim, refusals."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import (
    STYLES_FIELDS,
    garment_image,
    item_metadata,
    snapshot_tree,
    write_hostile_corpus,
)

from fashion_desktop.core.builder import (
    BuildInterruptedError,
    BuildProgress,
    build_index,
    resolve_dim,
)
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder, ModelIdentity
from fashion_desktop.core.errors import FashionDesktopError, InvalidIndexError
from fashion_desktop.core.imaging import image_from_pil
from fashion_desktop.core.index import (
    EMBEDDINGS_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    PROJECTION_FILE,
    VECTORS_FILE,
    EmbeddingIndex,
)
from fashion_desktop.core.search import SearchEngine

pytestmark = pytest.mark.model


class EmbedCounter:
    """Wraps ``embedder.embed_batch``: counts images, optionally interrupts after N calls."""

    def __init__(self, embedder: Embedder, interrupt_after: int | None = None) -> None:
        self.real = type(embedder).embed_batch.__get__(embedder)  # never another counter
        self.calls = 0
        self.images = 0
        self.interrupt_after = interrupt_after

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.images += len(images)
        return self.real(images)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch, small_batch_embedder) -> Callable[..., EmbedCounter]:
    def install(interrupt_after: int | None = None) -> EmbedCounter:
        counter = EmbedCounter(small_batch_embedder, interrupt_after)
        monkeypatch.setattr(small_batch_embedder, "embed_batch", counter)
        return counter

    return install


def open_index(path: Path) -> EmbeddingIndex:
    return EmbeddingIndex.open(path)


def ids_of(path: Path) -> list[str]:
    index = open_index(path)
    try:
        return [record[0] for record in index.all_records()]
    finally:
        index.close()


def leftovers(folder: Path) -> list[str]:
    """Hidden staging or backup folders left beside an index."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def rewrite_styles(folder: Path, indices: list[int]) -> None:
    with (folder / "styles.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, STYLES_FIELDS)
        writer.writeheader()
        writer.writerows(item_metadata(i) for i in indices)


# --------------------------------------------------------------------------- basic build
def test_build_writes_a_complete_index_and_nothing_else(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    counter = counting()
    progress: list[BuildProgress] = []
    report = build_index(
        read_catalogue(make_catalogue(range(10))),
        tmp_path / "index",
        small_batch_embedder,
        progress=progress.append,
    )
    assert (report.total, report.embedded, report.reused, report.removed) == (10, 10, 0, 0)
    assert report.indexed == 10 and report.skipped == [] and report.vector_dim == 2048
    assert counter.images == 10 and counter.calls == 3  # batches of 4, 4, 2
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == sorted(
        [MANIFEST_FILE, VECTORS_FILE, EMBEDDINGS_FILE, ITEMS_FILE]
    )
    assert leftovers(tmp_path) == []
    assert progress[-1].done == progress[-1].total == 10
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    manifest = json.loads((tmp_path / "index" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["count"] == 10 and manifest["catalogue"]["relative"] == "catalog"


def test_unreadable_images_are_skipped_with_a_reason(
    make_catalogue, tmp_path, small_batch_embedder
) -> None:
    folder = make_catalogue(range(6))
    (folder / "images" / "1002.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    (folder / "images" / "1003.jpg").write_bytes(b"")
    report = build_index(read_catalogue(folder), tmp_path / "index", small_batch_embedder)
    assert report.indexed == 4
    reasons = dict(report.skipped)
    assert (
        "damaged" in reasons[str(folder / "images" / "1002.jpg")]
        or "not an image" in (reasons[str(folder / "images" / "1002.jpg")])
    )
    assert "empty (0 bytes)" in reasons[str(folder / "images" / "1003.jpg")]
    assert ids_of(tmp_path / "index") == ["1000", "1001", "1004", "1005"]


def test_hostile_catalogue_indexes_exactly_the_readable_images(tmp_path, small_batch_embedder):
    folder = tmp_path / "hostile shop"
    expected = write_hostile_corpus(folder / "pics")
    with (folder / "catalogue.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "note"])
        writer.writerows([f"pics/{name}", name] for name in expected)
        writer.writerow(["pics/missing.jpg", "x"])
        writer.writerow(["../outside.jpg", "x"])
        handle.write("pics/good.jpg,too,many,fields\n")
    catalogue = read_catalogue(folder)
    assert catalogue.problem_summary() == {"missing-image": 1, "malformed-row": 2}
    report = build_index(catalogue, tmp_path / "index", small_batch_embedder)
    readable = sorted(f"pics/{n}" for n, fragment in expected.items() if fragment is None)
    assert sorted(ids_of(tmp_path / "index")) == readable
    skipped = {Path(path).name: reason for path, reason in report.skipped}
    assert skipped.keys() == {n for n, fragment in expected.items() if fragment}
    for name, reason in skipped.items():
        assert name in reason and expected[name] in reason
    assert len(report.catalogue_problems) == 3 and leftovers(tmp_path) == []


def test_nothing_readable_writes_nothing(make_catalogue, tmp_path, small_batch_embedder) -> None:
    folder = make_catalogue(range(3))
    for image in (folder / "images").iterdir():
        image.write_bytes(b"nope")
    with pytest.raises(FashionDesktopError, match="No image of the catalogue could be read"):
        build_index(read_catalogue(folder), tmp_path / "index", small_batch_embedder)
    assert not (tmp_path / "index").exists()


def test_rebuild_replaces_the_old_index_atomically(make_catalogue, tmp_path, small_batch_embedder):
    out = tmp_path / "index"
    build_index(read_catalogue(make_catalogue(range(5), "a")), out, small_batch_embedder)
    build_index(read_catalogue(make_catalogue(range(7), "b")), out, small_batch_embedder)
    assert len(ids_of(out)) == 7
    assert leftovers(tmp_path) == []  # no staging folder, no backup of the old index


# ---------------------------------------------------------------------------- refusals
def test_out_folder_with_other_files_is_refused_untouched(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    out = tmp_path / "my documents"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    (out / "sub").mkdir()
    (out / "sub" / "photo.jpg").write_bytes(b"also precious")
    before = snapshot_tree(out)
    counter = counting()
    with pytest.raises(InvalidIndexError) as error:
        build_index(read_catalogue(make_catalogue(range(3))), out, small_batch_embedder)
    assert "is not a Fashion Desktop index" in str(error.value) and str(out) in str(error.value)
    assert snapshot_tree(out) == before
    assert counter.calls == 0 and leftovers(tmp_path) == []


def test_out_that_is_a_file_is_refused(make_catalogue, tmp_path, small_batch_embedder) -> None:
    out = tmp_path / "index"
    out.write_bytes(b"keep me")
    with pytest.raises(InvalidIndexError, match="choose another --out folder"):
        build_index(read_catalogue(make_catalogue(range(3))), out, small_batch_embedder)
    assert out.read_bytes() == b"keep me"


def test_empty_out_folder_is_fine(make_catalogue, tmp_path, small_batch_embedder) -> None:
    out = tmp_path / "index"
    out.mkdir()
    build_index(read_catalogue(make_catalogue(range(3))), out, small_batch_embedder)
    assert len(ids_of(out)) == 3


@pytest.mark.parametrize("dim", ["abc", "-3", -3, "1.5"])
def test_invalid_dim_is_refused_before_any_work(
    make_catalogue, tmp_path, small_batch_embedder, counting, dim
) -> None:
    counter = counting()
    with pytest.raises(FashionDesktopError, match="dim"):
        build_index(
            read_catalogue(make_catalogue(range(3))), tmp_path / "i", small_batch_embedder, dim=dim
        )
    assert counter.calls == 0
    assert not (tmp_path / "i").exists() and leftovers(tmp_path) == []


def test_dim_larger_than_the_items_is_explained(make_catalogue, tmp_path, small_batch_embedder):
    with pytest.raises(InvalidIndexError, match="Cannot project 5 items to 8 dimensions"):
        build_index(
            read_catalogue(make_catalogue(range(5))), tmp_path / "i", small_batch_embedder, dim=8
        )
    assert not (tmp_path / "i").exists()


def test_resolve_dim() -> None:
    assert resolve_dim("auto", 100) is None
    assert resolve_dim("auto", 10_000) == 256
    assert resolve_dim("full", 10_000) is None
    assert resolve_dim(None, 10) is None
    assert resolve_dim("0", 10) is None
    assert resolve_dim("64", 10) == 64
    assert resolve_dim(4096, 10) is None


# ------------------------------------------------------------------------- projection
def test_projected_index_searches_in_the_smaller_space(
    tiny_catalogue_dir, tmp_path, small_batch_embedder
) -> None:
    out = tmp_path / "index"
    report = build_index(read_catalogue(tiny_catalogue_dir), out, small_batch_embedder, dim=8)
    assert report.vector_dim == 8
    assert (out / PROJECTION_FILE).is_file()
    index = open_index(out)
    try:
        assert index.manifest["projection"] == "pca" and index.manifest["vector_dim"] == 8
        assert index.vectors.shape == (20, 8) and index.projection.dim == 8
        np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)
        assert index.raw_embeddings().shape == (20, 2048)  # kept for re-projection / --update
        engine = SearchEngine(index, small_batch_embedder)
        [response] = engine.search_images([image_from_pil(garment_image(4), "q")], k=5)
        assert len(response.hits) == 5 and response.vector.shape == (8,)
        hits = engine.search_item("1003", k=5).hits
        assert len(hits) == 5 and "1003" not in [h.item_id for h in hits]
    finally:
        index.close()
    flipped = bytearray((out / PROJECTION_FILE).read_bytes())
    flipped[-20] ^= 0xFF
    (out / PROJECTION_FILE).write_bytes(bytes(flipped))
    with pytest.raises(InvalidIndexError, match=r"projection\.npz does not match its checksum"):
        open_index(out)


# ----------------------------------------------------------------- interruption / resume
def test_interrupted_build_keeps_the_old_index_and_resumes(
    make_catalogue, tmp_path, small_batch_embedder, tiny_index_dir, counting
) -> None:
    out = tmp_path / "index"
    build_index(read_catalogue(make_catalogue(range(20, 26), "old")), out, small_batch_embedder)
    before = snapshot_tree(out)
    catalogue = read_catalogue(make_catalogue(range(20), "new"))

    counter = counting(interrupt_after=2)  # two batches of 4 finish, the third is interrupted
    with pytest.raises(BuildInterruptedError) as error:
        build_index(catalogue, out, small_batch_embedder)
    assert "8 embeddings are saved" in str(error.value)
    assert "again to resume" in str(error.value)
    assert snapshot_tree(out) == before, "the previous index must be untouched"
    assert ids_of(out) == [str(1000 + i) for i in range(20, 26)]
    staging = tmp_path / ".index.building"
    assert staging.is_dir() and list((staging / "chunks").glob("chunk-*.npz"))

    counter = counting()
    report = build_index(catalogue, out, small_batch_embedder)
    assert counter.images == 12, "finished images must not be embedded again"
    assert (report.embedded, report.reused) == (12, 8)
    assert ids_of(out) == [str(1000 + i) for i in range(20)]
    assert not staging.exists() and leftovers(tmp_path) == []
    # The resumed index holds the same vectors as a build that was never interrupted.
    resumed, fresh = open_index(out), open_index(tiny_index_dir)
    try:
        np.testing.assert_allclose(resumed.vectors, fresh.vectors, atol=2e-3)
    finally:
        resumed.close()
        fresh.close()


def test_interrupt_before_the_first_batch(make_catalogue, tmp_path, small_batch_embedder, counting):
    counting(interrupt_after=0)
    with pytest.raises(BuildInterruptedError, match="0 embeddings are saved"):
        build_index(read_catalogue(make_catalogue(range(6))), tmp_path / "i", small_batch_embedder)
    assert not (tmp_path / "i").exists()


def test_staging_left_by_another_model_is_discarded(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    staging = tmp_path / ".index.building"
    (staging / "chunks").mkdir(parents=True)
    (staging / "build.json").write_text(json.dumps({"fingerprint": "0" * 64}), encoding="utf-8")
    catalogue = read_catalogue(make_catalogue(range(6)))
    sha = __import__("hashlib").sha256(catalogue.items[0].image_path.read_bytes()).hexdigest()
    np.savez(
        staging / "chunks" / "chunk-000000.npz",
        sha256=np.array([sha]),
        embeddings=np.zeros((1, 2048), np.float16),
    )
    counter = counting()
    report = build_index(catalogue, tmp_path / "index", small_batch_embedder)
    assert counter.images == 6 and report.reused == 0
    assert not staging.exists()


def test_corrupted_checkpoint_restarts_the_build(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    catalogue = read_catalogue(make_catalogue(range(6)))
    counting(interrupt_after=1)
    with pytest.raises(BuildInterruptedError):
        build_index(catalogue, tmp_path / "index", small_batch_embedder)
    [chunk] = (tmp_path / ".index.building" / "chunks").glob("chunk-*.npz")
    chunk.write_bytes(chunk.read_bytes()[:50])
    counter = counting()
    report = build_index(catalogue, tmp_path / "index", small_batch_embedder)
    assert counter.images == 6 and report.embedded == 6
    assert len(ids_of(tmp_path / "index")) == 6


# ------------------------------------------------------------------------------ update
def test_update_embeds_only_new_and_changed_images(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    folder = make_catalogue(range(12))
    out = tmp_path / "index"
    build_index(read_catalogue(folder), out, small_batch_embedder)
    old = open_index(out)
    old_vectors = {r[0]: np.array(old.vectors[i]) for i, r in enumerate(old.all_records())}
    old.close()

    for removed in (3, 4):
        (folder / "images" / f"{1000 + removed}.jpg").unlink()
    garment_image(105).save(folder / "images" / "1005.jpg", quality=92)  # changed picture
    for new in (20, 21, 22):
        garment_image(new).save(folder / "images" / f"{1000 + new}.jpg", quality=92)
    rewrite_styles(folder, [i for i in range(12) if i not in (3, 4)] + [20, 21, 22])

    counter = counting()
    report = build_index(read_catalogue(folder), out, small_batch_embedder, update=True)
    assert counter.images == 4, "only the 3 new and 1 changed images may be embedded"
    assert (report.embedded, report.reused, report.removed) == (4, 9, 2)
    assert report.total == 13 and report.indexed == 13
    ids = ids_of(out)
    assert "1003" not in ids and "1004" not in ids and {"1020", "1021", "1022"} <= set(ids)
    index = open_index(out)
    try:
        for row, (item_id, *_rest) in enumerate(index.all_records()):
            if item_id in old_vectors and item_id != "1005":
                np.testing.assert_array_equal(index.vectors[row], old_vectors[item_id])
        changed = index.vectors[index.row_of("1005")]
        assert not np.allclose(changed, old_vectors["1005"], atol=1e-4)
    finally:
        index.close()
    assert leftovers(tmp_path) == []


def test_update_without_an_index_builds_one(make_catalogue, tmp_path, small_batch_embedder):
    report = build_index(
        read_catalogue(make_catalogue(range(3))), tmp_path / "i", small_batch_embedder, update=True
    )
    assert (report.embedded, report.reused, report.removed) == (3, 0, 0)
    assert ids_of(tmp_path / "i") == ["1000", "1001", "1002"]


def test_update_refuses_an_index_of_another_model(
    make_catalogue, tmp_path, small_batch_embedder, counting
) -> None:
    folder = make_catalogue(range(5))
    out = tmp_path / "index"
    build_index(read_catalogue(folder), out, small_batch_embedder)
    before = snapshot_tree(out)
    other = Embedder(
        small_batch_embedder.network,
        ModelIdentity("ef" * 32, "other-model.npz"),
        None,
        batch_size=4,
    )
    with pytest.raises(InvalidIndexError) as error:
        build_index(read_catalogue(folder), out, other, update=True)
    assert "other-model.npz" in str(error.value) and "random-init" in str(error.value)
    assert snapshot_tree(out) == before


def test_update_of_a_corrupted_index_is_refused(make_catalogue, tmp_path, small_batch_embedder):
    folder = make_catalogue(range(5))
    out = tmp_path / "index"
    build_index(read_catalogue(folder), out, small_batch_embedder)
    raw = out / EMBEDDINGS_FILE
    raw.write_bytes(raw.read_bytes()[:-100] + b"\x00" * 100)
    before = snapshot_tree(out)
    with pytest.raises(InvalidIndexError, match="missing or corrupted"):
        build_index(read_catalogue(folder), out, small_batch_embedder, update=True)
    assert snapshot_tree(out) == before


def test_copied_index_updates_in_its_new_place(
    tiny_index_dir, tmp_path, small_batch_embedder, counting
) -> None:
    # An index and catalogue moved together keep working and can be updated there: every
    # embedding is reused (the images are recognised by their bytes) and nothing is re-embedded.
    shutil.copytree(tiny_index_dir.parent / "catalog", tmp_path / "catalog")
    shutil.copytree(tiny_index_dir, tmp_path / "index")
    counter = counting()
    report = build_index(
        read_catalogue(tmp_path / "catalog"), tmp_path / "index", small_batch_embedder, update=True
    )
    assert (report.embedded, report.reused, report.removed) == (0, 20, 0)
    assert counter.images == 0
    index = open_index(tmp_path / "index")
    try:
        assert index.catalogue_root == (tmp_path / "catalog").resolve()
        images = [Path(image) for _, image, *_ in index.all_records()]
        assert all(image.is_relative_to(tmp_path / "catalog") for image in images)
        original = open_index(tiny_index_dir)
        try:
            np.testing.assert_array_equal(index.vectors, original.vectors)
        finally:
            original.close()
    finally:
        index.close()
    assert leftovers(tmp_path) == []
