"""Can the heads learn to read synthetic photos as they read the catalogue? (issue 11)

    python tests/benchmarks/make_photo_queries.py --split train --count 1500 --offset 24000 \
        --seed 2 --out bench-out/heads/views-0            # and offsets 25500, 27000, 28500
    python tests/benchmarks/bench_heads_refit.py --all-index ALL --gallery GALLERY \
        --views bench-out/heads/views-0/photos.csv ... [--weights MODEL] --out OUT

The product's label-aware ranking adds, per head, the agreement of the photo's class
distribution with each item's; a synthetic photo's own item loses whenever the heads read the
photo otherwise than its catalogue image. This script measures that agreement on the 300-photo
yardstick (top-1 class of the photo = top-1 of its own item, per head), then refits the linear
heads on the model's frozen embeddings: the whole-catalogue index's ``train`` items, the real
``train`` photos (article type only: they have no colour or gender label) and simulated photos of
``train`` items (``--views``, labelled with their items' labels; the last set is held out), by
full-batch Adam on the class-weighted cross-entropy (``sqrt`` weights, as training uses), with an
L2 pull toward the starting heads. Reported before and after: each head's top-1 accuracy on the
``val`` catalogue items and on the held-out views, the yardstick's agreement and its exact-item
R@5 against ``GALLERY`` (``bench_scoring.py``'s ``train`` + photo-items index) with the product's
weights, the heads alone (no measured garment colour: a comparison between heads), and what that
R@5 would be if some heads read every photo exactly as its own item (an upper bound: how much of
the ranking's loss each head's misreading costs). Photos are embedded whole, as the product
searches them, once per model (``bench_photo_ranking.embedded``'s cache under OUT).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_photo_ranking import embedded
from bench_real_photos import write_real_photos
from common import SHARED, machine_summary, save_json

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.index import EmbeddingIndex, search_vectors_for
from fashion_desktop.core.probability import softmax
from fashion_desktop.core.scoring import (
    DEFAULT_SCORING,
    SignatureLayout,
    label_agreement,
    label_signatures,
)
from fashion_desktop.core.training.config import LabelSpace
from fashion_desktop.core.training.data import class_weight_vector

YARDSTICK = Path("bench-out/photos/queries/photos.csv")


def labels_of(head: ClassifierHead, rows: list[dict[str, str]]) -> np.ndarray:
    """Class indices of ``rows``' values for ``head`` (-1: unlabelled), as training encodes them."""
    space = LabelSpace(head.name, list(head.classes))
    return np.array([space.encode(row.get(head.name, "")) for row in rows])


def accuracy(head: ClassifierHead, x: np.ndarray, y: np.ndarray) -> float:
    keep = y >= 0
    predicted = (x[keep] @ head.kernel + head.bias).argmax(axis=1)
    return round(float((predicted == y[keep]).mean()), 3)


def refit(
    head: ClassifierHead, sets: list[tuple[np.ndarray, np.ndarray]], steps: int, decay: float
) -> ClassifierHead:
    """Full-batch Adam on Σ_set mean class-weighted cross-entropy + decay/2 × ‖W − W₀‖²."""
    weights = class_weight_vector(sets[0][1], len(head.classes), "sqrt")  # the catalogue's
    start = (head.kernel.copy(), head.bias.copy())
    params = [p.copy() for p in start]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    labelled = [(x[y >= 0].astype(np.float32), y[y >= 0]) for x, y in sets if (y >= 0).any()]
    for step in range(1, steps + 1):
        grads = [decay * (params[0] - start[0]), np.zeros_like(params[1])]
        for x, y in labelled:
            p = softmax(x @ params[0] + params[1])
            p[np.arange(len(y)), y] -= 1.0
            p *= (weights[y] / len(y))[:, None]
            grads[0] += x.T @ p
            grads[1] += p.sum(axis=0)
        for param, grad, (m, v) in zip(params, grads, moments, strict=True):
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad * grad
            param[...] -= 1e-3 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return ClassifierHead(head.name, params[0], params[1], head.classes)


