"""``clients``, ``recommend``, ``look`` and ``evaluate --history`` on the command line.

Bad input prints a clear ``fashion-desktop: ...`` line, exits 1 and changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fd_bookdata import item_ids, toy_catalogue, write_book_index
from PIL import Image

from fashion_desktop.cli import EXIT_FAILED, EXIT_OK, main
from fashion_desktop.core.clients import ClientBook
from fashion_desktop.resources import user_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
from simulate_book import catalogue_from_rows, simulate, write_history

ROWS, _ = toy_catalogue()
KURTAS = item_ids(ROWS, articleType="Kurtas")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_book_index(tmp_path_factory.mktemp("cli-book") / "index")


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def book_state() -> tuple:
    book = ClientBook.in_directory(user_data_dir())
    try:
        return tuple(book.clients()), tuple(sorted(book.all_purchases()))
    finally:
        book.close()


def history_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = f"client,item_id,date\nAsha,{KURTAS[0]},2024-05-03\nAsha,{KURTAS[1]},2024-05-04\n"


def test_import_history_then_again(capsys, index: Path, tmp_path: Path):
    path = history_file(tmp_path, GOOD)
    code, out, _ = run(capsys, "clients", "import-history", path, "--index", index)
    assert code == EXIT_OK and "Imported 2 purchases" in out and "1 new client" in out
    code, out, _ = run(capsys, "clients", "import-history", path, "--index", index)
    assert code == EXIT_OK and "Imported 0 purchases" in out and "2 already in the book" in out


def test_a_bad_history_lists_every_problem_and_imports_nothing(capsys, index, tmp_path):
    text = (
        GOOD
        + f"Bina,nope,2024-05-03\n{'N' * 10_000},{KURTAS[2]},2024-05-03\nCara,{KURTAS[2]},3/5/24\n"
    )
    path = history_file(tmp_path, text)
    code, _, err = run(capsys, "clients", "import-history", path, "--index", index)
    assert code == EXIT_FAILED
    assert "line 4: unknown item id 'nope'" in err
    assert "line 5: Client names are limited to 80 characters (this one has 10,000)" in err
    assert "line 6: '3/5/24' is not an ISO 8601 date" in err
    assert "3 of 5 rows have problems; nothing was imported" in err
    assert len(max(err.splitlines(), key=len)) < 300  # the long name is not echoed
    assert book_state() == ((), ())
    code, out, _ = run(
        capsys, "clients", "import-history", path, "--index", index, "--skip-invalid"
    )
    assert code == EXIT_OK and "Imported 2 purchases" in out and "3 invalid rows skipped" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff" * 1000, "not UTF-8 text"),
        (b"sku,when\n1,2\n", "lacks the columns client, item_id, date"),
    ],
)
def test_unusable_history_files(capsys, index, tmp_path, content: bytes, message: str):
    path = tmp_path / "history.csv"
    path.write_bytes(content)
    code, _, err = run(capsys, "clients", "import-history", path, "--index", index)
    assert code == EXIT_FAILED and message in err and err.count("\n") == 1
    code, _, err = run(capsys, "clients", "import-history", tmp_path / "missing.csv")
    assert code == EXIT_FAILED and "not found" in err
    assert book_state() == ((), ())


def test_profile_edit_show_list_export_and_forget(capsys, tmp_path):
    code, out, _ = run(
        capsys, "clients", "edit", "Asha Rao", "--gender", "Women", "--prefer-colour", "Navy Blue",
        "--prefer-colour", "White", "--avoid-colour", "Orange", "--size", "Shoes=38",
        "--notes", "Cotton only",
    )  # fmt: skip
    assert code == EXIT_OK and "Saved the profile of Asha Rao" in out
    code, out, _ = run(capsys, "clients", "edit", "asha rao", "--prefer-colour", "")
    code, out, _ = run(capsys, "clients", "show", "Asha Rao")
    assert "gender: Women" in out and "avoided colours: Orange" in out and "Navy" not in out
    code, out, _ = run(capsys, "clients", "list", "--json")
    assert json.loads(out) == ["Asha Rao"]
    code, out, _ = run(capsys, "clients", "export", "Asha Rao", "--out", tmp_path / "asha.json")
    assert code == EXIT_OK and json.loads((tmp_path / "asha.json").read_text())["profile"][
        "sizes"
    ] == {"Shoes": "38"}
    code, _, err = run(capsys, "clients", "edit", "Asha Rao", "--gender", "Women", "--size", "38")
    assert code == EXIT_FAILED and "CATEGORY=SIZE" in err
    code, _, err = run(capsys, "clients", "forget", "Asha Rao")  # stdin is not a terminal
    assert code == EXIT_FAILED and "add --yes" in err
    assert book_state()[0] == ("Asha Rao",)
    code, out, _ = run(capsys, "clients", "forget", "Asha Rao", "--yes")
    assert code == EXIT_OK and "Forgot Asha Rao" in out
    assert book_state()[0] == ()
    code, _, err = run(capsys, "clients", "show", "Asha Rao")
    assert code == EXIT_FAILED and "No client named 'Asha Rao'" in err


def test_recommend_json_and_errors(capsys, index, tmp_path):
    run(capsys, "clients", "import-history", history_file(tmp_path, GOOD), "--index", index)
    run(capsys, "clients", "opinion", "Asha", KURTAS[2], "dislike", "--index", index)
    code, out, _ = run(
        capsys, "recommend", "--client", "asha", "--index", index, "-k", "4", "--json"
    )
    assert code == EXIT_OK
    answer = json.loads(out)
    assert answer["client"] == "Asha" and len(answer["results"]) == 4
    for rank, result in enumerate(answer["results"], start=1):
        assert set(result) == {"rank", "id", "score", "reasons", "metadata", "image"}
        assert result["rank"] == rank and result["id"] not in KURTAS[:3]
    code, out, _ = run(capsys, "recommend", "--client", "Asha", "--index", index, "-k", "3")
    assert code == EXIT_OK and "Recommended for Asha" in out and "  1. " in out
    code, _, err = run(capsys, "recommend", "--client", "Ashaa", "--index", index)
    assert code == EXIT_FAILED and "Did you mean Asha?" in err
    code, _, err = run(capsys, "recommend", "--client", "Asha", "--index", index, "-k", "0")
    assert code == EXIT_FAILED and "-k must be at least 1" in err


def test_look_save_and_export(capsys, index, tmp_path):
    run(capsys, "clients", "import-history", history_file(tmp_path, GOOD), "--index", index)
    code, out, _ = run(capsys, "look", KURTAS[3], "--index", index, "--json")
    answer = json.loads(out)
    assert code == EXIT_OK and answer["anchor"]["id"] == KURTAS[3]
    assert list(answer["slots"]) == ["bottomwear", "footwear", "accessory"]
    png = tmp_path / "look.png"
    code, out, _ = run(
        capsys, "look", KURTAS[3], "--index", index, "--client", "Asha", "--save", "Diwali",
        "--export", png,
    )  # fmt: skip
    assert code == EXIT_OK and "Saved as 'Diwali' for Asha" in out and "Colour rule" in out
    with Image.open(png) as image:
        assert image.format == "PNG"
    book = ClientBook.in_directory(user_data_dir())
    try:
        assert [look.name for look in book.looks("Asha")] == ["Diwali"]
    finally:
        book.close()
    code, _, err = run(capsys, "look", "nope", "--index", index)
    assert code == EXIT_FAILED and "No item with id 'nope'" in err
    code, _, err = run(capsys, "look", KURTAS[3], "--index", index, "--save", "x")
    assert code == EXIT_FAILED and "--save needs --client" in err
    bra = item_ids(ROWS, articleType="Bra")[0]
    code, _, err = run(capsys, "look", bra, "--index", index)
    assert code == EXIT_FAILED and "not part of an outfit" in err


def test_evaluate_history(capsys, index, tmp_path):
    path = write_history(
        simulate(catalogue_from_rows(ROWS), seed=2, clients=25), tmp_path / "h.csv"
    )
    code, out, _ = run(capsys, "evaluate", "--index", index, "--history", path)
    assert code == EXIT_OK
    for name in ("hybrid", "content", "collaborative", "popularity", "random", "last-purchase"):
        assert f"\n{name} " in out
    code, out, _ = run(capsys, "evaluate", "--index", index, "--history", path, "--json")
    assert json.loads(out)["clients"] == 25
    assert book_state() == ((), ())  # evaluating stores nothing
    bad = history_file(tmp_path, "client,item_id,date\nAsha,nope,2024-01-01\n")
    code, _, err = run(capsys, "evaluate", "--index", index, "--history", bad)
    assert code == EXIT_FAILED and "unknown item id 'nope'" in err
