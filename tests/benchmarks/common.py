"""Helpers for the benchmark scripts (not the application): subsets of the shared catalogue."""

from __future__ import annotations

import csv
import hashlib
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def stable_order(item_ids: list[str]) -> list[str]:
    """A fixed pseudo-random order (SHA-256 of the id), the same on every machine."""
    return sorted(item_ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())


def split_ids(split: str, count: int | None = None, shared: Path = SHARED) -> list[str]:
    with (shared / "catalog" / "split.csv").open(encoding="utf-8") as handle:
        ids = [row["id"] for row in csv.DictReader(handle) if row["split"] == split]
    ordered = stable_order(ids)
    return ordered[:count] if count else ordered


def write_subset_catalogue(ids: list[str], path: Path, shared: Path = SHARED) -> Path:
    """A generic-layout catalogue CSV (absolute ``image`` paths) for ``ids`` of the shared set."""
    wanted = set(ids)
    catalog = shared / "catalog"
    with (catalog / "styles.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if r["id"] in wanted]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", *fields])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {"image": str((catalog / "images" / f"{row['id']}.jpg").resolve()), **row}
            )
    return path


def machine_summary() -> dict:
    import os

    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def latency_summary(times_ms: list[float]) -> dict:
    """The count, median and 90th percentile (ms, one decimal) of per-query times."""
    import numpy as np

    values = np.asarray(times_ms)
    return {
        "queries": len(times_ms),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p90_ms": round(float(np.percentile(values, 90)), 1),
    }


def save_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def wait_for_signal(signal, timeout_ms: int = 120_000) -> None:
    """Run a Qt event loop until ``signal`` fires (or the timeout passes)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)
