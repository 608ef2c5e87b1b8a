"""Approximate nearest neighbours (issue 15): exact against ANN search on 1,000,000 items.

    fashion-desktop index build ../shared/catalog --out bench-out/shared-index
    python tests/benchmarks/bench_ann.py [--source bench-out/shared-index] [--items 1000000]
        [--queries 200] [--noise 0.02] [--out bench-out/ann] [--hnswlib-items 200000]

The 1,000,000 items are made from real embeddings: ``--source`` is an index of the whole shared
catalogue (39,987 items, PCA-256 vectors and label signatures of the bundled model). Its vectors
are repeated (25 copies and a part), each copy with Gaussian noise of ``--noise`` per coordinate
and re-normalised (σ = 0.02: a copy's cosine to its original is ~0.95, the median cosine of a
real item to its nearest other item); signatures and metadata are repeated as they are. The
index folder is the real format (manifest, vectors, signatures, SQLite, projection, checksums)
written directly, without the raw 2048-d embeddings (4 GB at this size, read only by
``--update``). Queries are catalogue items with fresh noise (never an indexed vector).

Figures, one query at a time through ``EmbeddingIndex.search_many`` (the call ``ranking.rank``
makes): exact and ANN p50/p99 latency and the ANN's recall@5 against exact search, for cosine
only and with the default label agreement, without and with a gender filter; the build time,
size on disk and resident memory (a fresh process searching 200 times, above its baseline);
exact p50 at 40k-1M items (the threshold); and hnswlib for comparison on ``--hnswlib-items``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import machine_summary, save_json

from fashion_desktop.core.ann import ANN_FILE, AnnSearcher, AnnSettings, build_ann
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.index import (
    ITEMS_FILE,
    PROJECTION_FILE,
    SIGNATURES_FILE,
    VECTORS_FILE,
    EmbeddingIndex,
    ItemRecord,
    _write_items,
    file_entries,
    measure_ann_recall,
    write_ann,
    write_manifest,
)
from fashion_desktop.core.scoring import DEFAULT_SCORING

FIELDS = ["gender", "masterCategory", "articleType", "baseColour"]
GENDER_FILTER = Filters.of({"gender": ["Women"]})


def default_weights(index: EmbeddingIndex) -> dict[str, float]:
    layout = index.signature_layout
    return DEFAULT_SCORING.agreement_weights(False, layout, layout)


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 2)


def make_large_index(source: EmbeddingIndex, path: Path, items: int, noise: float) -> float:
    """The ``items``-item index of noisy copies of ``source`` (see the module docstring)."""
    if (path / "manifest.json").exists():
        return 0.0
    started = time.perf_counter()
    path.mkdir(parents=True, exist_ok=True)
    count, dim = source.vectors.shape
    origin = np.arange(items) % count
    rng = np.random.default_rng(0)
    vectors = np.lib.format.open_memmap(
        path / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(items, dim)
    )
    block = 65_536
    for start in range(0, items, block):
        rows = origin[start : start + block]
        noisy = np.asarray(source.vectors[rows]) + rng.normal(0, noise, (len(rows), dim))
        vectors[start : start + block] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    vectors.flush()
    del vectors
    assert source.signatures is not None
    signatures = np.lib.format.open_memmap(
        path / SIGNATURES_FILE,
        mode="w+",
        dtype=np.float32,
        shape=(items, source.signatures.shape[1]),
    )
    for start in range(0, items, block):
        signatures[start : start + block] = source.signatures[origin[start : start + block]]
    signatures.flush()
    del signatures
    shutil.copy(source.path / PROJECTION_FILE, path / PROJECTION_FILE)
    dummy = path.parent / "dummy.jpg"
    dummy.touch()
    base = source.items(range(count))
    records = (
        ItemRecord(
            f"{base[row].item_id}-{n // count}",
            dummy,
            base[row].sha256,
            0,
            0,
            base[row].metadata,
        )
        for n, row in enumerate(origin)
    )
    _write_items(path / ITEMS_FILE, list(records), path.parent, FIELDS)
    manifest = dict(source.manifest)
    manifest.update(
        count=items,
        fields=FIELDS,
        created=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        catalogue={"absolute": str(path.parent.resolve()), "relative": "."},
        files=file_entries(path),
    )
    manifest.pop("ann", None)
    write_manifest(path, manifest)
    return time.perf_counter() - started


def add_ann(path: Path) -> dict:
    """The ANN structure as ``write_index`` builds it (same functions), recall included."""
    manifest = json.loads((path / "manifest.json").read_text())
    if "ann" in manifest:
        return manifest["ann"]
    index = EmbeddingIndex.open(path, verify=False)
    entry = write_ann(path, index.vectors, None, index.signatures, index.signature_layout)
    index.close()
    manifest["ann"] = entry
    manifest["files"] = file_entries(path)
    write_manifest(path, manifest)
    entry.update(measure_ann_recall(path))
    write_manifest(path, manifest)
    return entry


def make_queries(source: EmbeddingIndex, count: int, noise: float) -> tuple:
    rng = np.random.default_rng(12345)
    rows = rng.choice(len(source), count, replace=False)
    dim = source.vectors.shape[1]
    noisy = np.asarray(source.vectors[rows]) + rng.normal(0, noise, (count, dim))
    vectors = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    assert source.signatures is not None
    return vectors, np.asarray(source.signatures[rows])


def timed_searches(index, vectors, signatures, weights, filters, exact) -> tuple[list, list]:
    times, results = [], []
    for n in range(len(vectors)):
        t0 = time.perf_counter()
        hits = index.search_many(
            vectors[n : n + 1],
            5,
            filters=filters,
            signatures=None if signatures is None else signatures[n : n + 1],
            head_weights=weights,
            exact=exact,
        )[0]
        times.append((time.perf_counter() - t0) * 1000)
        results.append([row for row, _ in hits])
    return times, results


def recall(truth: list[list[int]], found: list[list[int]]) -> float:
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found, strict=True))
    return round(hits / max(1, sum(len(t) for t in truth)), 4)


def compare_search(index: EmbeddingIndex, vectors, signatures) -> dict:
    weights = default_weights(index)
    index.search_many(vectors[:1], 5)  # the first search loads the ANN structure
    out: dict = {}
    for scoring, w, sig in (("cosine", {}, None), ("labels", weights, signatures)):
        for name, filters in (("all", None), ("gender=Women", GENDER_FILTER)):
            row: dict = {}
            exact_t, exact_r = timed_searches(index, vectors, sig, w, filters, True)
            ann_t, ann_r = timed_searches(index, vectors, sig, w, filters, False)
            row["exact_p50_ms"] = percentile(exact_t, 50)
            row["exact_p99_ms"] = percentile(exact_t, 99)
            row["ann_p50_ms"] = percentile(ann_t, 50)
            row["ann_p99_ms"] = percentile(ann_t, 99)
            row["recall_at_5"] = recall(exact_r, ann_r)
            row["results_always_5"] = all(len(r) == 5 for r in ann_r)
            out[f"{scoring}/{name}"] = row
            print(scoring, name, row, flush=True)
    return out


def probe_settings(index: EmbeddingIndex, vectors, signatures) -> list[dict]:
    """Recall and latency of other probe / candidate counts on the same structure."""
    assert index.ann is not None
    base = index.ann.settings
    weights = default_weights(index)
    _, exact_cos = timed_searches(index, vectors, None, {}, None, True)
    _, exact_lab = timed_searches(index, vectors, signatures, weights, None, True)
    rows = []
    for probes in (32, 64, 128):
        for candidates, label_candidates in ((1000, 1000), (2000, 2000), (4000, 4000)):
            index.ann.settings = replace(
                base, probes=probes, candidates=candidates, label_candidates=label_candidates
            )
            t_cos, r_cos = timed_searches(index, vectors, None, {}, None, False)
            t_lab, r_lab = timed_searches(index, vectors, signatures, weights, None, False)
            row = {
                "probes": probes,
                "candidates": candidates,
                "label_candidates": label_candidates,
                "cosine_p50_ms": percentile(t_cos, 50),
                "cosine_recall_at_5": recall(exact_cos, r_cos),
                "labels_p50_ms": percentile(t_lab, 50),
                "labels_recall_at_5": recall(exact_lab, r_lab),
            }
            rows.append(row)
            print(row, flush=True)
    index.ann.settings = base
    return rows


def exact_curve(index: EmbeddingIndex, vectors, signatures, out: Path) -> list[dict]:
    """Exact p50 (and the ANN's, built on the same prefix) at growing sizes: the threshold."""
    weights = default_weights(index)
    rows = []
    for n in (40_000, 100_000, 200_000, 400_000, len(index)):
        manifest = dict(index.manifest, count=n)
        assert index.signatures is not None
        prefix = EmbeddingIndex(
            index.path, manifest, index.vectors[:n], index.projection, index.signatures[:n]
        )
        q = vectors[:50]
        s = signatures[:50]
        t_cos, r_cos = timed_searches(prefix, q, None, {}, None, True)
        t_lab, r_lab = timed_searches(prefix, q, s, weights, None, True)
        row = {
            "items": n,
            "exact_cosine_p50_ms": percentile(t_cos, 50),
            "exact_labels_p50_ms": percentile(t_lab, 50),
        }
        ann_path = out / f"prefix-{n}.faiss"
        assert index.signature_layout is not None
        layout = index.signature_layout
        settings = AnnSettings.for_index(n, index.vectors.shape[1], layout.width)
        seconds = build_ann(
            index.vectors[:n],
            ann_path,
            settings,
            signatures=index.signatures[:n],
            heads=layout.slices(),
        )
        row["ann_build_s"] = round(seconds, 1)
        prefix.ann = AnnSearcher(ann_path.open("rb"), settings)
        a_cos, f_cos = timed_searches(prefix, q, None, {}, None, False)
        a_lab, f_lab = timed_searches(prefix, q, s, weights, None, False)
        row.update(
            ann_cosine_p50_ms=percentile(a_cos, 50),
            ann_cosine_recall_at_5=recall(r_cos, f_cos),
            ann_labels_p50_ms=percentile(a_lab, 50),
            ann_labels_recall_at_5=recall(r_lab, f_lab),
        )
        prefix.close()
        ann_path.unlink()
        rows.append(row)
        print(row, flush=True)
    return rows


MEMORY_PROBE = """
import json, sys, numpy as np, psutil
sys.path.insert(0, sys.argv[2])
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.scoring import DEFAULT_SCORING
process = psutil.Process()
baseline = process.memory_info().rss
index = EmbeddingIndex.open(sys.argv[1], verify=False)
exact = sys.argv[3] == "exact"
weights = DEFAULT_SCORING.agreement_weights(False, index.signature_layout, index.signature_layout)
rng = np.random.default_rng(2)
for _ in range(200):
    row = int(rng.integers(len(index)))
    q = index.vector(row) + rng.normal(0, 0.02, index.vectors.shape[1]).astype(np.float32)
    index.search_many((q / np.linalg.norm(q))[None], 5, exact=exact,
                      signatures=index.signature(row)[None], head_weights=weights)
print(json.dumps({"baseline_mb": baseline / 1e6,
                  "above_baseline_mb": (process.memory_info().rss - baseline) / 1e6,
                  "faiss_loaded": "faiss" in sys.modules}))
"""


def resident_memory(path: Path, mode: str) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), root, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(out.stdout)
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in measured.items()}


