"""Reading catalogues: both layouts, and every kind of bad row reported rather than fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from fashion_desktop.core.catalogue import read_catalogue
from fashion_desktop.core.errors import CatalogueError


def small_jpeg(path: Path, colour: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 8), colour).save(path)
    return path


def kinds(catalogue) -> list[str]:
    return [problem.kind for problem in catalogue.problems]


# ---------------------------------------------------------------------------- styles layout
def test_styles_layout_reads_ids_images_and_metadata(make_catalogue) -> None:
    folder = make_catalogue(range(6))
    catalogue = read_catalogue(folder)
    assert catalogue.layout == "styles"
    assert catalogue.csv_path == folder / "styles.csv"
    assert [item.item_id for item in catalogue.items] == [str(1000 + i) for i in range(6)]
    first = catalogue.items[0]
    assert first.image_path == (folder / "images" / "1000.jpg").resolve()
    assert first.image_path.is_absolute()
    assert first.metadata["articleType"] == "Tshirts" and first.metadata["baseColour"] == "Red"
    assert catalogue.problems == []
    assert len(catalogue) == 6


def test_styles_csv_file_path_is_accepted_too(make_catalogue) -> None:
    folder = make_catalogue(range(3))
    assert len(read_catalogue(folder / "styles.csv")) == 3


def test_rows_without_image_and_images_without_row_are_problems(make_catalogue) -> None:
    folder = make_catalogue(range(5))
    (folder / "images" / "1002.jpg").unlink()
    small_jpeg(folder / "images" / "9999.jpg")
    catalogue = read_catalogue(folder)
    assert [item.item_id for item in catalogue.items] == ["1000", "1001", "1003", "1004"]
    assert sorted(kinds(catalogue)) == ["missing-image", "orphan-image"]
    summary = catalogue.problem_summary()
    assert summary == {"missing-image": 1, "orphan-image": 1}
    messages = [str(p) for p in catalogue.problems]
    assert any("1002" in m and "styles.csv line 4" in m for m in messages), messages
    assert any("9999.jpg" in m and "no row" in m for m in messages), messages


def test_duplicate_ids_keep_the_first_row(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "images" / "7.jpg")
    (tmp_path / "styles.csv").write_text(
        "id,articleType\n7,Shirts\n7,Jeans\n", encoding="utf-8", newline=""
    )
    catalogue = read_catalogue(tmp_path)
    assert len(catalogue) == 1 and catalogue.items[0].metadata["articleType"] == "Shirts"
    assert kinds(catalogue) == ["duplicate-id"]
    assert "line 3" in str(catalogue.problems[0])


def test_malformed_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    for item_id in ("1", "2", "3"):
        small_jpeg(tmp_path / "images" / f"{item_id}.jpg")
    (tmp_path / "styles.csv").write_text(
        "id,gender,articleType\n"
        "1,Men,Shirts\n"
        "2,Women\n"  # too few fields
        "3,Men,Jeans,extra\n"  # too many
        "\n"  # blank lines are ignored
        ",Men,Shirts\n",  # empty id
        encoding="utf-8",
        newline="",
    )
    catalogue = read_catalogue(tmp_path)
    assert [item.item_id for item in catalogue.items] == ["1"]
    malformed = [p for p in catalogue.problems if p.kind == "malformed-row"]
    assert len(malformed) == 3
    assert "has 2 fields, expected 3" in str(malformed[0]) and "line 3" in str(malformed[0])
    assert "has 4 fields, expected 3" in str(malformed[1]) and "line 4" in str(malformed[1])
    assert sorted(kinds(catalogue)).count("orphan-image") == 2  # images 2 and 3 lost their rows


def test_fields_with_spaces_and_empty_values(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "images" / "5.jpg")
    (tmp_path / "styles.csv").write_text(
        " id , baseColour ,season\n5, Navy Blue ,\n", encoding="utf-8"
    )
    catalogue = read_catalogue(tmp_path)
    assert catalogue.fields == ["id", "baseColour", "season"]
    assert catalogue.items[0].metadata == {"id": "5", "baseColour": "Navy Blue", "season": ""}


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "images" / "11.jpg")
    (tmp_path / "styles.csv").write_bytes(b"\xef\xbb\xbfid,gender\r\n11,Women\r\n")
    catalogue = read_catalogue(tmp_path)
    assert catalogue.layout == "styles" and catalogue.fields[0] == "id"
    assert catalogue.items[0].metadata["gender"] == "Women"


def test_non_utf8_bytes_do_not_stop_the_catalogue(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "images" / "12.jpg")
    (tmp_path / "styles.csv").write_bytes("id,name\n12,Robe d'été\n".encode("latin-1"))
    catalogue = read_catalogue(tmp_path)
    name = catalogue.items[0].metadata["name"]
    assert name == "Robe d'\ufffdt\ufffd"  # undecodable bytes are replaced, visibly


# --------------------------------------------------------------------------- generic layout
def test_generic_layout_relative_and_absolute_paths_without_id(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    small_jpeg(folder / "pics" / "a b.jpg")
    small_jpeg(folder / "top.png")
    outside = small_jpeg(tmp_path / "elsewhere" / "abs.jpg")
    (folder / "products.csv").write_text(
        f"image,colour\npics/a b.jpg,Red\ntop.png,Blue\n{outside},Green\n", encoding="utf-8"
    )
    catalogue = read_catalogue(folder)
    assert catalogue.layout == "generic"
    assert [item.item_id for item in catalogue.items] == ["pics/a b.jpg", "top.png", str(outside)]
    paths = [item.image_path for item in catalogue.items]
    assert paths[0] == (folder / "pics" / "a b.jpg").resolve()
    assert paths[2] == outside
    assert all(path.is_file() for path in paths)
    assert catalogue.problems == []


def test_generic_layout_with_id_column(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "img" / "x.jpg")
    (tmp_path / "cat.csv").write_text("id,image\nSKU-1,img/x.jpg\n", encoding="utf-8")
    catalogue = read_catalogue(tmp_path / "cat.csv")
    assert catalogue.items[0].item_id == "SKU-1"


def test_generic_paths_leaving_the_folder_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    small_jpeg(folder / "ok.jpg")
    small_jpeg(tmp_path / "x.jpg")  # exists, but outside the catalogue
    (folder / "cat.csv").write_text("image\nok.jpg\n../x.jpg\nsub/../../x.jpg\n", encoding="utf-8")
    catalogue = read_catalogue(folder)
    assert [item.item_id for item in catalogue.items] == ["ok.jpg"]
    escapes = [p for p in catalogue.problems if "leaves the catalogue folder" in p.message]
    assert len(escapes) == 2 and all(p.kind == "malformed-row" for p in escapes)


def test_generic_missing_images_orphans_empty_paths_and_duplicates(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "a.jpg")
    small_jpeg(tmp_path / "b.jpg")
    small_jpeg(tmp_path / "orphan.jpg")
    small_jpeg(tmp_path / ".hidden" / "ignored.jpg")
    (tmp_path / "cat.csv").write_text(
        "id,image\n1,a.jpg\n2,missing.jpg\n3,\n1,b.jpg\n", encoding="utf-8"
    )
    catalogue = read_catalogue(tmp_path)
    assert [item.item_id for item in catalogue.items] == ["1"]
    summary = catalogue.problem_summary()
    assert summary == {
        "missing-image": 1,
        "malformed-row": 1,
        "duplicate-id": 1,
        "orphan-image": 2,  # b.jpg (its row was a duplicate) and orphan.jpg; .hidden skipped
    }


# ----------------------------------------------------------------------------- fatal cases
def test_missing_catalogue(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="Catalogue not found"):
        read_catalogue(tmp_path / "nope")


def test_folder_without_csv(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "images" / "1.jpg")
    with pytest.raises(CatalogueError, match=r"No metadata CSV in .*styles\.csv"):
        read_catalogue(tmp_path)


def test_several_csvs_without_styles_csv_must_be_chosen(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("image\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("image\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"Several CSV files .*a\.csv, b\.csv.*pass the one"):
        read_catalogue(tmp_path)


def test_styles_csv_wins_over_other_csvs(make_catalogue) -> None:
    folder = make_catalogue(range(2))
    (folder / "notes.csv").write_text("whatever\n", encoding="utf-8")
    assert read_catalogue(folder).csv_path.name == "styles.csv"


def test_empty_csv(tmp_path: Path) -> None:
    (tmp_path / "styles.csv").write_bytes(b"")
    with pytest.raises(CatalogueError, match=r"styles\.csv is empty; it needs a header row"):
        read_catalogue(tmp_path)


def test_csv_without_id_or_image_column(tmp_path: Path) -> None:
    (tmp_path / "cat.csv").write_text("sku,name\n1,shirt\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as error:
        read_catalogue(tmp_path)
    message = str(error.value)
    assert "'image'" in message and "'id'" in message and "Columns found: sku, name" in message


def test_repeated_column_names(tmp_path: Path) -> None:
    (tmp_path / "styles.csv").write_text("id,name,name\n1,a,b\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="empty or repeated column names"):
        read_catalogue(tmp_path)


def test_not_a_csv_file(tmp_path: Path) -> None:
    path = small_jpeg(tmp_path / "photo.jpg")
    with pytest.raises(CatalogueError, match="is not a CSV file"):
        read_catalogue(path)


def test_no_usable_items_names_the_first_problems(tmp_path: Path) -> None:
    (tmp_path / "styles.csv").write_text("id,gender\n1,Men\n2,Women\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as error:
        read_catalogue(tmp_path)
    assert "No usable items" in str(error.value) and "no image images/1.jpg" in str(error.value)


def test_subset_keeps_catalogue_order(make_catalogue) -> None:
    catalogue = read_catalogue(make_catalogue(range(5)))
    subset = catalogue.subset(["1003", "1001"])
    assert [item.item_id for item in subset.items] == ["1001", "1003"]
    assert subset.fields == catalogue.fields and subset.layout == "styles"
