"""A quick go/no-go for a candidate model (issue 11): exact-item recall of photos, and the kinds
of queries it must not lose, on a small gallery, float32, several models side by side.

    python tests/benchmarks/make_photo_queries.py --out bench-out/photos/queries
    python tests/benchmarks/bench_instance_probe.py --weights bundled --weights MODEL_DIR ...
        [--gallery 3000] [--photos bench-out/photos/queries/photos.csv] [--out bench-out/probe]
        [--layers] [--fuse W ...] [--average A ...] [--whiten-views CSV ...]
        [--label-weights articleType=2,baseColour=2,gender=1 ...]

Gallery: ``--gallery`` ``train`` items (fixed hash order) plus the items the synthetic photos
show. Queries, embedded whole (no localisation) by the Keras network in float32 and ranked by
the cosine of the raw 2048-d embeddings (no PCA, no label weights: the network alone):

* the synthetic photos (``make_photo_queries.py``): exact-item R@1 / R@5;
* the 615 real ``val`` photos: P@5 of master category, sub-category and article type (where
  labelled) among the gallery's items;
* 300 ``val`` catalogue items not in the gallery: P@5 of article type and colour.

The full yardsticks (whole catalogue, the product's ranking, int8) are ``bench_real_photos.py``
and ``bench_garment_colour.py``; this one needs no index build (about 7 minutes a model on
2 cores) and tells whether a training run is worth them. Options that combine or post-process
models, each reported as extra rows:

* ``--layers``: the photo recall of intermediate stages (global-average-pooled), to see where
  instance detail is lost;
* ``--fuse W`` (two ``--weights``): search by (1 - W) × cosine(first) + W × cosine(second), two
  embeddings fused at search time;
* ``--average A`` (two ``--weights``): one network whose weights are (1 - A) × first + A ×
  second (WiSE-FT weight averaging);
* ``--whiten-views CSV`` (``make_photo_queries.py --split train``: simulated photos of ``train``
  items, none of them in the gallery or the queries): a learned whitening of each model's
  embedding (Radenović et al.: the inverse square root of the photo-minus-item covariance, then
  PCA of the whitened items), ranked alone and as a re-ranking of the cosine's top K;
* ``--label-weights HEAD=W,...`` (models with heads): the product's label-aware score, the
  cosine plus :func:`~fashion_desktop.core.scoring.label_agreement` of the heads' signatures
  with these weights (the heads alone, no measured garment colour).

For every model's cosine (and whitened score) it also measures gates that would show an
"exact match" first only when the best match stands out (its score, its margin over the second,
its z-score among the next 100), set to pass 1%, 0.5% or none of the real photos: how many
synthetic photos pass, and pass with their own item first.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import SHARED, machine_summary, save_json, split_ids

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.heads import ClassifierHeads
from fashion_desktop.core.imaging import load_model_input
from fashion_desktop.core.scoring import SignatureLayout, label_agreement, label_signatures

REAL = SHARED / "real" / "clothing-dataset"
LAYERS = ("conv4_block6_out", "conv5_block1_out", "conv5_block2_out")
REAL_FIELDS = ("masterCategory", "subCategory", "articleType")
CATALOGUE_FIELDS = ("articleType", "baseColour")
#: Whitening: shrinkage of the photo-minus-item covariance (share of its mean eigenvalue) and
#: the kept dimensions; re-ranking depths of the cosine's top K.
WHITEN_SHRINK, WHITEN_DIM, RERANK_DEPTHS = 0.3, 256, (20, 100)
#: A gate that would trust a query's best match (an "exact match" shown first) is set so that it
#: passes this share of the real `val` photos, which show no catalogue item: 1%, 0.5%, none.
GATE_REAL_SHARES = (0.01, 0.005, 0.0)


def weights_choice(weights: str):
    """The Keras weights (and heads) of ``bundled``, a model folder or a file."""
    from fashion_desktop.core.embedder import resolve_weights

    return resolve_weights(None if weights == "bundled" else weights, keras=True)


def network(weights: str):
    """Keras ResNet50 (float32) with the weights of ``bundled``, a model folder or a file."""
    from fashion_desktop.core.export import load_keras_backbone

    return load_keras_backbone(weights_choice(weights))[0]


def heads_of(weights: str) -> ClassifierHeads | None:
    """The classifier heads beside ``weights`` (None for a bare weights file)."""
    choice = weights_choice(weights)
    return ClassifierHeads.load(choice.heads) if choice.heads else None


def parse_label_weights(text: str) -> dict[str, float]:
    """``articleType=4,baseColour=2,gender=1`` → {head: weight}."""
    try:
        pairs = [part.split("=") for part in text.split(",")]
        return {head.strip(): float(weight) for head, weight in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEAD=WEIGHT,..., got {text!r}") from None


def averaged_network(first: str, second: str, share: float):
    """One network with (1 - share) × ``first``'s weights + share × ``second``'s."""
    model, other = network(first), network(second)
    model.set_weights(
        [
            (1 - share) * a + share * b if a.dtype.kind == "f" else a
            for a, b in zip(model.get_weights(), other.get_weights(), strict=True)
        ]
    )
    return model


def normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class Embedded(NamedTuple):
    """A model's outputs for a set of images."""

    #: L2-normalised pooled outputs by layer name: ``final`` (and ``LAYERS``)
    unit: dict[str, np.ndarray]
    #: the final layer's raw output (what the heads read)
    raw: np.ndarray


