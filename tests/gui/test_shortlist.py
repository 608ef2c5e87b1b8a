"""Client shortlists: the Qt-free store, the panel, persistence and exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fd_testdata import demo_image
from PySide6.QtGui import QImage

from fashion_desktop.core.shortlist import ShortlistEntry, ShortlistError, ShortlistStore

TIMEOUT = 15_000


def entry(item_id: str, colour: str = "Blue") -> ShortlistEntry:
    return ShortlistEntry(
        item_id,
        f"Shirt {item_id}",
        demo_image(0),
        {"articleType": "Shirts", "baseColour": colour, "gender": "Men"},
    )


def test_store_keeps_clients_and_entries_across_reopening(tmp_path: Path):
    store = ShortlistStore.in_directory(tmp_path)
    store.add("Ada Lovelace", entry("1"))
    store.add("ada lovelace", entry("2", "Red"))  # same client, case-insensitive
    store.add("Grace", entry("3"))
    store.add("Ada Lovelace", entry("1"))  # adding twice keeps one
    store.close()
    again = ShortlistStore.in_directory(tmp_path)
    assert again.clients() == ["Ada Lovelace", "Grace"]
    assert [e.item_id for e in again.entries("Ada Lovelace")] == ["1", "2"]
    assert again.entries("Ada Lovelace")[1].metadata["baseColour"] == "Red"
    again.remove("Ada Lovelace", "1")
    assert again.item_ids("Ada Lovelace") == {"2"}
    again.remove_client("Grace")
    assert again.clients() == ["Ada Lovelace"] and again.entries("Grace") == []


def test_store_rejects_empty_client_names(tmp_path: Path):
    store = ShortlistStore.in_directory(tmp_path)
    with pytest.raises(ShortlistError):
        store.add_client("   ")
    with pytest.raises(ShortlistError):
        store.add_client("x" * 200)


def test_csv_export_is_complete_and_atomic(tmp_path: Path):
    store = ShortlistStore.in_directory(tmp_path)
    store.add('Ada, "the" client', entry("7"))
    target = tmp_path / "out" / "ada.csv"
    store.export_csv('Ada, "the" client', target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0]["id"] == "7" and rows[0]["client"] == 'Ada, "the" client'
    assert rows[0]["articleType"] == "Shirts" and rows[0]["baseColour"] == "Blue"
    assert not list(target.parent.glob(".*.tmp"))


def test_unwritable_store_location_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ShortlistError, match="Cannot open the shortlists"):
        ShortlistStore.in_directory(blocker / "sub")


def test_store_module_never_imports_qt():
    import fashion_desktop.core.shortlist as module

    source = Path(module.__file__).read_text()
    assert "PySide6" not in source and "shiboken" not in source


def test_shortlisting_from_cards_survives_a_new_window(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(8)])
    cards = window.result_grid.visible_cards()
    chosen = [cards[0].hit, cards[3].hit]
    cards[0].shortlist_button.click()
    cards[3].shortlist_button.click()
    panel = window.shortlist_panel
    assert panel.client == "My picks"
    assert panel.item_ids() == {h.item_id for h in chosen}
    assert window.shortlist_button.text() == "Shortlist (2)"
    assert cards[0].shortlist_button.isChecked()
    window.set_shortlist_visible(True)
    window.close()

    again = make_window()
    assert again.shortlist_panel.isVisible()
    assert again.shortlist_panel.client == "My picks"
    assert [e.item_id for e in again.shortlist_panel.model.entries] == [h.item_id for h in chosen]
    with qtbot.waitSignal(again.results_presented, timeout=TIMEOUT):
        again.open_paths([demo_image(8)])
    card = again.result_grid.visible_cards()[0]
    assert card.shortlist_button.isChecked()
    card.shortlist_button.click()  # remove from the card
    assert again.shortlist_panel.item_ids() == {chosen[1].item_id}


def test_named_clients_have_separate_shortlists(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(9)])
    panel = window.shortlist_panel
    panel.new_client_edit.setText("Mrs Dalloway")
    panel.new_client_edit.returnPressed.emit()
    assert panel.client == "Mrs Dalloway"
    window.result_grid.visible_cards()[1].shortlist_button.click()
    assert len(panel.item_ids()) == 1
    panel.client_box.setCurrentText("My picks") if "My picks" in panel.store.clients() else None
    panel.set_client("Mr Bloom")
    assert panel.item_ids() == set()
    assert not window.result_grid.visible_cards()[1].shortlist_button.isChecked()


def test_exports_csv_png_and_pdf(qtbot, make_window, tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(10)])
    for card in window.result_grid.visible_cards()[:3]:
        card.shortlist_button.click()
    panel = window.shortlist_panel
    outputs = {}
    for kind in ("csv", "png", "pdf"):
        target = tmp_path / f"sheet.{kind}"
        with qtbot.waitSignal(panel.export_finished, timeout=TIMEOUT):
            panel.export(kind, target)
        outputs[kind] = target
    rows = list(csv.DictReader(io.StringIO(outputs["csv"].read_text(encoding="utf-8"))))
    assert len(rows) == 3 and rows[0]["client"] == "My picks"
    sheet = QImage(str(outputs["png"]))
    assert not sheet.isNull() and sheet.width() >= 1000
    assert outputs["pdf"].read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".*.tmp"))
    assert "Exported" in window.notice_banner.message


def test_export_to_an_unwritable_place_is_a_notice(qtbot, make_window, tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(10)])
    window.result_grid.visible_cards()[0].shortlist_button.click()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with qtbot.waitSignal(window.notice_posted, timeout=TIMEOUT) as signal:
        window.shortlist_panel.export("pdf", blocker / "sheet.pdf")
    assert signal.args[0] == "error" and "Cannot write" in signal.args[1]
