"""What the ANN structure's rows should hold (issue 15): recall@5 of row layouts at 1M items.

    python tests/benchmarks/bench_ann.py --out bench-out/ann --search-only   # the 1M index
    python tests/benchmarks/bench_ann_rows.py MODES SUBQUANTIZERS
    # e.g. bench_ann_rows.py one,norm,normsqrtw 32

Builds one IVF-PQ structure (1,024 lists) per layout over ``bench-out/ann/index-1000000`` (the
1M items of bench_ann.py) and measures recall@5 against exact search for 200 noisy catalogue
queries, cosine and label-aware, without and with a gender filter, for several candidate pools.
Layouts: ``one`` (vector + raw signature), ``norm`` (vector + unit signature per head, what
core/ann.py ships), ``normsqrtw`` (unit signatures scaled by √weight), ``sqrtw`` (raw, scaled).
Exact results are cached in bench-out/ann/truth.npz.
"""

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from bench_ann import GENDER_FILTER, default_weights, make_large_index, make_queries, recall

from fashion_desktop.core.ann import _faiss
from fashion_desktop.core.index import EmbeddingIndex

faiss = _faiss()
source = EmbeddingIndex.open(Path("bench-out/shared-index"), verify=False)
big = Path("bench-out/ann/index-1000000")
make_large_index(source, big, 1_000_000, 0.02)
index = EmbeddingIndex.open(big, verify=False)
index.ann = None
vectors, signatures = make_queries(source, 200, 0.02)
weights = default_weights(index)
layout = index.signature_layout
slices = layout.slices()
print("weights", weights, "width", layout.width, flush=True)

truth = {}
cache = Path("bench-out/ann/truth.npz")
if cache.exists():
    data = np.load(cache)
    truth = {tuple(k.split("|")): data[k].tolist() for k in data}
for name, filters in (("all", None), ("women", GENDER_FILTER)):
    for scoring in ("cosine", "labels"):
        if (scoring, name) in truth:
            continue
        t0 = time.perf_counter()
        truth[scoring, name] = [
            [
                r
                for r, _ in index.search_many(
                    vectors[n : n + 1],
                    5,
                    filters=filters,
                    signatures=None if scoring == "cosine" else signatures[n : n + 1],
                    head_weights={} if scoring == "cosine" else weights,
                    exact=True,
                )[0]
            ]
            for n in range(len(vectors))
        ]
        print("truth", scoring, name, round(time.perf_counter() - t0, 1), flush=True)

np.savez(cache, **{"|".join(k): np.array(v) for k, v in truth.items()})
dim = index.vectors.shape[1]
width = layout.width


def scale_vector(mode: str) -> np.ndarray:
    beta = np.ones(width, np.float32)
    if "sqrtw" in mode:
        for head, cols in slices.items():
            beta[cols] = math.sqrt(weights.get(head, 1.0))
    return beta


def query_rows(q, s, beta, labels, mode, padded):
    out = np.zeros((len(q), padded), np.float32)
    out[:, :dim] = q
    if labels:
        for head, cols in slices.items():
            w = weights.get(head, 0.0)
            own = np.maximum((s[:, cols] ** 2).sum(1, keepdims=True), 1e-6)
            if "norm" in mode:
                own = np.sqrt(own)
            out[:, dim + cols.start : dim + cols.stop] = w * s[:, cols] / own / beta[cols]
    return out


def item_rows(sel, beta, mode, padded):
    out = np.zeros((len(sel), padded), np.float32)
    out[:, :dim] = index.vectors[sel]
    sig = np.asarray(index.signatures[sel])
    if "norm" in mode:
        sig = sig.copy()
        for cols in slices.values():
            sig[:, cols] /= np.maximum(np.linalg.norm(sig[:, cols], axis=1, keepdims=True), 1e-6)
    out[:, dim : dim + width] = sig * beta
    return out


women = np.zeros(len(index), bool)
women[index.rows_matching(GENDER_FILTER)] = True
share = women.mean()

for mode in sys.argv[1].split(","):
    for m in [int(x) for x in sys.argv[2].split(",")]:
        padded = math.ceil((dim + width) / m) * m
        beta = scale_vector(mode)
        t0 = time.perf_counter()
        ann = faiss.index_factory(padded, f"IVF1024,PQ{m}x8", faiss.METRIC_INNER_PRODUCT)
        ann.do_polysemous_training = False
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(index), 65536, replace=False))
        ann.train(item_rows(sample, beta, mode, padded))
        for start in range(0, len(index), 65536):
            ann.add(item_rows(np.arange(start, min(start + 65536, len(index))), beta, mode, padded))
        print(f"rows={mode} m={m} dim={padded} build {time.perf_counter() - t0:.1f}s", flush=True)
        for scoring in ("labels", "cosine"):
            for name in ("all", "women"):
                for pool in (1000, 2000) if scoring == "cosine" else (1000, 2000, 4000):
                    params = faiss.SearchParametersIVF()
                    params.nprobe = 64 if name == "all" else math.ceil(64 / share)
                    if name == "women":
                        bitmap = np.packbits(women, bitorder="little")
                        params.sel = faiss.IDSelectorBitmap(len(women), faiss.swig_ptr(bitmap))
                    labels = scoring == "labels"
                    qr = query_rows(vectors, signatures, beta, labels, mode, padded)
                    t0 = time.perf_counter()
                    found = []
                    for n in range(len(vectors)):
                        _, cand = ann.search(qr[n : n + 1], pool, params=params)
                        hits = index._score_rows(
                            vectors[n : n + 1],
                            cand[0][cand[0] >= 0],
                            5,
                            (),
                            signatures if labels else None,
                            weights if labels else {},
                            n,
                        )
                        found.append([r for r, _ in hits])
                    ms = (time.perf_counter() - t0) * 1000 / len(vectors)
                    measured = recall(truth[scoring, name], found)
                    print(f"  {scoring}/{name} pool {pool}: recall {measured} {ms:.1f} ms")
