"""The optional ANN structure of large indexes (issue 15): candidates, filters, re-ranking.

No model: indexes are written with ``write_index`` from toy embeddings
(:func:`fd_testdata.write_toy_index`), with the structure forced on (``ann="on"``) where the
toy index is far below :data:`~fashion_desktop.core.ann.ANN_ABOVE_ITEMS`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import REPO_ROOT, item_metadata, toy_embeddings, toy_heads, write_toy_index

from fashion_desktop.core.ann import (
    ANN_ABOVE_ITEMS,
    ANN_FILE,
    AnnSettings,
    item_rows,
    query_rows,
    wants_ann,
)
from fashion_desktop.core.errors import InvalidIndexError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.index import MANIFEST_FILE, EmbeddingIndex, set_ann
from fashion_desktop.core.scoring import DEFAULT_SCORING

SMALL = 40
LARGE = 1500


def clustered_catalogue(
    count: int, clusters: int = 30, seed: int = 0
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Items around ``clusters`` centres, as catalogue embeddings are (many look alike), each
    with its cluster's catalogue labels (items that look alike share them)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, 48)) * 3
    cluster = rng.integers(clusters, size=count)
    embeddings = (centres[cluster] + rng.standard_normal((count, 48))).astype(np.float32)
    metadata = [item_metadata(int(c)) | {"id": str(1000 + n)} for n, c in enumerate(cluster)]
    return embeddings, metadata


def rows_of(hits: list[tuple[int, float]]) -> list[int]:
    return [row for row, _ in hits]


def label_weights(index: EmbeddingIndex) -> dict[str, float]:
    layout = index.signature_layout
    return DEFAULT_SCORING.agreement_weights(False, layout, layout)


@pytest.fixture(scope="module")
def small_ann_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 items with label signatures and an ANN structure forced on: one list, every item a
    candidate, so the search must equal exact search."""
    root = tmp_path_factory.mktemp("small-ann")
    metadata = [item_metadata(i) for i in range(SMALL)]
    return write_toy_index(
        root / "index", toy_embeddings(SMALL, seed=3), metadata, heads=toy_heads(1), ann="on"
    )


