"""The Ray engine of an index build: pending images decoded and embedded by Ray Data actors.

The build itself is :func:`fashion_desktop.core.builder.build_index`, unchanged: its scan reads
and hashes every image and decides which ones must be embedded; its checkpoints keep every
embedding that comes back; it writes and swaps in the same index. Only the embedding differs:
:class:`RayEngine` turns the pending images into a Ray Dataset (image path, SHA-256, catalogue
position), and ``map_batches`` runs :class:`EmbeddingActor` over it, one per worker, each holding
one :class:`~fashion_desktop.core.embedder.Embedder` loaded with ``Embedder.load`` from the same
``.tflite`` model as the build (LiteRT; its identity is checked). An actor decodes and embeds its
batches (the embedder's batch size); an image it cannot use comes back as a reported failure, not
a crash. Results stream back to the build as they finish, in any order.

A worker that dies is restarted and its batch retried by Ray Data's actor fault tolerance
(``max_restarts`` and ``max_task_retries`` default to -1: unlimited for actor pools); if the
whole run dies, the build's checkpoints resume it.

Ray is an optional dependency (``pip install 'fashion-desktop[cluster]'``), imported only here and
only when a Ray build runs; the laptop install and the frozen bundle never carry it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core.builder import (
    EmbeddedBatch,
    PreparedItem,
    failure_reason,
    load_pending_image,
)
from fashion_desktop.core.embedder import EMBEDDING_DIM, Embedder
from fashion_desktop.core.errors import FashionDesktopError, ImageError, ModelError
from fashion_desktop.core.runtime import MAX_THREADS, THREADS_ENV

CLUSTER_EXTRA = "pip install 'fashion-desktop[cluster]'"
#: The logger with which Ray announces that a new local cluster uses token authentication.
AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
#: Test hook: a file path; the first actor batch that finds no file there creates it and kills
#: its worker process (``os._exit``), so a test can check that a dead worker loses nothing.
CRASH_ONCE_ENV = "FASHION_DESKTOP_RAY_CRASH_ONCE"
#: Batches per Ray Data block: a block is the unit of scheduling, of retry after a dead worker
#: and of results streaming back (64 images at the default batch of 8).
BATCHES_PER_BLOCK = 8


def import_ray() -> Any:
    """Ray, or the message that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise FashionDesktopError(
            f"--engine ray needs Ray, which is not installed; install the cluster extra: "
            f"{CLUSTER_EXTRA}"
        ) from None
    return ray


class EmbeddingActor:
    """One Ray Data actor: one embedder, loaded once; batches of pending rows → embeddings.

    Rows are ``position``, ``path`` and ``sha256``; the output adds ``embedding`` (zeros for a
    failure) and ``error`` (empty when embedded).
    """

    def __init__(
        self,
        model: str,
        fingerprint: str,
        batch_size: int,
        threads: int,
        crash_once: str | None = None,
    ) -> None:
        os.environ[THREADS_ENV] = str(threads)  # this process is the actor's: its CPUs only
        self.embedder = Embedder.load(model, batch_size=batch_size)
        if self.embedder.identity.fingerprint != fingerprint:
            raise ModelError(
                f"The worker's model {model} is not the build's (fingerprint "
                f"{self.embedder.identity.fingerprint[:16]}, expected {fingerprint[:16]})."
            )
        self.crash_once = Path(crash_once) if crash_once else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.crash_once is not None and not self.crash_once.exists():
            self.crash_once.touch()
            os._exit(1)  # a worker dying mid-run (tests only)
        count = len(batch["path"])
        errors = [""] * count
        pixels: list[np.ndarray] = []
        good: list[int] = []
        for row, (path, sha256) in enumerate(zip(batch["path"], batch["sha256"], strict=True)):
            try:
                pixels.append(load_pending_image(Path(str(path)), str(sha256)))
                good.append(row)
            except (ImageError, OSError) as error:
                errors[row] = failure_reason(error)
        vectors = np.zeros((count, EMBEDDING_DIM), np.float32)
        if good:
            vectors[good] = self.embedder.embed_batch(np.stack(pixels))
        return {
            "position": np.asarray(batch["position"]),
            "embedding": vectors,
            "error": np.asarray(errors, dtype=object),
        }


