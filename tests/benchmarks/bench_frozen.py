"""Frozen bundle against running from source (issue 5), side by side in one run.

    python tests/benchmarks/bench_frozen.py [--runs 3] [--bundle dist/fashion-desktop]

Alternates ``--self-test`` runs of the frozen program and of ``python -m fashion_desktop``
(offscreen), recording the wall time of each process and the self-test's own report of the time
from process start to the main window being shown. Also reports the bundle's size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine_summary, save_json


def self_test(command: list[str]) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    run = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False, cwd=ROOT
    )
    wall = time.perf_counter() - started
    report = json.loads(run.stdout.strip().splitlines()[-1])
    if run.returncode != 0 or not report.get("ok"):
        raise SystemExit(f"self-test failed: {report}")
    return {
        "wall_s": round(wall, 2),
        "launch_to_window_ready_s": report["launch_to_window_ready_s"],
        "launch_to_first_results_s": report.get("launch_to_first_results_s"),
        "first_query_s": report["first_query_s"],
    }


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "fashion-desktop")
    parser.add_argument("--out", type=Path, default=Path("bench-out/frozen"))
    parser.add_argument(
        "--baseline-bundle",
        type=Path,
        help="another frozen bundle (e.g. the TensorFlow one of an older commit) measured in "
        "the same run, alternating",
    )
    args = parser.parse_args()
    commands = {
        "frozen": [str(args.bundle / "fashion-desktop"), "--self-test"],
        "source": [sys.executable, "-m", "fashion_desktop", "--self-test"],
    }
    results: dict = {"machine": machine_summary(), "bundle_bytes": directory_size(args.bundle)}
    if args.baseline_bundle:
        commands["baseline_frozen"] = [str(args.baseline_bundle / "fashion-desktop"), "--self-test"]
        results["baseline_bundle_bytes"] = directory_size(args.baseline_bundle)
    for _ in range(args.runs):
        for name, command in commands.items():
            results.setdefault(name, []).append(self_test(command))
    save_json(results, args.out / "frozen.json")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