@pytest.fixture(scope="module")
def large_ann_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 clustered items with signatures and the default ANN settings of their size."""
    root = tmp_path_factory.mktemp("large-ann")
    embeddings, metadata = clustered_catalogue(LARGE)
    return write_toy_index(
        root / "index", embeddings, metadata, heads=toy_heads(2), ann="on", dim=32
    )


@pytest.fixture
def small_ann(small_ann_dir: Path):
    index = EmbeddingIndex.open(small_ann_dir)
    yield index
    index.close()


@pytest.fixture
def large_ann(large_ann_dir: Path):
    index = EmbeddingIndex.open(large_ann_dir)
    yield index
    index.close()


# ------------------------------------------------------------------------ the structure
def test_threshold_modes() -> None:
    assert not wants_ann("auto", ANN_ABOVE_ITEMS) and wants_ann("auto", ANN_ABOVE_ITEMS + 1)
    assert wants_ann("on", 1) and not wants_ann("off", 10 * ANN_ABOVE_ITEMS)
    with pytest.raises(ValueError, match="auto, on, off"):
        wants_ann("sometimes", 5)


def test_below_the_threshold_there_is_no_ann_and_search_is_exact(tmp_path: Path) -> None:
    raw = toy_embeddings(SMALL)
    path = write_toy_index(tmp_path / "index", raw, [item_metadata(i) for i in range(SMALL)])
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert "ann" not in manifest and ANN_FILE not in manifest["files"]
    assert not (path / ANN_FILE).exists()
    index = EmbeddingIndex.open(path)
    assert index.ann is None
    vectors = np.asarray(index.vectors)
    for query in vectors[:5]:
        expected = np.argsort(-(vectors @ query), kind="stable")[:5].tolist()
        assert rows_of(index.search(query, 5)) == expected
    index.close()


def test_manifest_records_the_structure_and_its_recall(small_ann_dir: Path) -> None:
    manifest = json.loads((small_ann_dir / MANIFEST_FILE).read_text())
    ann = manifest["ann"]
    assert ann["kind"] == "faiss-ivf-pq" and ann["file"] == ANN_FILE
    assert ann["library"].startswith("faiss ")
    assert AnnSettings.from_json(ann["settings"]).lists == 1
    assert ann["recall_at_5"] == 1.0 and ann["recall_at_5_labels"] == 1.0
    assert ann["recall_queries"] == SMALL
    assert manifest["files"][ANN_FILE]["bytes"] == (small_ann_dir / ANN_FILE).stat().st_size


def test_large_index_recall_measured_at_build_time(large_ann: EmbeddingIndex) -> None:
    ann = large_ann.manifest["ann"]
    settings = AnnSettings.from_json(ann["settings"])
    assert settings.lists > 1 and settings.probes < settings.lists
    assert ann["recall_at_5"] >= 0.9 and ann["recall_at_5_labels"] >= 0.9


# ------------------------------------------------------------------- search equals exact
def test_every_item_a_candidate_gives_exactly_the_exact_results(small_ann: EmbeddingIndex):
    assert small_ann.ann is not None
    queries = np.asarray(small_ann.vectors[:10]) + 0.01
    weights = label_weights(small_ann)
    signatures = np.asarray(small_ann.signatures)[5:15]
    for options in (
        {},
        {"filters": Filters.of({"gender": "Women"})},
        {"exclude_rows": [{row, row + 1} for row in range(10)]},
        {"signatures": signatures, "head_weights": weights},
        {
            "signatures": signatures,
            "head_weights": weights,
            "filters": Filters.of({"articleType": ["Jeans", "Shirts"]}),
            "exclude_rows": [{row} for row in range(10)],
        },
    ):
        approximate = small_ann.search_many(queries, 7, **options)
        exact = small_ann.search_many(queries, 7, exact=True, **options)
        assert [rows_of(a) for a in approximate] == [rows_of(e) for e in exact], options
        for a, e in zip(approximate, exact, strict=True):
            assert [s for _, s in a] == pytest.approx([s for _, s in e], abs=1e-5)


def test_exhaustive_probes_and_pool_equal_exact_on_a_larger_index(tmp_path: Path) -> None:
    settings = AnnSettings(16, 8, 8, probes=16, candidates=LARGE, label_candidates=LARGE)
    embeddings, metadata = clustered_catalogue(LARGE, seed=5)
    path = write_toy_index(
        tmp_path / "index",
        embeddings,
        metadata,
        heads=toy_heads(3),
        ann="on",
        ann_settings=settings,
        dim=32,
    )
    index = EmbeddingIndex.open(path)
    assert index.manifest["ann"]["recall_at_5"] == 1.0
    queries = np.asarray(index.vectors[100:120])
    signatures = np.asarray(index.signatures)[100:120]
    exclude = [{100 + n} for n in range(20)]
    for weights in ({}, label_weights(index)):
        sig = signatures if weights else None
        approximate = index.search_many(
            queries, 5, exclude_rows=exclude, signatures=sig, head_weights=weights
        )
        exact = index.search_many(
            queries, 5, exclude_rows=exclude, signatures=sig, head_weights=weights, exact=True
        )
        assert [rows_of(a) for a in approximate] == [rows_of(e) for e in exact]
    index.close()


def test_rows_of_an_index_with_heads_hold_the_label_signatures(large_ann) -> None:
    """The structure's inner product is the cosine plus the weighted cosine of the two
    signatures, head by head: label-aware candidates for a label-aware ranking."""
    assert large_ann.ann is not None and large_ann.signature_layout is not None
    settings = large_ann.ann.settings
    layout = large_ann.signature_layout
    assert settings.signature_width == layout.width
    assert "label signatures" in settings.describe()
    assert settings.row_width(32) % settings.subquantizers == 0
    weights = label_weights(large_ann)
    vectors = np.asarray(large_ann.vectors[:6])
    signatures = np.asarray(large_ann.signatures)[:6]
    items = item_rows(vectors, signatures, layout.slices(), settings)
    queries = query_rows(vectors[:2], signatures[:2], layout.slices(), weights, settings)
    expected = vectors[:2] @ vectors.T
    for head, columns in layout.slices().items():
        q = signatures[:2, columns] / np.linalg.norm(signatures[:2, columns], axis=1)[:, None]
        v = signatures[:, columns] / np.linalg.norm(signatures[:, columns], axis=1)[:, None]
        expected += weights.get(head, 0.0) * (q @ v.T)
    assert queries @ items.T == pytest.approx(expected, abs=1e-5)
    cosine_only = query_rows(vectors[:2], None, layout.slices(), {}, settings)
    assert cosine_only @ items.T == pytest.approx(vectors[:2] @ vectors.T, abs=1e-5)


def test_settings_written_before_signature_rows_still_read() -> None:
    old = {
        "lists": 4,
        "subquantizers": 8,
        "bits": 8,
        "probes": 1,
        "candidates": 10,
        "label_candidates": 20,
    }
    assert AnnSettings.from_json(old).signature_width == 0


def test_label_agreement_re_ranks_the_candidates_exactly(large_ann: EmbeddingIndex) -> None:
    """The ANN only picks which items are scored: among its candidates, the order is the
    exact score's (cosine + label agreement), as an exact search restricted to them gives."""
    assert large_ann.ann is not None
    weights = label_weights(large_ann)
    queries = np.asarray(large_ann.vectors[:8])
    signatures = np.asarray(large_ann.signatures)[:8]
    pool = large_ann.ann.settings.label_candidates
    assert large_ann.signature_layout is not None
    rows = query_rows(
        queries, signatures, large_ann.signature_layout.slices(), weights, large_ann.ann.settings
    )
    candidates = large_ann.ann.candidates(rows, pool)
    found = large_ann.search_many(queries, 5, signatures=signatures, head_weights=weights)
    everything = large_ann.search_many(
        queries, len(large_ann), signatures=signatures, head_weights=weights, exact=True
    )
    for n in range(len(queries)):
        allowed = set(candidates[n][candidates[n] >= 0].tolist())
        expected = [(row, score) for row, score in everything[n] if row in allowed][:5]
        assert rows_of(found[n]) == rows_of(expected)
        assert [s for _, s in found[n]] == pytest.approx([s for _, s in expected], abs=1e-5)