class RayEngine:
    """Embeds a build's pending images on Ray: a cluster (``address``) or this machine.

    ``workers`` actors (default: one per CPU Ray offers) with ``threads`` CPUs each (default: the
    CPUs divided among the workers, at most LiteRT's useful maximum), fed blocks of
    ``batches_per_block`` batches. Ray is started here (and stopped by :meth:`close`) only if
    nothing in this process has started or joined it already.
    """

    decodes = False  # the actors decode; the scan only reads and hashes
    actor_class: type[EmbeddingActor] = EmbeddingActor

    def __init__(
        self,
        embedder: Embedder,
        *,
        address: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        batches_per_block: int = BATCHES_PER_BLOCK,
    ) -> None:
        if workers is not None and workers < 1:
            raise FashionDesktopError("--workers must be at least 1.")
        self._ray = import_ray()
        self.embedder = embedder
        self.address = address
        self.workers = workers
        self.threads = threads
        self.batches_per_block = batches_per_block
        self._pending: list[PreparedItem] = []
        self._started_ray = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, item: PreparedItem) -> tuple[()]:
        self._pending.append(item)
        return ()

    def finish(self) -> Iterator[EmbeddedBatch]:
        pending, self._pending = self._pending, []
        if not pending:  # nothing new (a quiet night's --update): Ray is not even started
            return
        ray = self._ray
        self._connect()
        workers, threads = self.plan(int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the build shows its own
        context.print_on_execution_start = False
        batch_size = self.embedder.batch_size
        blocks = max(1, math.ceil(len(pending) / (batch_size * self.batches_per_block)))
        workers = min(workers, blocks)  # a few new images start no idle workers
        dataset = ray.data.from_items(
            [
                {"position": i, "path": str(p.item.image_path), "sha256": p.sha256}
                for i, p in enumerate(pending)
            ],
            override_num_blocks=blocks,
        )
        embedded = dataset.map_batches(
            self.actor_class,
            fn_constructor_kwargs={
                "model": str(self.embedder.network.path),
                "fingerprint": self.embedder.identity.fingerprint,
                "batch_size": batch_size,
                "threads": threads,
                "crash_once": os.environ.get(CRASH_ONCE_ENV) or None,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=threads,
        )
        chatter = logging.getLogger("ray.data")  # "execution finished", "bars disabled"…
        level = chatter.level
        chatter.setLevel(logging.ERROR)
        try:
            for block in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                yield _embedded_batch(block, pending)
        except Exception as error:  # Ray's own errors, or an actor's that Ray re-raised
            raise FashionDesktopError(
                f"The Ray build stopped: {_cause(error)}. Embeddings finished so far are kept; "
                "run the same command again to resume."
            ) from None
        finally:
            chatter.setLevel(level)

    def plan(self, cpus: int) -> tuple[int, int]:
        """(workers, threads per worker) for a cluster of ``cpus`` CPUs."""
        cpus = max(1, cpus)
        if self.threads is not None:
            threads = max(1, self.threads)
            workers = self.workers or max(1, cpus // threads)
        elif self.workers is not None:
            workers = self.workers
            threads = max(1, min(MAX_THREADS, cpus // workers))
        else:
            workers, threads = cpus, 1
        return workers, threads

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        # A new local cluster turns on token authentication and announces it on the console.
        announcer = logging.getLogger(AUTH_LOGGER)
        level = announcer.level
        announcer.setLevel(logging.ERROR)
        try:
            ray.init(
                address=self.address,
                include_dashboard=False,
                configure_logging=False,
                log_to_driver=False,
            )
        except Exception as error:  # no cluster at --ray-address, a refused token, ...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            raise FashionDesktopError(f"Could not start {where}: {_cause(error)}") from None
        finally:
            announcer.setLevel(level)
        self._started_ray = True

    def close(self) -> None:
        """Leave Ray as found: shut down only what :meth:`finish` started."""
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False


def _embedded_batch(block: dict[str, np.ndarray], pending: list[PreparedItem]) -> EmbeddedBatch:
    errors = [str(e) for e in block["error"]]
    positions = [int(p) for p in block["position"]]
    good = [row for row, error in enumerate(errors) if not error]
    return EmbeddedBatch(
        items=[pending[positions[row]] for row in good],
        vectors=np.asarray(block["embedding"], np.float32)[good],
        failures=[(pending[positions[row]], error) for row, error in enumerate(errors) if error],
    )


def _cause(error: Exception) -> str:
    """The first line of a Ray error's own cause (a user's error raised in an actor)."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(error).__name__
