"""The window's figures (issue 3), measured on the real MainWindow, offscreen.

    python tests/benchmarks/bench_gui.py [--queries 50] [--soak 1000] [--out bench-out/gui]

* launch → window shown and accepting input, and launch → first results painted for a query given
  at launch: a fresh process per run, timed from the process's start (interpreter start-up
  included), 3 runs each, the way ``fashion-desktop --query IMG`` starts;
* drop → results painted (thumbnails included), model warm: p50/p90 over ``--queries`` unseen
  ``val`` images, each submitted as a dropped file;
* longest UI-thread stall after start-up: a 5 ms heartbeat timer runs during those back-to-back
  queries; the largest gap between beats, minus the 5 ms period, is the stall;
* memory: resident set size after 10 queries and after ``--soak`` queries in a row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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

LAUNCH_PROBE = """
import os, sys, time, json, psutil
sys.path.insert(0, sys.argv[1])
started = psutil.Process().create_time()
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from fashion_desktop.gui.app import build_window, create_application
from fashion_desktop.gui.settings import AppSettings
from fashion_desktop.resources import demo_index_path

class Args:
    index = demo_index_path(); filter = None; weights = None
app = create_application()
settings = AppSettings(QSettings(sys.argv[3], QSettings.IniFormat))
window = build_window(Args(), settings=settings)
report = {}
def accepting_input():
    report["window_ready_s"] = time.time() - started
    if not query:
        finish()
def finish(*_):
    if "window_ready_s" in report and (not query or "first_results_s" in report):
        print(json.dumps(report)); window.close(); app.quit()
def results(*_):
    report["first_results_s"] = time.time() - started
    finish()
query = sys.argv[2] if sys.argv[2] != "-" else None
window.results_presented.connect(results)
window.show(); window.start()
if query:
    window.open_paths([Path(query)])
QTimer.singleShot(0, accepting_input)  # runs once the event loop turns: input is accepted
app.exec()
"""


def launch_times(query: Path | None, runs: int = 3, root: Path = ROOT) -> list[dict]:
    reports = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    LAUNCH_PROBE,
                    str(root),
                    str(query or "-"),
                    str(Path(scratch) / "settings.ini"),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
                env={**os.environ, "FASHION_DESKTOP_DATA_DIR": scratch},
                cwd=root,
            )
            reports.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return reports


def in_process(queries: int, soak: int) -> dict:
    import psutil
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from fashion_desktop.gui.app import build_window, create_application
    from fashion_desktop.gui.settings import AppSettings
    from fashion_desktop.resources import demo_index_path

    class Args:
        index = demo_index_path()
        filter = None
        weights = None

    app = create_application()
    scratch = tempfile.mkdtemp()
    os.environ["FASHION_DESKTOP_DATA_DIR"] = scratch
    window = build_window(
        Args(), settings=AppSettings(QSettings(f"{scratch}/s.ini", QSettings.IniFormat))
    )
    window.show()
    window.start()

    wait_for_signal(window.controller.model_ready)
    paths = [SHARED / "catalog" / "images" / f"{i}.jpg" for i in split_ids("val", queries + 5)]
    for path in paths[:5]:  # warm: first thumbnails, first traced shapes
        window.open_paths([path])
        wait_for_signal(window.results_presented)

    beats: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: beats.append(clock.elapsed()))
    heartbeat.start()
    latencies = []
    for path in paths[5:]:
        t0 = time.perf_counter()
        window.open_paths([path])
        wait_for_signal(window.results_presented)
        latencies.append((time.perf_counter() - t0) * 1000)
    heartbeat.stop()
    gaps = np.diff(np.asarray(beats))
    process = psutil.Process()
    memory = {}
    for done in range(soak):
        window.open_paths([paths[5 + done % queries]])
        wait_for_signal(window.results_presented)
        if done + 1 == 10:
            memory["after_10_mb"] = process.memory_info().rss / 1e6
    memory["after_soak_mb"] = process.memory_info().rss / 1e6
    window.close()
    app.processEvents()
    return {
        "drop_to_results_painted_ms": {
            "queries": len(latencies),
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p90": round(float(np.percentile(latencies, 90)), 1),
        },
        "longest_ui_stall_ms": round(float(gaps.max()) - 5, 1),
        "ui_gaps_over_50ms": int((gaps > 55).sum()),
        "memory": {k: round(v, 1) for k, v in memory.items()},
        "memory_growth_mb": round(memory["after_soak_mb"] - memory["after_10_mb"], 1),
        "soak_queries": soak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--soak", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("bench-out/gui"))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a git worktree of an older commit) whose launch figures are "
        "measured in the same run, alternating with this one, on the same interpreter",
    )
    parser.add_argument("--launch-only", action="store_true")
    args = parser.parse_args()
    results: dict = {"machine": machine_summary()}
    query = SHARED / "catalog" / "images" / f"{split_ids('val', 1)[0]}.jpg"
    roots = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    for _ in range(3):
        for name, root in roots.items():
            prefix = "" if name == "this" else "baseline_"
            ready = launch_times(None, 1, root)[0]["window_ready_s"]
            first = launch_times(query, 1, root)[0]["first_results_s"]
            results.setdefault(f"{prefix}launch_to_window_ready_s", []).append(round(ready, 2))
            results.setdefault(f"{prefix}launch_to_first_results_s", []).append(round(first, 2))
    print(results, flush=True)
    if args.launch_only:
        save_json(results, args.out / "launch.json")
        return 0
    results.update(in_process(args.queries, args.soak))
    save_json(results, args.out / "gui.json")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