def test_default_settings_find_the_exact_neighbours_of_clustered_items(large_ann):
    queries = np.asarray(large_ann.vectors[::50])
    exclude = [{row} for row in range(0, LARGE, 50)]
    approximate = large_ann.search_many(queries, 5, exclude_rows=exclude)
    exact = large_ann.search_many(queries, 5, exclude_rows=exclude, exact=True)
    hits = sum(
        len(set(rows_of(a)) & set(rows_of(e))) for a, e in zip(approximate, exact, strict=True)
    )
    assert hits / (5 * len(queries)) >= 0.9


# ------------------------------------------------------------------ filters, exclusions
@pytest.mark.parametrize("probes", [1, 4])
@pytest.mark.parametrize(
    "filters",
    [
        {"gender": "Women"},  # half the items
        {"articleType": "Jeans", "baseColour": "Red"},  # 1 in 20
        {"articleType": "Watches", "baseColour": "Blue", "gender": "Men"},  # 1 in 20
        {"baseColour": "Purple"},  # none
    ],
)
def test_filters_give_k_results_whenever_k_items_match(large_ann, filters, probes) -> None:
    # A small pool and few probes: the probed lists often hold fewer than k allowed items.
    assert large_ann.ann is not None
    large_ann.ann.settings = replace(
        large_ann.ann.settings, probes=probes, candidates=10, label_candidates=10
    )
    index = large_ann
    chosen = Filters.of(filters)
    allowed = set(index.rows_matching(chosen).tolist())
    queries = np.asarray(index.vectors[:20])
    exclude = [{row, row + 3} for row in range(20)]
    for k in (5, 50, 200):
        results = index.search_many(queries, k, filters=chosen, exclude_rows=exclude)
        for hits, excluded in zip(results, exclude, strict=True):
            rows = rows_of(hits)
            assert len(rows) == min(k, len(allowed - excluded))
            assert set(rows) <= allowed and not set(rows) & excluded
            assert len(set(rows)) == len(rows)


