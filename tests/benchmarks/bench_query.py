"""Query latency, search-only latency and resident memory of a 40,000-item index (issue 2).

    python tests/benchmarks/bench_query.py [--queries 50] [--out bench-out/query]

* latency: decode + prepare + embed + search for unseen ``val`` images with the model warm,
  against the bundled demo index (the code path of ``fashion-desktop search`` and the window);
* search only: 40,000 random unit vectors written in the real index format, as stored by default
  (PCA-256 float32) and as full 2048-d float32, 200 queries each;
* memory: a fresh process opens each 40,000-item index and searches it 100 times; resident set
  size above the process's baseline (interpreter + NumPy + core imported) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import SHARED, machine_summary, save_json, split_ids

from fashion_desktop.core.embedder import ModelIdentity
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.index import EmbeddingIndex, ItemRecord, write_index

ITEMS = 40_000


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def make_random_index(path: Path, dim: int | None) -> None:
    """40,000 random embeddings in the real format (records point at one dummy image)."""
    if (path / "manifest.json").exists():
        return
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((ITEMS, 2048), dtype=np.float32)
    image = path.parent / "dummy.jpg"
    image.touch()
    fields = ["gender", "articleType"]
    records = [
        ItemRecord(
            str(i),
            image,
            f"{i:064x}",
            0,
            0,
            {"gender": ("Men", "Women")[i % 2], "articleType": f"type{i % 140}"},
        )
        for i in range(ITEMS)
    ]
    write_index(
        path,
        records=records,
        raw_embeddings=raw,
        identity=ModelIdentity("0" * 64, "random-vectors"),
        catalogue_root=path.parent,
        fields=fields,
        dim=dim,
    )


def search_latency(path: Path, repeats: int = 200) -> dict:
    index = EmbeddingIndex.open(path)
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((repeats, index.vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index.search(queries[0], 5)
    times, filtered = [], []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, 5)
        times.append((time.perf_counter() - t0) * 1000)
    for q in queries[:50]:
        t0 = time.perf_counter()
        index.search(q, 5, filters=Filters.of({"gender": ["Women"]}))
        filtered.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": round(percentile(times, 50), 2),
        "p90_ms": round(percentile(times, 90), 2),
        "filtered_p50_ms": round(percentile(filtered, 50), 2),
    }


MEMORY_PROBE = """
import json, sys, numpy as np, psutil
sys.path.insert(0, sys.argv[2])
from fashion_desktop.core.index import EmbeddingIndex
process = psutil.Process()
baseline = process.memory_info().rss
index = EmbeddingIndex.open(sys.argv[1])
rng = np.random.default_rng(2)
for _ in range(100):
    q = rng.standard_normal(index.vectors.shape[1]).astype(np.float32)
    index.search(q / np.linalg.norm(q), 5)
above = process.memory_info().rss - baseline
print(json.dumps({"baseline_mb": baseline / 1e6, "above_baseline_mb": above / 1e6}))
"""


def memory_above_baseline(path: Path) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), root],
        capture_output=True,
        text=True,
        check=True,
    )
    return {k: round(v, 1) for k, v in json.loads(out.stdout).items()}


def query_latency(count: int) -> dict:
    from fashion_desktop.core.embedder import Embedder
    from fashion_desktop.core.imaging import load_image
    from fashion_desktop.core.search import SearchEngine
    from fashion_desktop.resources import demo_index_path

    engine = SearchEngine(EmbeddingIndex.open(demo_index_path()), Embedder.load())
    paths = [SHARED / "catalog" / "images" / f"{i}.jpg" for i in split_ids("val", count + 5)]
    for path in paths[:5]:
        engine.search_images([load_image(path)])
    totals, embeds, searches = [], [], []
    for path in paths[5:]:
        t0 = time.perf_counter()
        response = engine.search_images([load_image(path)])[0]
        totals.append((time.perf_counter() - t0) * 1000)
        embeds.append(response.timings_ms["embed"])
        searches.append(response.timings_ms["search"])
    return {
        "queries": len(totals),
        "p50_ms": round(percentile(totals, 50), 1),
        "p90_ms": round(percentile(totals, 90), 1),
        "embed_p50_ms": round(percentile(embeds, 50), 1),
        "search_p50_ms": round(percentile(searches, 50), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("bench-out/query"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine_summary()}
    for name, dim in (("pca256_float32", 256), ("full2048_float32", None)):
        path = args.out / f"random40k-{name}"
        make_random_index(path, dim)
        results[f"search_40k_{name}"] = search_latency(path)
        results[f"memory_40k_{name}"] = memory_above_baseline(path)
        print(name, results[f"search_40k_{name}"], results[f"memory_40k_{name}"], flush=True)
    results["query_latency_demo_index"] = query_latency(args.queries)
    print(results["query_latency_demo_index"], flush=True)
    save_json(results, args.out / "query.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
