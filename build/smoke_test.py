"""Smoke-test a frozen build: ``python build/smoke_test.py dist/fashion-desktop/fashion-desktop``.

Fails if the bundle carries TensorFlow or Keras (the application runs its model on LiteRT).
Runs the program's ``--self-test`` (model, index, a real query through the window's code path,
the main window opened and closed offscreen) with networking disabled: in a fresh network
namespace where the machine allows one, and always with ``FASHION_DESKTOP_FORBID_NETWORK=1``,
which makes the program fail if anything tries to open a network connection. Fails on a
non-zero exit, a report that is not ok, or any stderr line outside the allow-list below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Harmless lines known to appear on stderr. Nothing else may: no TensorFlow/absl chatter (the
# bundle has no TensorFlow) and no LiteRT delegate lines (the runtime keeps them off stderr).
ALLOWED_STDERR = [
    r"^This plugin does not support propagateSizeHints\(\)$",  # Qt's offscreen platform
    r"^\s*$",
]


def network_isolation() -> list[str]:
    """A command prefix that runs the program in a fresh network namespace, if possible."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--net", "--map-root-user"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return []


#: What the frozen application must not carry: it runs its model on LiteRT.
FORBIDDEN_IN_BUNDLE = re.compile(r"(^|/)(tensorflow|keras|tf_keras)(/|$)|libtensorflow")


def forbidden_files(bundle: str) -> list[str]:
    """Paths in the bundle that belong to TensorFlow or Keras."""
    found = []
    for folder, dirs, files in os.walk(bundle):
        for name in dirs + files:
            relative = os.path.relpath(os.path.join(folder, name), bundle).replace(os.sep, "/")
            if FORBIDDEN_IN_BUNDLE.search(relative):
                found.append(relative)
    return sorted(found)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    program = os.path.abspath(sys.argv[1])
    prefix = network_isolation()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FASHION_DESKTOP_FORBID_NETWORK": "1"}
    env.pop("DISPLAY", None)
    env.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="fd-smoke-runtime-"))
    started = time.perf_counter()
    run = subprocess.run(
        [*prefix, program, "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    problems = []
    carried = forbidden_files(os.path.dirname(program))
    if carried:
        problems.append("the bundle carries TensorFlow/Keras: " + ", ".join(carried[:10]))
    unexpected = [
        line
        for line in run.stderr.splitlines()
        if not any(re.match(p, line) for p in ALLOWED_STDERR)
    ]
    if unexpected:
        problems.append("unexpected stderr:\n  " + "\n  ".join(unexpected[:20]))
    try:
        report = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        report = {}
        problems.append(f"no JSON report on stdout: {run.stdout[-500:]!r}")
    if run.returncode != 0 or not report.get("ok"):
        problems.append(f"self-test failed (exit {run.returncode}): {report.get('error', '?')}")
    summary = {
        "ok": not problems,
        "wall_s": round(wall, 1),
        "network_namespace": bool(prefix),
        "report": report,
    }
    print(json.dumps(summary))
    for problem in problems:
        print(f"smoke test: {problem}", file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