def embed(model, images: np.ndarray, layers: bool) -> Embedded:
    """The pooled outputs of the final layer (and of ``LAYERS``) for ``images``."""
    import keras

    names = ["final", *(LAYERS if layers else ())]
    outputs = [model.output, *(model.get_layer(n).output for n in names[1:])]
    probe = keras.Model(model.input, outputs)
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, len(images), 32):
        batch = keras.applications.resnet50.preprocess_input(
            images[start : start + 32].astype(np.float32)
        )
        result = probe(batch, training=False)
        for name, output in zip(names, result if layers else [result], strict=True):
            pooled = np.asarray(output, np.float32)
            chunks[name].append(pooled.mean(axis=(1, 2)) if pooled.ndim == 4 else pooled)
    raw = np.concatenate(chunks["final"])
    return Embedded({name: normalise(np.concatenate(parts)) for name, parts in chunks.items()}, raw)


def learned_whitening(photos: np.ndarray, items: np.ndarray, shrink: float, dim: int):
    """Unit embeddings → whitened unit vectors in which a photo lands near its own item."""
    mean = items.mean(axis=0)
    difference = (photos - items).astype(np.float64)
    within = difference.T @ difference / len(difference)
    within += shrink * np.trace(within) / len(within) * np.eye(len(within))
    values, vectors = np.linalg.eigh(within)
    whiten = (vectors / np.sqrt(values)) @ vectors.T
    spread = (items - mean) @ whiten
    _, directions = np.linalg.eigh(spread.T @ spread / len(spread))
    matrix = (whiten @ directions[:, ::-1][:, :dim]).astype(np.float32)
    return lambda x: normalise((x - mean) @ matrix)


def top5(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, axis=1)[:, :5]


def reranked_top5(cosine: np.ndarray, second: np.ndarray, depth: int) -> np.ndarray:
    """The cosine's top ``depth`` re-ordered by ``second``'s scores."""
    candidates = np.argsort(-cosine, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(second, candidates, axis=1), axis=1)[:, :5]
    return np.take_along_axis(candidates, order, axis=1)


def best_match_signals(scores: np.ndarray) -> dict[str, np.ndarray]:
    """What a gate could read off each query's scores: its best score, the best's margin over
    the second, and how far the best stands above the next 100 (a z-score)."""
    ordered = -np.sort(-scores, axis=1)[:, :101]
    rest = ordered[:, 1:]
    return {
        "best": ordered[:, 0],
        "margin": ordered[:, 0] - ordered[:, 1],
        "z-score": (ordered[:, 0] - rest.mean(axis=1)) / np.maximum(rest.std(axis=1), 1e-12),
    }


