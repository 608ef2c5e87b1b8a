"""How deep does a synthetic photo's own item lie (issue 11)? A bound on any re-ranking stage.

    fashion-desktop index build ../shared/catalog --out ALL/index-all --dim full [--weights MODEL]
    python tests/benchmarks/bench_candidate_depth.py --all-index ALL/index-all [--weights MODEL]
        [--verify 50] [--out bench-out/depth/NAME]

The index is ``bench_scoring.py``'s ``train`` + photo-items index (the synthetic
yardstick's gallery, 35,913 items), derived from ALL_INDEX's stored embeddings into ``ALL/``.
Each synthetic photo of the 300-photo yardstick (``make_photo_queries.py``) is searched through
the product's own path (:class:`SearchEngine`: the same photo decision, localisation and garment
colour) with the product's photo ranking and with the cosine alone, 200 results deep, and R@K
is reported for K up to 200. A second stage that re-orders the first stage's top K (an
exact-item verifier, a learned re-ranker) can put a photo's own item into its top 5 only where
the item is in those K: R@K is the ceiling of every such stage.

``--verify K`` also measures one candidate verifier that needs no model: masked, multi-scale
normalised cross-correlation of each candidate's catalogue cut-out
(:func:`photosim.product_mask`) slid over the photo (colour, 112 px on the longer side, the
garment's larger side at 30–92% of the frame's shorter side, as the simulator places it). For
the photos whose own item is among the cosine's first K it reports how often the own item is
the verifier's first choice, against the cosine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_scoring import synthetic_gallery
from common import machine_summary, save_json
from PIL import Image

from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.imaging import load_image
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.photosim import product_mask
from fashion_desktop.core.scoring import COSINE_ONLY, DEFAULT_SCORING
from fashion_desktop.core.search import SearchEngine

DEPTHS = (1, 5, 10, 20, 50, 100, 200)
QUERY_SIDE = 112
TEMPLATE_SHARES = (0.3, 0.4, 0.5, 0.62, 0.76, 0.92)


def own_item_ranks(engine: SearchEngine, photos) -> tuple[dict[str, np.ndarray], list]:
    """Each photo's own-item rank (0-based; DEPTHS[-1] when absent) under the product's ranking
    and the cosine's, and the cosine's hits: every photo embedded once, then ranked again from
    its vector (:meth:`SearchEngine.search_vector`)."""
    ranks: dict[str, list[int]] = {"product": [], "cosine": []}
    cosine_hits = []
    for item in photos.items:
        (response,) = engine.search_images(
            [load_image(item.image_path)], k=DEPTHS[-1], scoring=DEFAULT_SCORING
        )
        cosine = engine.search_vector(
            response.vector, k=DEPTHS[-1], scoring=COSINE_ONLY, photo=response.photo
        )
        for name, hits in (("product", response.hits), ("cosine", cosine.hits)):
            ids = [hit.item_id for hit in hits]
            ranks[name].append(ids.index(item.item_id) if item.item_id in ids else DEPTHS[-1])
        cosine_hits.append(cosine.hits)
    return {name: np.asarray(r) for name, r in ranks.items()}, cosine_hits


def recall_at(ranks: np.ndarray) -> dict[str, float]:
    return {f"R@{k}": round(float((ranks < k).mean()), 4) for k in DEPTHS}


class PhotoCorrelator:
    """Masked normalised cross-correlation of cut-outs against one photo (FFT, all offsets)."""

    def __init__(self, photo: Image.Image) -> None:
        scale = QUERY_SIDE / max(photo.size)
        size = (max(8, round(photo.width * scale)), max(8, round(photo.height * scale)))
        pixels = np.asarray(photo.convert("RGB").resize(size, Image.Resampling.BOX), np.float32)
        self.height, self.width = pixels.shape[:2]
        self.shape = (2 * self.height, 2 * self.width)
        pixels /= 255.0
        self.channels = [np.fft.rfft2(pixels[..., c], self.shape) for c in range(3)]
        self.squares = np.fft.rfft2((pixels * pixels).sum(axis=2), self.shape)

    def best(self, product: Image.Image) -> float:
        """The highest correlation of the product's cut-out at any offset and scale."""
        mask = product_mask(product)
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        cut = product.convert("RGB").crop(box)
        cut_mask = Image.fromarray(mask[box[1] : box[3], box[0] : box[2]].astype(np.uint8) * 255)
        best = -1.0
        for share in TEMPLATE_SHARES:
            fit = share * min(self.height, self.width) / max(cut.size)
            w, h = max(4, round(cut.width * fit)), max(4, round(cut.height * fit))
            if w > self.width or h > self.height:
                continue
            template = np.asarray(cut.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0
            inside = np.asarray(cut_mask.resize((w, h), Image.Resampling.BOX)) > 127
            count = int(inside.sum())
            if count < 16:
                continue
            centred = (template - template[inside].mean(axis=0)) * inside[..., None]
            norm = float(np.sqrt((centred**2).sum()))
            flipped, window = centred[::-1, ::-1], inside[::-1, ::-1].astype(np.float32)
            window_spec = np.fft.rfft2(window, self.shape)
            product_sum = sum(
                spec * np.fft.rfft2(flipped[..., c], self.shape)
                for c, spec in enumerate(self.channels)
            )
            numerator = np.fft.irfft2(product_sum, self.shape)
            sums = [np.fft.irfft2(spec * window_spec, self.shape) for spec in self.channels]
            energy = np.fft.irfft2(self.squares * window_spec, self.shape)
            variance = energy - sum(s * s for s in sums) / count
            valid = (slice(h - 1, self.height), slice(w - 1, self.width))
            ncc = numerator[valid] / (
                norm * np.sqrt(np.maximum(variance[valid], 1e-3 * count)) + 1e-6
            )
            best = max(best, float(ncc.max()))
        return best


def verify(photos, cosine_hits: list, depth: int) -> dict:
    """Among photos whose own item is in the cosine's top ``depth``: own item first, by the
    verifier against by the cosine."""
    verified = cosine_first = considered = 0
    seconds = []
    for item, ranked in zip(photos.items, cosine_hits, strict=True):
        hits = ranked[:depth]
        ids = [hit.item_id for hit in hits]
        if item.item_id not in ids:
            continue
        considered += 1
        cosine_first += ids[0] == item.item_id
        t0 = time.perf_counter()
        correlator = PhotoCorrelator(load_image(item.image_path).image)
        scores = [correlator.best(Image.open(hit.image_path)) for hit in hits]
        seconds.append(time.perf_counter() - t0)
        verified += ids[int(np.argmax(scores))] == item.item_id
    return {
        "depth": depth,
        "photos_with_own_item_in_depth": considered,
        "own_item_first_by_cosine": cosine_first,
        "own_item_first_by_verifier": verified,
        "verifier_ms_per_photo_p50": round(1000 * float(np.median(seconds)), 1)
        if seconds
        else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-index", type=Path, required=True)
    parser.add_argument("--weights", help="model folder (default: the bundled model)")
    parser.add_argument("--verify", type=int, default=0, metavar="K")
    parser.add_argument("--out", type=Path, default=Path("bench-out/depth/shipped"))
    args = parser.parse_args()
    embedder = Embedder.load(args.weights)
    photos, _, index = synthetic_gallery(args.all_index, args.all_index.parent, embedder)
    engine = SearchEngine(EmbeddingIndex.open(index), embedder)
    results: dict = {"machine": machine_summary(), "photos": len(photos.items),
                     "index_items": len(engine.index)}  # fmt: skip
    ranks, cosine_hits = own_item_ranks(engine, photos)
    for name, found in ranks.items():
        results[name] = recall_at(found)
        print(name, results[name], flush=True)
    if args.verify:
        results["verifier"] = verify(photos, cosine_hits, args.verify)
        print("verifier", results["verifier"], flush=True)
    save_json(results, args.out / "depth.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
