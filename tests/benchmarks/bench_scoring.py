"""Label-aware scoring on the whole shared catalogue (issues 6 and 7): weights, quality, latency.

    fashion-desktop index build ../shared/catalog --out bench-out/full/index-all --dim full
    python tests/benchmarks/bench_scoring.py [--all-index bench-out/full/index-all]
        [--out bench-out/full] [--weights MODEL] [--skip-photos] [--latency 60]

The first command embeds all 39,987 catalogue images once (about an hour on 2 cores); this
script never embeds a catalogue image again: it derives, with ``index build --update`` (reusing
every stored embedding), the product's own indexes:

* ``OUT/index-train``: the 35,513 ``train`` items (PCA-256 vectors, label signatures), the
  figure the issues name: ``val`` items as catalogue-style queries against it, P@5 per field;
* ``OUT/index-train+photo-items``: the same plus the catalogue images of the items that the
  photo sets show (``make_photo_queries.py``: the 300-photo yardstick at offset 500 and the
  100 development photos at offset 800), for exact-item Recall@1/@5 of photos.

Queries are the ``val`` catalogue images themselves (their stored embeddings are exactly what a
query of that file computes). Weights are chosen on development queries only — ``val`` items
900–2,400 in the fixed hash order for catalogue-style queries, the 100 development photos for
photos — and reported on the rest: the 2,974 other ``val`` items and the 300-photo yardstick.
Latency: decode + (localise) + embed + search through :class:`SearchEngine`, one query at a time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import (
    latency_summary,
    machine_summary,
    save_json,
    split_ids,
    write_subset_catalogue,
)
from make_photo_queries import make_photos

from fashion_desktop.core.builder import build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.evaluation import QuerySet, embed_queries, evaluate, evaluate_photos
from fashion_desktop.core.imaging import load_image
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.scoring import (
    COLOUR_HEAD,
    COSINE_ONLY,
    DEFAULT_SCORING,
    GENDER_HEAD,
    TYPE_HEAD,
    Scoring,
)
from fashion_desktop.core.search import SearchEngine

FIELDS = ("articleType", "baseColour", "gender", "masterCategory")
TYPE_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
COLOUR_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0)
GENDER_WEIGHTS = (0.0, 0.5, 1.0)
#: Photos keep the cosine unless a weighting gains more than this in R@1 + R@5 on dev photos.
PHOTO_MIN_GAIN = 0.03
#: Weights are chosen by the sum of these fields' P@5 (what the heads predict).
CHOSEN_BY = ("articleType", "baseColour", "gender")
PHOTOS = Path("bench-out/photos")


def derived_index(all_index: Path, ids: list[str], out: Path, embedder: Embedder) -> Path:
    """An index of ``ids`` built from ``all_index``'s stored embeddings (none re-embedded)."""
    if (out / "manifest.json").is_file():
        return out
    catalogue = read_catalogue(write_subset_catalogue(ids, out.parent / f"{out.name}.csv"))
    staging = out.parent / f"{out.name}.seed"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(all_index, staging)
    report = build_index(catalogue, staging, embedder, update=True, dim="auto")
    assert report.embedded == 0, f"{report.embedded} images were re-embedded"
    staging.rename(out)
    print(f"{out}: {report.indexed:,} items in {report.elapsed_s:.0f} s", flush=True)
    return out


def synthetic_gallery(all_index: Path, out: Path, embedder: Embedder):
    """The synthetic photo sets (the 300-photo yardstick and 100 development photos, made if
    missing) and the index they are searched in: ``train`` plus their items, derived from
    ``all_index`` into ``out/index-train+photo-items``."""
    yardstick_dir, dev_photo_dir = PHOTOS / "queries", PHOTOS / "dev"
    if not (yardstick_dir / "photos.csv").is_file():
        make_photos(300, 500, 0, yardstick_dir)
    if not (dev_photo_dir / "photos.csv").is_file():
        make_photos(100, 800, 1, dev_photo_dir)
    yardstick = read_catalogue(yardstick_dir / "photos.csv")
    dev_photos = read_catalogue(dev_photo_dir / "photos.csv")
    photo_items = [i.item_id for i in (*yardstick.items, *dev_photos.items)]
    index = derived_index(
        all_index, split_ids("train") + photo_items, out / "index-train+photo-items", embedder
    )
    return yardstick, dev_photos, index


