"""Shared fixtures for the Qt-free test suite (GUI-specific fixtures live in tests/gui/).

Models are expensive (TensorFlow import ~5 s, ResNet50 build ~1.5 s): every model is loaded at
most once per session through :func:`_load_model_cached`, which the CLI tests also route
``Embedder.load`` through.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fd_testdata import SHARED_CATALOG, snapshot_tree, write_styles_catalogue


# ---------------------------------------------------------------------------- environment
@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep tests out of the real home and independent of the caller's weights choice."""
    monkeypatch.setenv("FASHION_DESKTOP_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))
    # One conversion cache per session: Keras weights (random, test models) convert once.
    monkeypatch.setenv("FASHION_DESKTOP_CACHE_DIR", str(_session_cache(tmp_path_factory)))
    monkeypatch.delenv("FASHION_DESKTOP_WEIGHTS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def _session_cache(factory: pytest.TempPathFactory) -> Path:
    cache = factory.getbasetemp() / "model-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def make_catalogue(tmp_path: Path) -> Callable[..., Path]:
    """``make_catalogue(indices, name="catalog")``: a fresh styles catalogue under tmp_path."""

    def make(indices: Sequence[int] = range(20), name: str = "catalog") -> Path:
        return write_styles_catalogue(tmp_path / name, list(indices))

    return make


@pytest.fixture
def tree_snapshot() -> Callable[[Path], dict[str, tuple[bytes, int]]]:
    return snapshot_tree


# ------------------------------------------------------------------------------- models
_MODEL_CACHE: dict[tuple, object] = {}


def _load_model_cached(weights=None, *, batch_size: int | None = None, warm: bool = True):
    """``Embedder.load`` once per distinct resolved weights and batch size in this session."""
    from fashion_desktop.core.embedder import DEFAULT_BATCH_SIZE, resolve_weights

    choice = resolve_weights(weights)  # raises the user-facing ModelError like the real load
    key = (choice, batch_size or DEFAULT_BATCH_SIZE)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = _ORIGINAL_LOAD(
            weights, batch_size=batch_size or DEFAULT_BATCH_SIZE, warm=warm
        )
    return _MODEL_CACHE[key]


def _original_load():
    from fashion_desktop.core.embedder import Embedder

    return Embedder.load


_ORIGINAL_LOAD = _original_load()


@pytest.fixture(scope="session")
def random_embedder():
    """Random-init ResNet50 (seed 0), batch size 16: fast unit tests of the model plumbing."""
    return _load_model_cached("random")


@pytest.fixture(scope="session")
def small_batch_embedder(random_embedder):
    """The same random-init network with batch size 4, so 20 images make several batches."""
    from fashion_desktop.core.embedder import Embedder

    return Embedder(random_embedder.network, random_embedder.identity, None, batch_size=4)


@pytest.fixture(scope="session")
def bundled_embedder():
    """The bundled float16 fashion model with its classifier heads."""
    from fashion_desktop.resources import bundled_model_path

    if not bundled_model_path().is_file():
        pytest.skip("the bundled model resources/models/resnet50_fashion.tflite is absent")
    return _load_model_cached(None)


@pytest.fixture
def cached_model_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route ``Embedder.load`` (as the CLI calls it) through the session cache."""
    from fashion_desktop.core.embedder import Embedder

    monkeypatch.setattr(
        Embedder,
        "load",
        classmethod(
            lambda cls, weights=None, *, batch_size=None, warm=True: _load_model_cached(
                weights, batch_size=batch_size, warm=warm
            )
        ),
    )


# -------------------------------------------------------------------- tiny catalogue/index
@pytest.fixture(scope="session")
def tiny_catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 generated garments in the styles layout (read-only: copy before changing)."""
    return write_styles_catalogue(tmp_path_factory.mktemp("tiny") / "catalog", range(20))


@pytest.fixture(scope="session")
def tiny_index_dir(tiny_catalogue_dir: Path, random_embedder) -> Path:
    """An index of the tiny catalogue built with the random-init model (read-only)."""
    from fashion_desktop.core.builder import build_index
    from fashion_desktop.core.catalogue import read_catalogue

    out = tiny_catalogue_dir.parent / "index"
    build_index(read_catalogue(tiny_catalogue_dir), out, random_embedder, dim="full")
    return out


@pytest.fixture
def tiny_index(tiny_index_dir: Path) -> Iterator:
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(tiny_index_dir)
    yield index
    index.close()


@pytest.fixture
def copied_tiny_index(tiny_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny index (with its catalogue beside it) that a test may damage."""
    shutil.copytree(tiny_index_dir.parent / "catalog", tmp_path / "catalog")
    shutil.copytree(tiny_index_dir, tmp_path / "index")
    return tmp_path / "index"


# ---------------------------------------------------------------------------------- shared
@pytest.fixture(scope="session")
def shared_catalog() -> Path:
    if not (SHARED_CATALOG / "styles.csv").is_file():
        pytest.skip(f"shared catalogue not found at {SHARED_CATALOG}")
    return SHARED_CATALOG


@pytest.fixture(scope="session")
def shared_rows(shared_catalog: Path) -> list[dict[str, str]]:
    """styles.csv rows joined with their split, in file order (only rows with an image)."""
    with (shared_catalog / "split.csv").open(encoding="utf-8") as handle:
        split = {row["id"]: row["split"] for row in csv.DictReader(handle)}
    rows = []
    with (shared_catalog / "styles.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (shared_catalog / "images" / f"{row['id']}.jpg").is_file():
                rows.append({**row, "split": split.get(row["id"], "")})
    return rows


MODEL_FIXTURES = {
    "random_embedder",
    "small_batch_embedder",
    "bundled_embedder",
    "cached_model_loading",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests using the shared data are marked ``shared`` automatically."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "shared_catalog" in fixtures or "shared_rows" in fixtures:
            item.add_marker(pytest.mark.shared)
        if MODEL_FIXTURES & set(fixtures):
            item.add_marker(pytest.mark.model)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ------------------------------------------------------------------------------ client book
@pytest.fixture(scope="session")
def book_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index of the toy client-book catalogue (tests/fd_bookdata.py), written once."""
    from fd_bookdata import write_book_index

    return write_book_index(tmp_path_factory.mktemp("book-index") / "index")


@pytest.fixture(scope="module")
def book_index(book_index_dir: Path) -> Iterator:
    """That index, open for a test module (searches do not change it)."""
    from fashion_desktop.core.index import EmbeddingIndex

    index = EmbeddingIndex.open(book_index_dir)
    yield index
    index.close()


@pytest.fixture
def book(tmp_path: Path) -> Iterator:
    """An empty client book in the test's own folder."""
    from fashion_desktop.core.clients import ClientBook

    store = ClientBook.in_directory(tmp_path)
    yield store
    store.close()