def source_as_today(source: EmbeddingIndex, queries: int, noise: float) -> dict:
    """The ~40,000-item source index, below the threshold: no ANN structure, exact search
    (the very code path of before), and faiss never imported (a fresh process)."""
    vectors, signatures = make_queries(source, queries, noise)
    weights = default_weights(source)
    t_cos, _ = timed_searches(source, vectors, None, {}, None, False)
    t_lab, _ = timed_searches(source, vectors, signatures, weights, None, False)
    t_flt, _ = timed_searches(source, vectors, signatures, weights, GENDER_FILTER, False)
    result = {
        "items": len(source),
        "ann_file": (source.path / ANN_FILE).exists(),
        "ann_in_manifest": "ann" in source.manifest,
        "cosine_p50_ms": percentile(t_cos, 50),
        "labels_p50_ms": percentile(t_lab, 50),
        "labels_gender_filter_p50_ms": percentile(t_flt, 50),
        "memory": resident_memory(source.path, "ann"),
    }
    print(result, flush=True)
    return result


def hnswlib_comparison(index: EmbeddingIndex, vectors, items: int, out: Path) -> dict:
    """hnswlib (HNSW, M=16, ef_construction=100) on the first ``items`` vectors: build time,
    size, top-5 recall and latency at several ef, and a gender filter (a Python callback)."""
    import hnswlib

    data = np.ascontiguousarray(index.vectors[:items])
    prefix = EmbeddingIndex(
        index.path, dict(index.manifest, count=items), index.vectors[:items], index.projection
    )
    graph = hnswlib.Index(space="ip", dim=data.shape[1])
    t0 = time.perf_counter()
    graph.init_index(max_elements=items, M=16, ef_construction=100, random_seed=0)
    graph.set_num_threads(os.cpu_count() or 1)
    graph.add_items(data, np.arange(items))
    build_s = time.perf_counter() - t0
    graph.save_index(str(out / "hnsw.bin"))
    size_mb = (out / "hnsw.bin").stat().st_size / 1e6
    graph.set_num_threads(1)
    _, truth = timed_searches(prefix, vectors, None, {}, None, True)
    women = np.zeros(items, dtype=bool)
    matching = index.rows_matching(GENDER_FILTER)
    assert matching is not None
    women[matching[matching < items]] = True
    truth_women = []
    for q in vectors:
        scores = data @ q
        scores[~women] = -np.inf
        truth_women.append(np.argsort(-scores)[:5].tolist())
    result: dict = {"items": items, "build_s": round(build_s, 1), "size_mb": round(size_mb, 1)}
    for ef in (64, 128, 256, 512):
        graph.set_ef(ef)
        times, found = [], []
        for q in vectors:
            t = time.perf_counter()
            labels, _ = graph.knn_query(q, k=5)
            times.append((time.perf_counter() - t) * 1000)
            found.append([int(x) for x in labels[0]])
        result[f"ef{ef}"] = {"p50_ms": percentile(times, 50), "recall_at_5": recall(truth, found)}
        print("hnswlib", ef, result[f"ef{ef}"], flush=True)
    graph.set_ef(128)
    times, found = [], []
    for q in vectors:
        t = time.perf_counter()
        labels, _ = graph.knn_query(q, k=5, filter=lambda label: bool(women[label]))
        times.append((time.perf_counter() - t) * 1000)
        found.append([int(x) for x in labels[0]])
    result["ef128_gender_filter"] = {
        "p50_ms": percentile(times, 50),
        "recall_at_5": recall(truth_women, found),
    }
    print("hnswlib filter", result["ef128_gender_filter"], flush=True)
    prefix.close()
    (out / "hnsw.bin").unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("bench-out/shared-index"))
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=Path("bench-out/ann"))
    parser.add_argument("--hnswlib-items", type=int, default=0, help="0: skip hnswlib")
    parser.add_argument(
        "--hnswlib-only", action="store_true", help="only hnswlib (OUT/hnswlib.json)"
    )
    parser.add_argument(
        "--source-only",
        action="store_true",
        help="only the source index as it is (below the threshold: OUT/source.json)",
    )
    parser.add_argument("--skip-probes", action="store_true")
    parser.add_argument(
        "--search-only", action="store_true", help="only exact against ANN (OUT/search.json)"
    )
    parser.add_argument("--skip-curve", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine_summary(), "items": args.items, "noise": args.noise}
    source = EmbeddingIndex.open(args.source, verify=False)
    if args.source_only:
        results["source"] = source_as_today(source, args.queries, args.noise)
        save_json(results, args.out / "source.json")
        return 0
    path = args.out / f"index-{args.items}"
    results["write_s"] = round(make_large_index(source, path, args.items, args.noise), 1)
    results["ann"] = add_ann(path)
    print("ann", results["ann"], flush=True)
    vectors, signatures = make_queries(source, args.queries, args.noise)
    sizes = {
        name: entry["bytes"] / 1e6
        for name, entry in json.loads((path / "manifest.json").read_text())["files"].items()
    }
    results["size_mb"] = {k: round(v, 1) for k, v in sizes.items()}
    results["size_mb"]["total_exact"] = round(sum(v for k, v in sizes.items() if k != ANN_FILE), 1)
    index = EmbeddingIndex.open(path, verify=False)
    if args.hnswlib_only:
        results["hnswlib"] = hnswlib_comparison(index, vectors, args.hnswlib_items, args.out)
        save_json(results, args.out / "hnswlib.json")
        return 0
    results["search"] = compare_search(index, vectors, signatures)
    if args.search_only:
        save_json(results, args.out / "search.json")
        return 0
    if not args.skip_probes:
        results["probes"] = probe_settings(index, vectors, signatures)
    if not args.skip_curve:
        results["curve"] = exact_curve(index, vectors, signatures, args.out)
    for mode in ("exact", "ann"):
        results[f"memory_{mode}"] = resident_memory(path, mode)
        print(mode, results[f"memory_{mode}"], flush=True)
    if args.hnswlib_items:
        results["hnswlib"] = hnswlib_comparison(index, vectors, args.hnswlib_items, args.out)
    index.close()
    save_json(results, args.out / "ann.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