def stored_queries(all_index: EmbeddingIndex, ids: list[str], embedder: Embedder) -> QuerySet:
    """Catalogue-style queries from the stored embeddings of catalogue items ``ids``."""
    rows = [all_index.row_of(item_id) for item_id in ids]
    missing = [i for i, row in zip(ids, rows, strict=True) if row is None]
    if missing:
        raise SystemExit(f"{len(missing)} query items are not in the all-catalogue index")
    items = all_index.items(rows)
    raw = np.asarray(all_index.raw_embeddings()[rows], dtype=np.float32)
    return QuerySet(
        [item.metadata for item in items],
        [item.sha256 for item in items],
        raw,
        [],
        embedder.identity.fingerprint,
        ids,
    ).with_signatures(embedder)


def p_at_5(index: EmbeddingIndex, queries: QuerySet, scoring: Scoring) -> dict[str, float]:
    report = evaluate(index, queries, k=5, fields=FIELDS, scoring=scoring)
    return {name: round(s.precision, 4) for name, s in report.fields.items()}


def recall(index: EmbeddingIndex, photos: QuerySet, scoring: Scoring) -> dict[str, float]:
    report = evaluate_photos(index, photos, ks=(1, 5), scoring=scoring)
    return {"R@1": round(report.recall[1], 4), "R@5": round(report.recall[5], 4)}


def grid() -> list[Scoring]:
    """The weights tried, each for product shots and photos alike (the product's form)."""
    scorings = []
    for t, c, g in itertools.product(TYPE_WEIGHTS, COLOUR_WEIGHTS, GENDER_WEIGHTS):
        weights = {TYPE_HEAD: t, COLOUR_HEAD: c, GENDER_HEAD: g}
        scorings.append(Scoring(weights, photo_weights=weights))
    return scorings


def weights_of(scoring: Scoring) -> str:
    w = scoring.weights
    return f"type {w[TYPE_HEAD]:g} / colour {w[COLOUR_HEAD]:g} / gender {w[GENDER_HEAD]:g}"


def photo_queries(catalogue, embedder: Embedder, mode: str, cache: Path) -> QuerySet:
    """Embedded photos (localised as ``mode`` says), cached: localising 400 photos takes minutes.

    A cache written by another model, or without the per-photo kind and measured garment
    colour (NaN rows: none measured), is embedded again.
    """
    fingerprint = embedder.identity.fingerprint
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            raw, sha = stored["raw"], [str(s) for s in stored["sha256"]]
            photo = [bool(p) for p in stored["photo"]] if "photo" in stored.files else None
            model = str(stored["model"]) if "model" in stored.files else None
            measured = stored["colours"] if "colours" in stored.files else None
        if photo is not None and measured is not None and model == fingerprint:
            items = catalogue.items
            return QuerySet(
                [i.metadata for i in items],
                sha,
                raw,
                [],
                fingerprint,
                [i.item_id for i in items],
                photo=photo,
                colours=[None if np.isnan(row).all() else row for row in measured],
            ).with_signatures(embedder)
    queries = embed_queries(catalogue, embedder, localise=mode)
    assert not queries.skipped
    width = len(embedder.garment_colour.classes) if embedder.garment_colour else 1
    colours = np.full((len(queries.raw), width), np.nan, np.float32)
    for n, colour in enumerate(queries.colours):
        if colour is not None:
            colours[n] = colour
    np.savez(
        cache,
        raw=queries.raw,
        sha256=np.array(queries.sha256),
        photo=np.array(queries.photo),
        model=np.array(fingerprint),
        colours=colours,
    )
    return queries