def yardstick(
    heads: ClassifierHeads, gallery: EmbeddingIndex, raw: np.ndarray, ids: list[str]
) -> dict:
    """Own-item top-1 agreement per head and exact-item R@5 with the product's photo weights."""
    layout = SignatureLayout.from_heads(heads)
    items = label_signatures(heads, np.asarray(gallery.raw_embeddings(), np.float32), layout)
    queries = label_signatures(heads, raw, layout)
    rows = np.array([gallery.row_of(i) for i in ids])
    own = items[rows]
    out = {
        f"{name} top-1 = own item's": round(
            float((queries[:, s].argmax(1) == own[:, s].argmax(1)).mean()), 3
        )
        for name, s in layout.slices().items()
    }
    cosine = search_vectors_for(raw, gallery.projection) @ np.asarray(gallery.vectors).T
    weights = DEFAULT_SCORING.head_weights(photo=True)

    def recall(score: np.ndarray) -> float:
        above = (score > score[np.arange(len(rows)), rows][:, None]).sum(axis=1)
        return round(float((above < 5).mean()), 3)

    out["R@5 cosine"] = recall(cosine)
    out["R@5 label-aware"] = recall(cosine + label_agreement(queries, items, layout, weights))
    # What the ranking would give if the heads read each photo exactly as its own item.
    slices = layout.slices()
    for size in range(1, len(slices) + 1):
        for names in itertools.combinations(slices, size):
            read = queries.copy()
            for name in names:
                read[:, slices[name]] = own[:, slices[name]]
            score = cosine + label_agreement(read, items, layout, weights)
            out[f"R@5 label-aware, {' + '.join(names)} read as the own item"] = recall(score)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-index", type=Path, required=True, help="whole-catalogue index")
    parser.add_argument("--gallery", type=Path, required=True, help="train + photo-items index")
    parser.add_argument("--views", type=Path, action="append", required=True)
    parser.add_argument("--weights", help="model folder (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--decay", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=Path("bench-out/heads-refit"))
    args = parser.parse_args()
    if len(args.views) < 2:
        parser.error("give at least two --views sets: the last is held out")
    args.out.mkdir(parents=True, exist_ok=True)
    embedder = Embedder.load(args.weights)
    assert embedder.heads is not None
    index = EmbeddingIndex.open(args.all_index, verify=False)
    gallery = EmbeddingIndex.open(args.gallery, verify=False)
    for each in (index, gallery):
        each.check_model(embedder.identity)
    with (SHARED / "catalog" / "split.csv").open(encoding="utf-8") as handle:
        split = {row["id"]: row["split"] for row in csv.DictReader(handle)}
    with (SHARED / "catalog" / "styles.csv").open(encoding="utf-8") as handle:
        styles = {row["id"]: row for row in csv.DictReader(handle)}
    item_ids = index.metadata_column("id")
    raw = np.asarray(index.raw_embeddings(), np.float32)
    rows = {s: [r for r, i in enumerate(item_ids) if split.get(i) == s] for s in ("train", "val")}
    catalogue = {s: (raw[r], [styles[item_ids[k]] for k in r]) for s, r in rows.items()}
    # Whole photos, as the product searches them; each set's CSV carries its labels.
    views = []
    for k, path in enumerate(args.views):
        shot = embedded(path, embedder, "never", args.out / f"views-{k}.npz")
        views.append((shot["raw"], shot["metadata"]))
    real_csv = write_real_photos(args.out / "real-train.csv", split="train")
    shot = embedded(real_csv, embedder, "never", args.out / "real-train.npz")
    real = (shot["raw"], shot["metadata"])
    fitted_views = (
        np.concatenate([x for x, _ in views[:-1]]),
        [label for _, labels in views[:-1] for label in labels],
    )
    shot = embedded(YARDSTICK, embedder, "never", args.out / "yardstick.npz")
    photo_raw, photo_ids = shot["raw"], shot["ids"]

    def evaluate(heads: ClassifierHeads) -> dict:
        out = yardstick(heads, gallery, photo_raw, photo_ids)
        for head in heads.heads.values():
            for name, (x, labels) in (("catalogue val", catalogue["val"]), ("views", views[-1])):
                out[f"{head.name} top-1, {name}"] = accuracy(head, x, labels_of(head, labels))
        return out

    started = time.perf_counter()
    refitted = []
    for head in embedder.heads.heads.values():
        sets = [
            (x, labels_of(head, labels)) for x, labels in (catalogue["train"], fitted_views, real)
        ]
        refitted.append(refit(head, sets, args.steps, args.decay))
    new_heads = ClassifierHeads(refitted)
    new_heads.save(args.out / "heads.npz")
    report = {
        "machine": machine_summary(),
        "model": embedder.identity.fingerprint,
        "samples": {
            "catalogue train": len(rows["train"]),
            "views fitted": len(fitted_views[1]),
            "views held out": len(views[-1][1]),
            "real train photos": len(real[1]),
        },
        "fit seconds": round(time.perf_counter() - started, 1),
        "model's heads": evaluate(embedder.heads),
        "refitted heads": evaluate(new_heads),
    }
    save_json(report, args.out / "heads_refit.json")
    for name in ("model's heads", "refitted heads"):
        print(name, report[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