def test_too_few_candidates_fall_back_to_scoring_every_allowed_item(
    large_ann: EmbeddingIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert large_ann.ann is not None
    queries = np.asarray(large_ann.vectors[:6])
    women = Filters.of({"gender": "Women"})
    exact = large_ann.search_many(queries, 5, filters=women, exact=True)

    def two_candidates(q, count, allowed=None):  # probed lists holding only two allowed items
        rows = np.full((len(q), count), -1, dtype=np.int64)
        rows[:, :2] = np.flatnonzero(allowed)[:2]
        return rows

    monkeypatch.setattr(large_ann.ann, "candidates", two_candidates)
    found = large_ann.search_many(queries, 5, filters=women)
    assert [rows_of(f) for f in found] == [rows_of(e) for e in exact]


def test_exclusions_are_never_returned(large_ann: EmbeddingIndex) -> None:
    queries = np.asarray(large_ann.vectors[:5])
    first = large_ann.search_many(queries, 5)
    exclude = [set(rows_of(hits)) for hits in first]  # the best five, all excluded
    again = large_ann.search_many(queries, 5, exclude_rows=exclude)
    for hits, excluded in zip(again, exclude, strict=True):
        assert len(hits) == 5 and not set(rows_of(hits)) & excluded


# ------------------------------------------------------------------ files and the format
def copy_index(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(source, target)
    shutil.copytree(source.parent / "catalog", tmp_path / "catalog")
    return target


def test_a_corrupted_ann_file_is_refused(small_ann_dir: Path, tmp_path: Path) -> None:
    path = copy_index(small_ann_dir, tmp_path)
    data = bytearray((path / ANN_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / ANN_FILE).write_bytes(bytes(data))
    with pytest.raises(InvalidIndexError, match=r"corrupted \(ann\.faiss does not match"):
        EmbeddingIndex.open(path)


def test_a_missing_or_unlisted_ann_file_is_refused(small_ann_dir: Path, tmp_path: Path) -> None:
    path = copy_index(small_ann_dir, tmp_path)
    (path / ANN_FILE).unlink()
    with pytest.raises(InvalidIndexError, match=r"incomplete: ann\.faiss is missing"):
        EmbeddingIndex.open(path)
    shutil.copy(small_ann_dir / ANN_FILE, path / ANN_FILE)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    del manifest["files"][ANN_FILE]
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(InvalidIndexError, match=r"ann\.faiss is missing"):
        EmbeddingIndex.open(path)


def test_unreadable_ann_settings_are_refused(small_ann_dir: Path, tmp_path: Path) -> None:
    path = copy_index(small_ann_dir, tmp_path)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    del manifest["ann"]["settings"]["probes"]
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(InvalidIndexError, match="ANN settings are unreadable"):
        EmbeddingIndex.open(path)


def test_an_index_without_the_ann_key_is_searched_exactly(small_ann_dir, tmp_path) -> None:
    """Format version 1 without ``ann`` (every index before it), or with a kind this version
    does not know: exact search, as before."""
    path = copy_index(small_ann_dir, tmp_path)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    for ann in (None, {**manifest["ann"], "kind": "some-future-kind"}):
        if ann is None:
            manifest.pop("ann")
        else:
            manifest["ann"] = ann
        (path / MANIFEST_FILE).write_text(json.dumps(manifest))
        index = EmbeddingIndex.open(path)
        assert index.ann is None
        query = index.vector(3)
        assert index.search(query, 5) == index.search(query, 5, exclude_rows=())
        index.close()


def test_set_ann_adds_and_drops_the_structure(tmp_path: Path) -> None:
    metadata = [item_metadata(i) for i in range(SMALL)]
    path = write_toy_index(tmp_path / "index", toy_embeddings(SMALL), metadata)
    vectors_inode = (path / "vectors.npy").stat().st_ino
    before = EmbeddingIndex.open(path)
    expected = before.search(before.vector(0), 5)
    before.close()
    assert not set_ann(path, "auto") and not set_ann(path, "off")
    assert set_ann(path, "on")
    assert (path / "vectors.npy").stat().st_ino == vectors_inode  # a link, not a copy
    with_ann = EmbeddingIndex.open(path)
    assert with_ann.ann is not None
    found = with_ann.search(with_ann.vector(0), 5)
    assert rows_of(found) == rows_of(expected)
    assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-6)
    with_ann.close()
    assert not set_ann(path, "on")
    assert set_ann(path, "off")
    assert not (path / ANN_FILE).exists()
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert "ann" not in manifest and ANN_FILE not in manifest["files"]
    assert not list(tmp_path.glob(".index*"))  # no staging or backup folder left
    EmbeddingIndex.open(path).close()


# -------------------------------------------------------------------------- lazy import
LAZY_PROBE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    from fashion_desktop.core.index import EmbeddingIndex
    index = EmbeddingIndex.open({path!r})
    opened = "faiss" in sys.modules
    index.search(index.vector(0), 5)
    print(opened, "faiss" in sys.modules)
    """
)


def faiss_imported(path: Path) -> tuple[bool, bool]:
    """(after opening, after the first search): whether faiss was imported, in a fresh process."""
    script = LAZY_PROBE.format(tests=str(REPO_ROOT / "tests"), path=str(path))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env=env,
    ).stdout.split()
    return out[0] == "True", out[1] == "True"


def test_small_indexes_never_import_faiss(tmp_path: Path) -> None:
    metadata = [item_metadata(i) for i in range(SMALL)]
    path = write_toy_index(tmp_path / "index", toy_embeddings(SMALL), metadata)
    assert faiss_imported(path) == (False, False)


def test_faiss_is_imported_on_the_first_search_only(small_ann_dir: Path) -> None:
    assert faiss_imported(small_ann_dir) == (False, True)


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.model
@pytest.mark.parametrize("mode", ["on", "off", "auto"])
def test_index_build_ann_option(capsys, cached_model_loading, tiny_catalogue_dir, tmp_path, mode):
    from fashion_desktop.cli import EXIT_OK, main

    out = tmp_path / "index"
    args = ["index", "build", str(tiny_catalogue_dir), "--out", str(out), "--weights", "random"]
    assert main([*args, "--ann", mode]) == EXIT_OK
    assert (out / ANN_FILE).exists() == (mode == "on")
    capsys.readouterr()
    assert main(["index", "info", str(out)]) == EXIT_OK
    info = capsys.readouterr().out
    if mode == "on":
        assert "search:     approximate, faiss-ivf-pq (IVF-PQ: 1 lists" in info
        assert "recall@5:   1.000" in info and "20 of its own items" in info
        # --update rebuilds it with the index (here: asked again, the index being small)
        assert main([*args, "--update", "--ann", "on"]) == EXIT_OK
        assert EmbeddingIndex.open(out).manifest["ann"]["recall_at_5"] == 1.0
    else:
        assert "search:     exact" in info
