"""Index build throughput on Ray against the single-process build (issue 15).

    python tests/benchmarks/bench_ray_build.py [--count 2000] [--out bench-out/ray-build]

The same ``--count`` shared ``train`` images (the fixed hash order of ``common.split_ids``) are
indexed from scratch by ``build_index`` with the bundled model, once per configuration:

* ``local``: today's single-process build (LiteRT on every core, decode threads ahead);
* ``ray-1x1``, ``ray-2x1`` (and ``ray-1x2``): the Ray engine on a local two-CPU Ray, workers ×
  LiteRT threads per worker;
* ``local-1-thread`` (on request): the local build with one LiteRT thread.

Each run reports its wall time (scan, Ray's actor start-up, embedding, index write), its steady
rate (images embedded between the first and the last batch that came back, over that time), and
the CPU seconds it cost per image: the build process's own (every thread), plus for Ray the
actors' (``time.process_time`` inside each batch call, written by a timing subclass of the
actor) and Ray's daemons' (raylet, GCS, idle workers: ``psutil``). CPU per image is the figure
that survives a shared machine; the per-core throughput is its inverse. The driver's scan alone
(read + SHA-256 of every image, no decoding) is timed too. Every Ray index is compared with the
local one (largest difference of a stored vector). Ray's own start (``ray.init``) is timed once,
apart. Run it on an otherwise idle machine for the wall-time figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import psutil
from common import machine_summary, save_json, split_ids, write_subset_catalogue

from fashion_desktop.core.builder import BuildProgress, _prepare_items, build_index
from fashion_desktop.core.catalogue import Catalogue, read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.runtime import THREADS_ENV

RAY_CONFIGS = {"ray-1x1": (1, 1), "ray-1x2": (1, 2), "ray-2x1": (2, 1)}
CPU_LOG = Path(tempfile.mkdtemp(prefix="ray-actor-cpu-"))


def timed_actor_class():
    """EmbeddingActor that appends each batch's CPU and wall seconds to a file per process
    (defined in ``__main__``, so Ray ships it to the workers by value)."""
    from fashion_desktop.core.distributed import EmbeddingActor

    log_dir = str(CPU_LOG)

    class TimedEmbeddingActor(EmbeddingActor):
        def __call__(self, batch):
            cpu, wall = time.process_time(), time.perf_counter()
            out = super().__call__(batch)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            with open(os.path.join(log_dir, f"{os.getpid()}.txt"), "a") as handle:
                handle.write(f"{cpu} {wall} {len(out['position'])}\n")
            return out

    return TimedEmbeddingActor


def actor_cpu_seconds() -> tuple[float, float, int]:
    """(CPU s, busy wall s, images) summed over every actor batch logged so far."""
    cpu = busy = images = 0.0
    for log in CPU_LOG.glob("*.txt"):
        for line in log.read_text().split("\n"):
            if line:
                c, w, n = line.split()
                cpu, busy, images = cpu + float(c), busy + float(w), images + int(n)
    return cpu, busy, int(images)


def descendants_cpu() -> dict[int, float]:
    """CPU seconds so far of each process under this one (Ray's daemons and workers)."""
    times = {}
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            times[child.pid] = t.user + t.system
        except psutil.Error:
            pass
    return times


def timed_build(catalogue: Catalogue, out: Path, embedder: Embedder, engine=None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out.parent / f".{out.name}.building", ignore_errors=True)
    for log in CPU_LOG.glob("*.txt"):
        log.unlink()
    marks: list[tuple[float, int]] = []

    def progress(state: BuildProgress) -> None:
        if state.embedded and (not marks or state.embedded != marks[-1][1]):
            marks.append((time.perf_counter(), state.embedded))

    load = os.getloadavg()[0]
    daemons_before = descendants_cpu()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    report = build_index(catalogue, out, embedder, engine=engine, progress=progress)
    wall = time.perf_counter() - t0
    driver_cpu = time.process_time() - cpu0
    daemons_after = descendants_cpu()
    actors = {int(log.stem) for log in CPU_LOG.glob("*.txt")}  # counted by their own logs
    daemons_cpu = sum(
        daemons_after[pid] - before
        for pid, before in daemons_before.items()
        if pid in daemons_after and pid not in actors
    )
    actors_cpu, actors_busy, actor_images = actor_cpu_seconds()
    (first_t, first_n), (last_t, last_n) = marks[0], marks[-1]
    steady = (last_n - first_n) / (last_t - first_t) if last_t > first_t else 0.0
    total_cpu = driver_cpu + actors_cpu + daemons_cpu
    return {
        "embedded": report.embedded,
        "wall_s": round(wall, 2),
        "images_per_s": round(report.embedded / wall, 2),
        "steady_images_per_s": round(steady, 2),
        "first_batch_after_s": round(first_t - t0, 2),
        "cpu_s": {
            "driver": round(driver_cpu, 2),
            "actors_in_batches": round(actors_cpu, 2),
            "ray_daemons": round(daemons_cpu, 2),
        },
        "actor_busy_wall_s": round(actors_busy, 2),
        "actor_images": actor_images,
        "cpu_ms_per_image": round(1000 * total_cpu / report.embedded, 2),
        "images_per_cpu_second": round(report.embedded / total_cpu, 2),
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def scan_rate(catalogue: Catalogue) -> float:
    """Images per second the driver reads and hashes (the Ray engine's scan: no decoding)."""
    t0 = time.perf_counter()
    count = sum(1 for _ in _prepare_items(catalogue.items, {}, 8, decode=False))
    return count / (time.perf_counter() - t0)


def max_difference(a: Path, b: Path) -> float:
    x, y = EmbeddingIndex.open(a), EmbeddingIndex.open(b)
    try:
        assert [r[:3] for r in x.all_records()] == [r[:3] for r in y.all_records()]
        return float(np.abs(np.asarray(x.vectors) - np.asarray(y.vectors)).max())
    finally:
        x.close()
        y.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench-out/ray-build"))
    parser.add_argument(
        "--configs",
        nargs="*",
        default=["local", "ray-1x1", "ray-2x1"],
        help=f"which runs, in order (of local, local-1-thread, {', '.join(RAY_CONFIGS)})",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = write_subset_catalogue(split_ids("train", args.count), args.out / "subset.csv")
    catalogue = read_catalogue(csv_path)
    results: dict = {"machine": machine_summary(), "images": len(catalogue.items), "runs": {}}
    embedder = Embedder.load(None)
    results["model"] = embedder.identity.to_json()
    results["batch_size"] = embedder.batch_size
    results["scan_images_per_s"] = round(scan_rate(catalogue), 1)
    print(f"driver scan (read + SHA-256): {results['scan_images_per_s']} images/s", flush=True)

    ray = None
    for name in args.configs:
        engine = None
        build_embedder = embedder
        if name == "local-1-thread":
            os.environ[THREADS_ENV] = "1"
            build_embedder = Embedder.load(None)
            del os.environ[THREADS_ENV]
        elif name in RAY_CONFIGS:
            if ray is None:
                import ray

                t0 = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
                results["ray_init_s"] = round(time.perf_counter() - t0, 2)
            from fashion_desktop.core.distributed import RayEngine

            workers, threads = RAY_CONFIGS[name]
            engine = RayEngine(embedder, workers=workers, threads=threads)
            engine.actor_class = timed_actor_class()
        run = timed_build(catalogue, args.out / name, build_embedder, engine)
        if name != "local" and (args.out / "local" / "manifest.json").is_file():
            run["max_vector_difference_vs_local"] = max_difference(
                args.out / name, args.out / "local"
            )
        results["runs"][name] = run
        print(name, run, flush=True)
    if ray is not None:
        ray.shutdown()
    save_json(results, args.out / f"ray-build-{'-'.join(args.configs)}.json")
    print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