def gate_shares(photo_scores: np.ndarray, real_scores: np.ndarray, truth: np.ndarray) -> dict:
    """For each signal of :func:`best_match_signals` and each of ``GATE_REAL_SHARES``: the
    threshold passing that share of the real photos, and the shares of synthetic photos whose
    best match passes it, and pass with their own item first."""
    photo, real = best_match_signals(photo_scores), best_match_signals(real_scores)
    own_first = photo_scores.argmax(axis=1) == truth
    out = {}
    for signal in photo:
        for share in GATE_REAL_SHARES:
            threshold = float(np.quantile(real[signal], 1.0 - share))
            passes = photo[signal] > threshold
            out[f"{signal} > {threshold:.3f} (real photos {share:.1%})"] = {
                "photos": round(float(np.mean(passes)), 3),
                "photos_right": round(float(np.mean(passes & own_first)), 3),
                "real": round(float(np.mean(real[signal] > threshold)), 3),
            }
    return out


def recall_of_top5(top: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "R@1": round(float(np.mean(top[:, 0] == truth)), 3),
        "R@5": round(float(np.mean((top == truth[:, None]).any(axis=1))), 3),
    }


def precision_at_5(top: np.ndarray, query_labels: list[str], gallery_labels: list[str]) -> float:
    hits = [
        np.mean([gallery_labels[j] == label for j in row])
        for row, label in zip(top, query_labels, strict=True)
        if label
    ]
    return round(float(np.mean(hits)), 3) if hits else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", action="append", required=True)
    parser.add_argument("--gallery", type=int, default=3000)
    parser.add_argument("--photos", type=Path, default=Path("bench-out/photos/queries/photos.csv"))
    parser.add_argument("--layers", action="store_true")
    parser.add_argument("--fuse", type=float, action="append", default=[])
    parser.add_argument("--average", type=float, action="append", default=[])
    parser.add_argument("--whiten-views", type=Path, action="append", default=[])
    parser.add_argument("--label-weights", type=parse_label_weights, action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("bench-out/probe"))
    args = parser.parse_args()
    for path in [args.photos, *args.whiten_views]:
        if not path.is_file():
            sys.exit(f"{path} not found: run tests/benchmarks/make_photo_queries.py first")
    if (args.fuse or args.average) and len(args.weights) != 2:
        sys.exit("--fuse and --average combine exactly two --weights")

    catalogue = read_catalogue(SHARED / "catalog")
    by_id = {item.item_id: item for item in catalogue.items}

    def read_rows(path: Path) -> list[dict[str, str]]:
        with path.open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    photos = read_rows(args.photos)
    photo_items = [row["id"] for row in photos]
    gallery_ids = split_ids("train", args.gallery) + photo_items
    gallery_rows = {i: n for n, i in enumerate(gallery_ids)}
    cat_query_ids = [i for i in split_ids("val") if i not in set(photo_items)][:300]
    real = [row for row in read_rows(REAL / "labels.csv") if row["split"] == "val"]
    views = [
        (path.parent / row["image"], row["id"])
        for path in args.whiten_views
        for row in read_rows(path)
    ]
    if set(gallery_rows) & {item for _, item in views}:
        sys.exit("--whiten-views shows gallery items: make them from later train items")

    def load(paths: list[Path]) -> np.ndarray:
        return np.stack([load_model_input(p)[0] for p in paths])

    started = time.perf_counter()
    images = {
        "gallery": load([by_id[i].image_path for i in gallery_ids]),
        "photos": load([args.photos.parent / row["image"] for row in photos]),
        "real": load([REAL / "images" / f"{row['id']}.jpg" for row in real]),
        "catalogue": load([by_id[i].image_path for i in cat_query_ids]),
    }
    if views:
        images["views"] = load([path for path, _ in views])
        images["view_items"] = load([by_id[item].image_path for _, item in views])
    print(
        f"decoded {sum(map(len, images.values())):,} images "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    field = lambda ids, name: [by_id[i].metadata.get(name, "") for i in ids]  # noqa: E731
    truth = np.array([gallery_rows[i] for i in photo_items])

    def figures(photo_top: np.ndarray, real_top: np.ndarray, cat_top=None) -> dict:
        entry = {
            "photos": recall_of_top5(photo_top, truth),
            "real_val_P@5": {
                name: precision_at_5(real_top, [r[name] for r in real], field(gallery_ids, name))
                for name in REAL_FIELDS
            },
        }
        if cat_top is not None:
            entry["catalogue_P@5"] = {
                name: precision_at_5(cat_top, field(cat_query_ids, name), field(gallery_ids, name))
                for name in CATALOGUE_FIELDS
            }
        return entry

    results: dict[str, dict] = {}
    embedded: dict[str, dict[str, np.ndarray]] = {}
    models = [(w, lambda w=w: network(w)) for w in args.weights] + [
        (f"average {share:g}", lambda s=share: averaged_network(*args.weights, s))
        for share in args.average
    ]
    for name, build in models:
        started = time.perf_counter()
        model = build()
        layered = {key: embed(model, images[key], args.layers) for key in ("gallery", "photos")}
        outputs = layered | {
            key: embed(model, value, False) for key, value in images.items() if key not in layered
        }
        embedded[name] = {key: value.unit["final"] for key, value in outputs.items()}
        e = embedded[name]
        cosine = {key: e[key] @ e["gallery"].T for key in ("photos", "real", "catalogue")}
        entry = figures(top5(cosine["photos"]), top5(cosine["real"]), top5(cosine["catalogue"]))
        entry["layers"] = {
            layer: recall_of_top5(
                top5(layered["photos"].unit[layer] @ layered["gallery"].unit[layer].T), truth
            )
            for layer in layered["gallery"].unit
        }
        entry["gate"] = gate_shares(cosine["photos"], cosine["real"], truth)
        entry["seconds"] = round(time.perf_counter() - started)
        results[name] = entry
        if views:
            whiten = learned_whitening(e["views"], e["view_items"], WHITEN_SHRINK, WHITEN_DIM)
            gallery = whiten(e["gallery"])
            white = {key: whiten(e[key]) @ gallery.T for key in ("photos", "real")}
            results[f"{name}, whitened"] = figures(top5(white["photos"]), top5(white["real"]))
            results[f"{name}, whitened"]["gate"] = gate_shares(
                white["photos"], white["real"], truth
            )
            for depth in RERANK_DEPTHS:
                results[f"{name}, cosine top {depth} re-ranked by the whitened"] = figures(
                    *(reranked_top5(cosine[k], white[k], depth) for k in ("photos", "real"))
                )
        heads = heads_of(name) if args.label_weights and name in args.weights else None
        if heads is not None:
            layout = SignatureLayout.from_heads(heads)
            signed = {
                key: label_signatures(heads, outputs[key].raw, layout)
                for key in ("gallery", "photos", "real", "catalogue")
            }
            for weights in args.label_weights:
                label_aware = {
                    key: cosine[key]
                    + label_agreement(signed[key], signed["gallery"], layout, weights)
                    for key in cosine
                }
                described = ", ".join(f"{h} {w:g}" for h, w in weights.items())
                results[f"{name}, label-aware ({described})"] = figures(
                    *(top5(label_aware[k]) for k in ("photos", "real", "catalogue"))
                )
        print(name, entry, file=sys.stderr)

    for share in args.fuse:
        a, b = (embedded[w] for w in args.weights)
        fused = {
            key: (1 - share) * a[key] @ a["gallery"].T + share * b[key] @ b["gallery"].T
            for key in ("photos", "real", "catalogue")
        }
        results[f"fused, w = {share:g}"] = figures(*(top5(fused[k]) for k in fused))

    report = {
        "machine": machine_summary(),
        "gallery": len(gallery_ids),
        "synthetic_photos": len(photos),
        "real_val_photos": len(real),
        "catalogue_queries": len(cat_query_ids),
        "whitening_views": len(views),
        "models": results,
    }
    save_json(report, args.out / "probe.json")
    print(
        "\n| model / method | photos R@1 / R@5 | real val P@5 master / sub / type | "
        "catalogue P@5 type / colour |\n|---|---|---|---|"
    )
    for name, entry in results.items():
        photo, real_p = entry["photos"], entry["real_val_P@5"]
        cat_p = entry.get("catalogue_P@5")
        cat_text = f"{cat_p['articleType']:.3f} / {cat_p['baseColour']:.3f}" if cat_p else "—"
        print(
            f"| {name} | {photo['R@1']:.3f} / {photo['R@5']:.3f} | "
            + " / ".join(f"{real_p[f]:.3f}" for f in REAL_FIELDS)
            + f" | {cat_text} |"
        )
    for name, entry in results.items():
        for gate, shares in entry.get("gate", {}).items():
            print(
                f"{name}: best match {gate} on {shares['photos']:.1%} of the synthetic photos "
                f"({shares['photos_right']:.1%} their own item), {shares['real']:.1%} of the real"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
