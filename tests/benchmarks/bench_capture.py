"""Webcam capture → results painted (issue 4), measured on the real kiosk window, offscreen.

    python tests/benchmarks/bench_capture.py [--queries 40] [--out bench-out/capture]

A fake frame source (no hardware) shows unseen ``val`` catalogue photos from
``../shared/catalog/images`` staged in a 1280×720 webcam-like frame. For each photo: the live
preview shows it, then the clock starts, Capture and "Find similar pieces" are pressed (through
the capture view, as a customer's taps would), and the clock stops when the five results and all
their thumbnails are painted (``results_presented``). The model is warm: five captures run first
and are not counted. Prints (and saves) JSON with p50/p90/mean in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import SHARED, machine_summary, save_json, split_ids, wait_for_signal  # noqa: E402

WARM_UP = 5


def measure(queries: int) -> dict:
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QImage

    from fashion_desktop.core.kiosk_config import KioskConfig
    from fashion_desktop.gui.app import create_application, default_embedder_factory
    from fashion_desktop.gui.camera import ImageFrameSource, stage_in_frame
    from fashion_desktop.gui.kiosk import KioskWindow
    from fashion_desktop.gui.settings import AppSettings
    from fashion_desktop.resources import demo_index_path

    app = create_application()
    scratch = tempfile.mkdtemp()
    os.environ["FASHION_DESKTOP_DATA_DIR"] = scratch
    source = ImageFrameSource()
    window = KioskWindow(
        settings=AppSettings(QSettings(f"{scratch}/s.ini", QSettings.Format.IniFormat)),
        embedder_factory=default_embedder_factory(None),
        index_path=demo_index_path(),
        config=KioskConfig(idle_timeout_s=3600),
        frame_source=source,
    )
    window.resize(1920, 1080)
    window.show()
    window.start()

    wait_for_signal(window.controller.model_ready)
    photos = [SHARED / "catalog" / "images" / f"{i}.jpg" for i in split_ids("val", queries + 50)]
    frames = [stage_in_frame(image) for p in photos if not (image := QImage(str(p))).isNull()]
    frames = frames[: queries + WARM_UP]
    view = window.capture_view
    latencies = []
    for position, frame in enumerate(frames):
        window.show_capture()
        source.show_image(frame)
        while view.state != "live" or view.preview.frame != frame:
            app.processEvents()
        started = time.perf_counter()
        view.capture()
        view.use()
        wait_for_signal(window.results_presented)
        elapsed = (time.perf_counter() - started) * 1000
        if len(window.results_model.hits) != 5:
            raise SystemExit(f"capture {position} did not give five results")
        if position >= WARM_UP:
            latencies.append(elapsed)
        window.reset_session()
    window.allow_exit()
    window.close()
    app.processEvents()
    return {
        "capture_to_results_painted_ms": {
            "queries": len(latencies),
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p90": round(float(np.percentile(latencies, 90)), 1),
            "mean": round(float(np.mean(latencies)), 1),
            "min": round(float(np.min(latencies)), 1),
            "max": round(float(np.max(latencies)), 1),
        },
        "frame": "1280x720 staged catalogue photo",
        "window": "KioskWindow 1920x1080 offscreen, demo index",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("bench-out/capture"))
    args = parser.parse_args()
    results: dict = {"machine": machine_summary()}
    results.update(measure(args.queries))
    save_json(results, args.out / "capture.json")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
