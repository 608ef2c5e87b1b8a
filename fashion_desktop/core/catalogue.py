"""Reading a store's catalogue: a folder of product images plus a metadata CSV.

Two layouts are understood:

* **styles**: ``styles.csv`` keyed by ``id`` and images at ``images/<id>.jpg`` (the layout of the
  public fashion product dataset);
* **generic**: any CSV with an ``image`` column holding a path relative to the CSV's folder (or an
  absolute path); an ``id`` column is optional (the image path is the id otherwise).

Problems (rows without an image, images without a row, duplicate ids, malformed rows) are
collected in :attr:`Catalogue.problems` rather than raised: one bad row must not stop a build.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fashion_desktop.core.errors import CatalogueError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
STYLES_CSV = "styles.csv"
IMAGE_COLUMN = "image"
ID_COLUMN = "id"


@dataclass(frozen=True)
class CatalogueItem:
    """One product: its id, the absolute path of its image and every CSV column as text."""

    item_id: str
    image_path: Path
    metadata: dict[str, str]


@dataclass(frozen=True)
class CatalogueProblem:
    kind: str  # "missing-image" | "orphan-image" | "duplicate-id" | "malformed-row"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Catalogue:
    root: Path
    csv_path: Path
    layout: str
    fields: list[str]
    items: list[CatalogueItem] = field(default_factory=list)
    problems: list[CatalogueProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def problem_summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts

    def subset(self, item_ids: Iterable[str]) -> Catalogue:
        """The same catalogue restricted to ``item_ids`` (kept in catalogue order)."""
        wanted = set(item_ids)
        items = [item for item in self.items if item.item_id in wanted]
        return Catalogue(self.root, self.csv_path, self.layout, self.fields, items, [])


def display_name(item_id: str, metadata: Mapping[str, str]) -> str:
    """What to call an item on screen: its product name, else "Item ID"."""
    return metadata.get("productDisplayName", "") or f"Item {item_id}"


def read_catalogue(location: str | os.PathLike[str]) -> Catalogue:
    """Read a catalogue from a folder (``styles.csv`` or a single CSV inside) or a CSV file."""
    path = Path(location).expanduser()
    if not path.exists():
        raise CatalogueError(f"Catalogue not found: {path}")
    csv_path = _find_csv(path) if path.is_dir() else path
    if csv_path.suffix.lower() != ".csv":
        raise CatalogueError(f"{csv_path} is not a CSV file; a catalogue needs a metadata CSV.")
    rows, fields, problems = _read_rows(csv_path)
    root = csv_path.parent.resolve()
    if IMAGE_COLUMN in fields:
        catalogue = _generic_catalogue(root, csv_path, fields, rows, problems)
    elif ID_COLUMN in fields:
        catalogue = _styles_catalogue(root, csv_path, fields, rows, problems)
    else:
        raise CatalogueError(
            f"{csv_path.name} has neither an '{IMAGE_COLUMN}' column (a path to each image) nor "
            f"an '{ID_COLUMN}' column with images at images/<id>.jpg. Columns found: "
            f"{', '.join(fields) or 'none'}."
        )
    if not catalogue.items:
        details = "; ".join(str(p) for p in catalogue.problems[:3])
        raise CatalogueError(
            f"No usable items in {csv_path}" + (f" ({details})." if details else ".")
        )
    return catalogue


def _find_csv(folder: Path) -> Path:
    styles = folder / STYLES_CSV
    if styles.is_file():
        return styles
    candidates = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CatalogueError(
            f"No metadata CSV in {folder}: expected {STYLES_CSV} (with images/<id>.jpg) or a CSV "
            f"with an '{IMAGE_COLUMN}' column."
        )
    names = ", ".join(p.name for p in candidates)
    raise CatalogueError(f"Several CSV files in {folder} ({names}); pass the one to use.")


def _read_rows(
    csv_path: Path,
) -> tuple[list[tuple[int, dict[str, str]]], list[str], list[CatalogueProblem]]:
    problems: list[CatalogueProblem] = []
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        with csv_path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise CatalogueError(f"{csv_path.name} is empty; it needs a header row.")
            fields = [name.strip() for name in header]
            if len(set(fields)) != len(fields) or "" in fields:
                raise CatalogueError(f"{csv_path.name} has empty or repeated column names.")
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(fields):
                    problems.append(
                        CatalogueProblem(
                            "malformed-row",
                            f"{csv_path.name} line {line}",
                            f"has {len(values)} fields, expected {len(fields)}",
                        )
                    )
                    continue
                rows.append((line, {k: v.strip() for k, v in zip(fields, values, strict=True)}))
    except csv.Error as error:
        raise CatalogueError(f"{csv_path.name} is not valid CSV: {error}.") from None
    except OSError as error:
        raise CatalogueError(f"Cannot read {csv_path}: {error.strerror or error}.") from None
    return rows, fields, problems


def _styles_catalogue(
    root: Path,
    csv_path: Path,
    fields: list[str],
    rows: list[tuple[int, dict[str, str]]],
    problems: list[CatalogueProblem],
) -> Catalogue:
    images_dir = root / "images"
    on_disk = _images_by_stem(images_dir)
    catalogue = Catalogue(root, csv_path, "styles", fields, problems=problems)
    seen: set[str] = set()
    for line, row in rows:
        where = f"{csv_path.name} line {line}"
        item_id = row[ID_COLUMN]
        if not _valid_id(item_id):
            catalogue.problems.append(CatalogueProblem("malformed-row", where, "empty or bad id"))
            continue
        if item_id in seen:
            catalogue.problems.append(
                CatalogueProblem("duplicate-id", where, f"id {item_id} appears more than once")
            )
            continue
        seen.add(item_id)
        image = on_disk.get(item_id)
        if image is None:
            catalogue.problems.append(
                CatalogueProblem("missing-image", where, f"no image images/{item_id}.jpg")
            )
            continue
        catalogue.items.append(CatalogueItem(item_id, image, row))
    for stem, image in sorted(on_disk.items()):
        if stem not in seen:
            catalogue.problems.append(
                CatalogueProblem("orphan-image", str(image.relative_to(root)), "no row in CSV")
            )
    return catalogue


def _generic_catalogue(
    root: Path,
    csv_path: Path,
    fields: list[str],
    rows: list[tuple[int, dict[str, str]]],
    problems: list[CatalogueProblem],
) -> Catalogue:
    catalogue = Catalogue(root, csv_path, "generic", fields, problems=problems)
    seen_ids: set[str] = set()
    referenced: set[Path] = set()
    for line, row in rows:
        where = f"{csv_path.name} line {line}"
        relative = row[IMAGE_COLUMN]
        if not relative:
            catalogue.problems.append(CatalogueProblem("malformed-row", where, "empty image path"))
            continue
        image = Path(relative) if os.path.isabs(relative) else (root / relative)
        image = Path(os.path.normpath(image))
        if not os.path.isabs(relative) and not image.is_relative_to(root):
            catalogue.problems.append(
                CatalogueProblem("malformed-row", where, f"{relative} leaves the catalogue folder")
            )
            continue
        item_id = row.get(ID_COLUMN) or relative
        if not _valid_id(item_id):
            catalogue.problems.append(CatalogueProblem("malformed-row", where, "bad id"))
            continue
        if item_id in seen_ids:
            catalogue.problems.append(
                CatalogueProblem("duplicate-id", where, f"id {item_id} appears more than once")
            )
            continue
        seen_ids.add(item_id)
        if not image.is_file():
            catalogue.problems.append(
                CatalogueProblem("missing-image", where, f"no image at {relative}")
            )
            continue
        referenced.add(image)
        catalogue.items.append(CatalogueItem(item_id, image, row))
    for image in _images_below(root):
        if image not in referenced:
            catalogue.problems.append(
                CatalogueProblem("orphan-image", str(image.relative_to(root)), "no row in CSV")
            )
    return catalogue


def _valid_id(item_id: str) -> bool:
    return bool(item_id) and "\x00" not in item_id and len(item_id) <= 512


def _images_by_stem(images_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not images_dir.is_dir():
        return found
    with os.scandir(images_dir) as entries:
        for entry in entries:
            suffix = os.path.splitext(entry.name)[1].lower()
            if suffix in IMAGE_SUFFIXES and entry.is_file():
                stem = entry.name[: -len(suffix)]
                # Prefer .jpg when an id has several files.
                if stem not in found or suffix == ".jpg":
                    found[stem] = Path(entry.path).resolve()
    return found


def _images_below(root: Path) -> list[Path]:
    images = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                images.append(Path(os.path.normpath(Path(folder) / name)))
    return sorted(images)
