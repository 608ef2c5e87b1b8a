"""The distributed index build (``--engine ray``): Ray in local mode on a small generated catalogue
gives the index the single-process build gives; --update, corrupt images, a killed worker; Ray
missing.

One Ray session (two CPUs, no dashboard, ~7 s to start here) serves the whole module; each Ray
build costs ~5 s of actor start-up, so the two tests of failures are marked ``slow`` (the build
and --update ones stay in a ``-m "not slow"`` run). The tests that need Ray are skipped where it
is not installed (the cluster extra); the one about its absence is not.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fd_testdata import STYLES_FIELDS, garment_image, item_metadata

from fashion_desktop.cli import EXIT_FAILED, EXIT_OK, main
from fashion_desktop.core.builder import BuildReport, build_index
from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.embedder import Embedder
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.index import MANIFEST_FILE, EmbeddingIndex

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
        object_store_memory=200 * 1024 * 1024,
    )
    yield
    ray.shutdown()


def rewrite_styles(folder: Path, indices: list[int]) -> None:
    with (folder / "styles.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, STYLES_FIELDS)
        writer.writeheader()
        writer.writerows(item_metadata(i) for i in indices)


def ray_build(catalogue_dir: Path, out: Path, embedder: Embedder, **kwargs) -> BuildReport:
    from fashion_desktop.core.distributed import RayEngine

    # One batch per Ray block, so a dozen images make several blocks for the two workers.
    with RayEngine(embedder, workers=2, batches_per_block=1) as engine:
        return build_index(read_catalogue(catalogue_dir), out, embedder, engine=engine, **kwargs)


def contents(path: Path) -> dict:
    """What must agree between two builds: items (the SQLite file byte for byte), vectors, model
    identity, layout."""
    index = EmbeddingIndex.open(path)
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
        return {
            "records": index.all_records(),
            "vectors": np.array(index.vectors),
            "raw": np.array(index.raw_embeddings(), np.float32),
            "model": manifest["model"],
            "fields": manifest["fields"],
            "catalogue": manifest["catalogue"],
            "files": sorted(manifest["files"]),
            "items_sqlite": manifest["files"]["items.sqlite"],
            "vector_dim": manifest["vector_dim"],
        }
    finally:
        index.close()


def assert_same_index(got: Path, expected: Path) -> None:
    a, b = contents(got), contents(expected)
    assert [r[:3] for r in a["records"]] == [r[:3] for r in b["records"]]  # id, image, sha256
    for key in ("model", "fields", "files", "items_sqlite", "vector_dim"):
        assert a[key] == b[key], key
    assert a["catalogue"]["relative"] == b["catalogue"]["relative"]
    np.testing.assert_allclose(a["vectors"], b["vectors"], atol=2e-3)
    np.testing.assert_allclose(a["raw"], b["raw"], rtol=2e-2, atol=2e-3)


def test_ray_build_gives_the_single_process_index(
    ray_session, make_catalogue, tmp_path, small_batch_embedder
) -> None:
    folder = make_catalogue(range(14))
    (folder / "images" / "1002.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")  # found by a worker
    (folder / "images" / "1005.jpg").write_bytes(b"")  # found by the scan
    local = build_index(read_catalogue(folder), tmp_path / "local", small_batch_embedder)
    report = ray_build(folder, tmp_path / "ray", small_batch_embedder)
    assert (report.total, report.embedded, report.reused, report.indexed) == (14, 12, 0, 12)
    # the corrupt images are reported and skipped as today, in catalogue order
    assert report.skipped == local.skipped and len(report.skipped) == 2
    assert report.skipped[0][0] == str(folder / "images" / "1002.jpg")
    assert "cannot be decoded" in report.skipped[0][1]
    assert_same_index(tmp_path / "ray", tmp_path / "local")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_ray_update_embeds_only_new_and_changed_images(
    ray_session, make_catalogue, tmp_path, small_batch_embedder
) -> None:
    folder = make_catalogue(range(12))
    out = tmp_path / "index"
    build_index(read_catalogue(folder), out, small_batch_embedder)  # last night's index
    before = contents(out)
    old = {r[0]: before["raw"][row] for row, r in enumerate(before["records"])}
    for removed in (3, 4):
        (folder / "images" / f"{1000 + removed}.jpg").unlink()
    garment_image(105).save(folder / "images" / "1005.jpg", quality=92)  # a changed picture
    for new in (20, 21, 22):
        garment_image(new).save(folder / "images" / f"{1000 + new}.jpg", quality=92)
    rewrite_styles(folder, [i for i in range(12) if i not in (3, 4)] + [20, 21, 22])

    report = ray_build(folder, out, small_batch_embedder, update=True)
    assert (report.embedded, report.reused, report.removed, report.indexed) == (4, 9, 2, 13)
    after = contents(out)
    ids = [r[0] for r in after["records"]]
    assert "1003" not in ids and {"1020", "1021", "1022"} <= set(ids)
    for row, item_id in enumerate(ids):
        if item_id in old and item_id != "1005":
            np.testing.assert_array_equal(after["raw"][row], old[item_id])
    assert not np.allclose(after["raw"][ids.index("1005")], old["1005"], atol=1e-3)
    # and the same as a single-process build of tonight's catalogue
    build_index(read_catalogue(folder), tmp_path / "local", small_batch_embedder)
    assert_same_index(out, tmp_path / "local")


@pytest.mark.slow  # a Ray build or two each (~5 s apiece here)
def test_a_killed_worker_is_survived_and_the_index_is_complete(
    ray_session, make_catalogue, tmp_path, small_batch_embedder, monkeypatch
) -> None:
    from fashion_desktop.core.distributed import CRASH_ONCE_ENV

    folder = make_catalogue(range(12))
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    report = ray_build(folder, tmp_path / "ray", small_batch_embedder)
    assert marker.exists(), "a worker should have died on its first batch"
    assert (report.embedded, report.skipped) == (12, [])
    monkeypatch.delenv(CRASH_ONCE_ENV)
    build_index(read_catalogue(folder), tmp_path / "local", small_batch_embedder)
    assert_same_index(tmp_path / "ray", tmp_path / "local")


@pytest.mark.slow  # a Ray build or two each (~5 s apiece here)
def test_a_run_that_dies_resumes_from_its_checkpoints_through_the_cli(
    ray_session, capsys, cached_model_loading, make_catalogue, tmp_path, small_batch_embedder
) -> None:
    from fashion_desktop.core.builder import BuildInterruptedError
    from fashion_desktop.core.distributed import RayEngine

    class DiesAfterOneBatch(RayEngine):
        def finish(self):
            for batch in super().finish():
                yield batch
                raise KeyboardInterrupt  # the driver stops once one batch is back

    folder = make_catalogue(range(12))
    out = tmp_path / "index"
    engine = DiesAfterOneBatch(small_batch_embedder, workers=2, batches_per_block=1)
    with pytest.raises(BuildInterruptedError, match="Run the same command again"):
        build_index(read_catalogue(folder), out, small_batch_embedder, engine=engine)
    assert not out.exists()
    saved = 0
    for chunk in (tmp_path / ".index.building" / "chunks").glob("chunk-*.npz"):
        with np.load(chunk) as archive:
            saved += len(archive["sha256"])
    assert saved >= 1
    capsys.readouterr()

    # the same model (random weights) through the command line: it resumes
    args = ["index", "build", str(folder), "--out", str(out), "--weights", "random"]
    assert main([*args, "--engine", "ray", "--workers", "2"]) == EXIT_OK
    stdout = capsys.readouterr().out
    assert f"Index written to {out}: 12 items ({12 - saved} embedded, {saved} reused" in stdout
    build_index(read_catalogue(folder), tmp_path / "local", small_batch_embedder)
    assert_same_index(out, tmp_path / "local")
    # a night with nothing new: nothing to embed, Ray is not even asked
    assert main([*args, "--engine", "ray", "--update"]) == EXIT_OK
    assert "(0 embedded, 12 reused, 0 removed, 0 skipped)" in capsys.readouterr().out


def test_cli_without_ray_says_how_to_install_it(
    capsys, monkeypatch, tiny_catalogue_dir, tmp_path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    out = tmp_path / "index"
    code = main(["index", "build", str(tiny_catalogue_dir), "--out", str(out), "--engine", "ray"])
    stderr = capsys.readouterr().err
    assert code == EXIT_FAILED and "Traceback" not in stderr
    assert "install the cluster extra: pip install 'fashion-desktop[cluster]'" in stderr
    assert not out.exists()


def test_a_cluster_that_cannot_be_reached_is_a_clear_message(
    capsys, monkeypatch, tiny_catalogue_dir, tmp_path
) -> None:
    ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")

    def unreachable(**_: object) -> None:
        raise ConnectionError("Could not find any running Ray instance at 10.0.0.9:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # the module's session aside
    monkeypatch.setattr(ray, "init", unreachable)
    out = tmp_path / "index"
    code = main(
        [
            "index",
            "build",
            str(tiny_catalogue_dir),
            "--out",
            str(out),
            "--engine",
            "ray",
            "--ray-address",
            "10.0.0.9:6379",
        ]
    )
    stderr = capsys.readouterr().err
    assert code == EXIT_FAILED and "Traceback" not in stderr
    assert "Could not start the Ray cluster at 10.0.0.9:6379" in stderr
    assert "Could not find any running Ray instance" in stderr
    assert not out.exists()


def test_ray_options_need_the_ray_engine(capsys, tiny_catalogue_dir, tmp_path) -> None:
    out = tmp_path / "index"
    code = main(["index", "build", str(tiny_catalogue_dir), "--out", str(out), "--workers", "2"])
    assert code == EXIT_FAILED
    assert "--ray-address and --workers need --engine ray" in capsys.readouterr().err


def test_worker_plan() -> None:
    pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")
    from fashion_desktop.core.distributed import RayEngine

    def plan(cpus: int, **kwargs) -> tuple[int, int]:
        return RayEngine(object(), **kwargs).plan(cpus)  # type: ignore[arg-type]

    assert plan(64) == (64, 1)  # one single-threaded worker per CPU
    assert plan(64, workers=16) == (16, 4)
    assert plan(2, workers=4) == (4, 1)
    assert plan(64, workers=2) == (2, 8)  # LiteRT gains little past 8 threads
    assert plan(8, threads=2) == (4, 2)
    with pytest.raises(FashionDesktopError, match="--workers must be at least 1"):
        RayEngine(object(), workers=0)  # type: ignore[arg-type]