def latency(engine: SearchEngine, paths: list[Path]) -> dict:
    times = []
    for path in paths:
        t0 = time.perf_counter()
        engine.search_images([load_image(path)])
        times.append((time.perf_counter() - t0) * 1000)
    return latency_summary(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-index", type=Path, default=Path("bench-out/full/index-all"))
    parser.add_argument("--out", type=Path, default=Path("bench-out/full"))
    parser.add_argument("--skip-photos", action="store_true")
    parser.add_argument("--weights", help="model folder (default: the bundled model)")
    parser.add_argument("--latency", type=int, default=60, help="queries per latency figure")
    args = parser.parse_args()
    embedder = Embedder.load(args.weights)
    assert embedder.heads is not None, "the model's classifier heads are needed"
    everything = EmbeddingIndex.open(args.all_index, verify=False)
    val = split_ids("val")
    dev_ids = val[900:2400]
    test_ids = [i for i in val if i not in set(dev_ids)]
    results: dict = {"machine": machine_summary(), "dev_queries": len(dev_ids)}
    results["test_queries"] = len(test_ids)

    train_dir = derived_index(
        args.all_index, split_ids("train"), args.out / "index-train", embedder
    )
    train = EmbeddingIndex.open(train_dir)
    dev = stored_queries(everything, dev_ids, embedder)
    test = stored_queries(everything, test_ids, embedder)

    # -- catalogue-style: choose on dev, report on test
    sweep = {weights_of(s): p_at_5(train, dev, s) for s in grid()}
    for name, scores in sweep.items():
        print(f"dev {name:<24} {scores}", flush=True)
    best = max(grid(), key=lambda s: sum(sweep[weights_of(s)][f] for f in CHOSEN_BY))
    if weights_of(best) != weights_of(DEFAULT_SCORING):
        print(f"note: the product's DEFAULT_SCORING is {weights_of(DEFAULT_SCORING)}", flush=True)
    results["catalogue"] = {
        "index_items": len(train),
        "dev_sweep": sweep,
        "chosen": weights_of(best),
        "test": {
            "cosine only (baseline)": p_at_5(train, test, COSINE_ONLY),
            f"product default: {weights_of(DEFAULT_SCORING)}": p_at_5(train, test, DEFAULT_SCORING),
            f"chosen: {weights_of(best)}": p_at_5(train, test, best),
            "chosen, Match colour off": p_at_5(train, test, best.with_match_colour(False)),
        },
    }
    for name, scores in results["catalogue"]["test"].items():
        print(f"test {name:<40} {scores}", flush=True)

    if not args.skip_photos:
        yardstick, dev_photos, photo_index_dir = synthetic_gallery(
            args.all_index, args.out, embedder
        )
        photo_index = EmbeddingIndex.open(photo_index_dir)
        embedded = {}
        for name, catalogue in (("dev", dev_photos), ("yardstick", yardstick)):
            for mode in ("never", "auto"):
                t0 = time.perf_counter()
                cache = args.out / f"photo-queries-{name}-{mode}.npz"
                embedded[name, mode] = photo_queries(catalogue, embedder, mode, cache)
                print(f"photos {name}/{mode}: {time.perf_counter() - t0:.0f} s", flush=True)
        photo_sweep = {
            weights_of(s): recall(photo_index, embedded["dev", "auto"], s) for s in grid()
        }
        best_photo = max(grid(), key=lambda s: sum(photo_sweep[weights_of(s)].values()))
        cosine = Scoring({TYPE_HEAD: 0.0, COLOUR_HEAD: 0.0, GENDER_HEAD: 0.0})
        gain = sum(photo_sweep[weights_of(best_photo)].values()) - sum(
            photo_sweep[weights_of(cosine)].values()
        )
        if gain < PHOTO_MIN_GAIN:  # 100 development photos: a photo or two is noise
            best_photo = cosine
        results["photos"] = {
            "index_items": len(photo_index),
            "dev_sweep": photo_sweep,
            "chosen": weights_of(best_photo),
            "yardstick": {
                "whole image, cosine only (baseline)": recall(
                    photo_index, embedded["yardstick", "never"], COSINE_ONLY
                ),
                f"whole image, product default {weights_of(DEFAULT_SCORING)}": recall(
                    photo_index, embedded["yardstick", "never"], DEFAULT_SCORING
                ),
                "localised, the product's default ranking (the product)": recall(
                    photo_index, embedded["yardstick", "auto"], DEFAULT_SCORING
                ),
                "localised, cosine only": recall(
                    photo_index, embedded["yardstick", "auto"], COSINE_ONLY
                ),
                f"localised, catalogue weights {weights_of(best)}": recall(
                    photo_index, embedded["yardstick", "auto"], best
                ),
                f"localised, photo weights {weights_of(best_photo)}": recall(
                    photo_index, embedded["yardstick", "auto"], best_photo
                ),
            },
        }
        for name, scores in results["photos"]["yardstick"].items():
            print(f"photos {name:<48} {scores}", flush=True)
        engine = SearchEngine(train, embedder, scoring=DEFAULT_SCORING)
        photo_paths = [item.image_path for item in yardstick.items][: args.latency]
        catalogue_paths = [
            item.image_path
            for item in read_catalogue(
                write_subset_catalogue(test_ids[: args.latency], args.out / "latency.csv")
            ).items
        ]
        engine.search_images([load_image(catalogue_paths[0])])  # warm
        results["latency"] = {
            "catalogue-style": latency(engine, catalogue_paths),
            "photos": latency(engine, photo_paths),
            "catalogue-style, cosine only, no localisation": latency(
                SearchEngine(train, embedder, scoring=COSINE_ONLY, localise="never"),
                catalogue_paths,
            ),
        }
        print("latency", results["latency"], flush=True)
    save_json(results, args.out / "scoring.json")
    print(f"wrote {args.out / 'scoring.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
