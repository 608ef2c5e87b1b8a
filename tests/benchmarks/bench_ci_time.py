"""CI's test step timed for several revisions side by side, on this machine, in one run.

For each revision (a commit, or ``WORKTREE`` for the files as they are now), a clean copy of the
tree is exported beside a link to ``../shared`` and ``build/test.sh``'s checks are run on it with
this checkout's virtual environment: ruff, import-linter, mypy (when the revision's test.sh runs
it) and the default pytest run. Each step's wall time and the test count are recorded::

    python tests/benchmarks/bench_ci_time.py 88c55e1 HEAD --out bench-out/ci-time.json

The revisions share one environment, so the figure compares the tests and checks, not installs
(CI's set-up step is the same for both). ``--together`` runs the revisions at the same time (each
then has about one core of a 2-core machine): on a machine others are using, both see the same
background load, which keeps the comparison fair when the absolute times are not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import SHARED, machine_summary, save_json

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
WORKTREE = "WORKTREE"


def export_tree(revision: str, into: Path) -> Path:
    """A clean copy of ``revision`` (tracked files only) in ``into``/tree."""
    tree = into / "tree"
    tree.mkdir(parents=True)
    if revision == WORKTREE:
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout.split(b"\0")
        for name in filter(None, files):
            source = REPO / name.decode()
            if source.is_file():
                target = tree / name.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        archive = into / "tree.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", "-o", str(archive), revision], cwd=REPO, check=True
        )
        with tarfile.open(archive) as handle:
            handle.extractall(tree, filter="data")
    (into / "shared").symlink_to(SHARED.resolve())
    return tree


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str, int]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.stdout + done.stderr, done.returncode


def measure(revision: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="ci-time-") as folder:
        tree = export_tree(revision, Path(folder))
        env = os.environ | {
            "PYTHONPATH": str(tree),  # this revision's package, not the editable install's
            "QT_QPA_PLATFORM": "offscreen",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="xdg-"),
        }
        test_script = (tree / "build" / "test.sh").read_text(encoding="utf-8")
        steps = {
            "ruff": [
                str(VENV_BIN / "ruff"),
                "check",
                "fashion_desktop",
                "tests",
                "build",
                "main.py",
            ],
            "lint-imports": [str(VENV_BIN / "lint-imports")],
        }
        if "mypy" in test_script:
            steps["mypy"] = [str(VENV_BIN / "mypy")]
        steps["pytest"] = [str(VENV_BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        result: dict = {"revision": revision, "steps_s": {}, "ok": True}
        for name, command in steps.items():
            seconds, output, code = timed(command, tree, env)
            result["steps_s"][name] = round(seconds, 1)
            result["ok"] &= code == 0
            if name == "pytest":
                summary = re.findall(r"(\d+) (passed|failed|skipped|errors?)", output)
                result["tests"] = {kind: int(count) for count, kind in summary}
                result["failures"] = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
            print(f"{revision} {name}: {seconds:.1f} s (exit {code})", flush=True)
        result["total_s"] = round(sum(result["steps_s"].values()), 1)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help=f"commits, or {WORKTREE}")
    parser.add_argument("--out", type=Path, default=Path("bench-out/ci-time.json"))
    parser.add_argument("--together", action="store_true", help="run the revisions at once")
    args = parser.parse_args()
    if args.together:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(args.revisions)) as pool:
            results = list(pool.map(measure, args.revisions))
    else:
        results = [measure(revision) for revision in args.revisions]
    load = os.getloadavg()
    save_json({"machine": machine_summary(), "load_average_after": load, "runs": results}, args.out)
    for result in results:
        print(
            f"{result['revision']:>10}: {result['total_s']:7.1f} s  {result['steps_s']}  "
            f"{result.get('tests')}  {'ok' if result['ok'] else 'FAILED'}"
        )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
