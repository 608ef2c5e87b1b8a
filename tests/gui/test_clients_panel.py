"""The Clients page: the client book in the stylist's window, on the demo index.

A client is created, profiled, given a history (imported from a CSV over demo item ids), shown
recommendations as result cards with reasons, liked and disliked, shortlisted, completed into a
look, exported and forgotten — every write checked in the book itself (a second connection).
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from fashion_desktop.core.clients import ClientBook, ClientProfile
from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.looks import LookBuilder
from fashion_desktop.core.recommend import Recommender
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.widgets.clients import ClientsPanel
from fashion_desktop.gui.widgets.results import ResultCard
from fashion_desktop.resources import demo_index_path

TIMEOUT = 15_000
CLIENT = "Asha Rao"


@pytest.fixture(scope="module")
def demo_items() -> list[tuple[str, dict[str, str]]]:
    """(id, metadata) of the demo index's Men's apparel and footwear, in index order."""
    index = EmbeddingIndex.open(demo_index_path())
    try:
        items = index.items(range(len(index)))
    finally:
        index.close()
    return [
        (item.item_id, item.metadata)
        for item in items
        if item.metadata.get("gender") == "Men"
        and item.metadata.get("masterCategory") in ("Apparel", "Footwear")
    ]


def write_history(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["client", "item_id", "date", "quantity", "price"])
        for number, (client, item_id, day) in enumerate(rows):
            writer.writerow([client, item_id, day, 1, f"{20 + number}.50"])
    return path


def history_rows(demo_items, count: int = 8, client: str = CLIENT):
    return [
        (client, item_id, f"2024-0{1 + n % 9}-{10 + n:02d}")
        for n, (item_id, _meta) in enumerate(demo_items[:count])
    ]


def book_of(data_dir: Path) -> ClientBook:
    """A second connection to the window's book: what was really committed."""
    return ClientBook.in_directory(data_dir)


def clients_window(make_window, qtbot) -> MainWindow:
    window = make_window(embedder=None)  # recommendations and looks need no model
    window.show_page("clients")
    assert window.current_page == "clients"
    return window


def import_csv(window: MainWindow, qtbot, path: Path, *, skip_invalid: bool = False) -> None:
    with qtbot.waitSignal(window.client_controller.import_finished, timeout=TIMEOUT):
        window.clients_panel.import_history(path, skip_invalid=skip_invalid)


def client_with_history(window, qtbot, tmp_path, demo_items) -> None:
    """Asha, with a history imported and her recommendations on screen."""
    import_csv(window, qtbot, write_history(tmp_path / "sales.csv", history_rows(demo_items)))
    with qtbot.waitSignal(window.client_controller.recommendations_ready, timeout=TIMEOUT):
        window.show_client(CLIENT)
    qtbot.waitUntil(lambda: bool(recommendation_cards(window)), timeout=TIMEOUT)


def recommendation_cards(window: MainWindow) -> list[ResultCard]:
    return window.clients_panel.recommendation_grid.visible_cards()


def shown_ids(window: MainWindow) -> list[str]:
    return [card.hit.item_id for card in recommendation_cards(window) if card.hit is not None]


# ------------------------------------------------------------------------------- clients
def test_create_a_client_and_edit_the_profile(make_window, qtbot, data_dir):
    window = clients_window(make_window, qtbot)
    panel = window.clients_panel
    assert panel.detail_stack.currentIndex() == 0  # "Choose a client, or add one"
    panel.new_client_edit.setText("  Asha   Rao ")
    qtbot.keyClick(panel.new_client_edit, Qt.Key.Key_Return)
    assert panel.client == CLIENT and panel.clients() == [CLIENT]
    assert panel.detail_stack.currentIndex() == 1 and panel.name_label.text() == CLIENT
    assert window.shortlist_panel.client == CLIENT  # one current client for the window
    panel.add_client("Bina Shah")
    panel.search_edit.setText("bin")
    assert panel.visible_clients() == ["Bina Shah"]
    panel.search_edit.clear()
    panel.set_client(CLIENT)

    editor = panel.profile_editor
    colours = editor.pickers["preferred_colours"]
    qtbot.waitUntil(lambda: colours.box.count() > 0, timeout=TIMEOUT)  # the index's values
    assert colours.box.findText("Navy Blue") >= 0
    assert editor.pickers["preferred_usages"].box.findText("NA") < 0  # no placeholder values
    editor.gender_box.setCurrentIndex(editor.gender_box.findData("Women"))
    editor.add_size_row("Topwear", "M")
    editor.add_size_row("Footwear", "38")
    assert colours.add("navy blue")  # the index's spelling is kept
    assert editor.pickers["avoided_colours"].add("Orange")
    assert editor.pickers["preferred_article_types"].add("Kurtas")
    assert editor.pickers["preferred_usages"].add("Ethnic")
    editor.notes.setPlainText("Prefers cotton.")
    editor.save_button.click()

    stored = book_of(data_dir).profile(CLIENT)
    assert stored == ClientProfile(
        gender="Women",
        sizes={"Topwear": "M", "Footwear": "38"},
        preferred_colours=("Navy Blue",),
        avoided_colours=("Orange",),
        preferred_article_types=("Kurtas",),
        preferred_usages=("Ethnic",),
        notes="Prefers cotton.",
    )
    assert "Women" in panel.summary_label.text()

    # bad input: a colour both preferred and avoided → a notice, nothing stored
    editor.pickers["avoided_colours"].add("Navy Blue")
    editor.save_button.click()
    banner = panel.notice_banner
    assert banner.level == "warning" and "both preferred and avoided" in banner.message
    assert book_of(data_dir).profile(CLIENT).avoided_colours == ("Orange",)
    editor.revert_button.click()
    assert editor.pickers["avoided_colours"].values() == ["Orange"]


def test_import_history_good_and_bad(make_window, qtbot, data_dir, tmp_path, demo_items):
    window = clients_window(make_window, qtbot)
    panel = window.clients_panel
    rows = history_rows(demo_items, 4)
    bad = write_history(
        tmp_path / "bad.csv",
        [*rows, (CLIENT, "no-such-item", "2024-03-01"), (CLIENT, rows[0][1], "03/05/2024")],
    )
    import_csv(window, qtbot, bad)
    dialog = panel.problems_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    problems = dialog.problems.toPlainText()
    assert "line 6" in problems and "no-such-item" in problems and "line 7" in problems
    assert panel.notice_banner.level == "warning" and "not imported" in panel.notice_banner.message
    assert book_of(data_dir).clients() == []  # nothing imported on any problem
    assert panel.import_button.isEnabled()

    # the user chooses to import the valid rows
    with qtbot.waitSignal(window.client_controller.import_finished, timeout=TIMEOUT):
        dialog.import_button.click()
    assert len(book_of(data_dir).purchases(CLIENT)) == 4
    assert panel.client == CLIENT and panel.history_table.rowCount() == 4
    assert "Imported 4 purchases" in panel.notice_banner.message
    assert "2 rows with problems skipped" in panel.notice_banner.message

    # a good file: the new rows only (the same purchases again add nothing)
    good = write_history(tmp_path / "good.csv", history_rows(demo_items, 6))
    import_csv(window, qtbot, good)
    assert len(book_of(data_dir).purchases(CLIENT)) == 6
    assert "4 were already in the book" in panel.notice_banner.message
    table = panel.history_table
    assert table.rowCount() == 6
    newest = max(rows_day for _c, _i, rows_day in history_rows(demo_items, 6))
    assert table.item(0, 0).text() == newest  # newest first
    assert table.item(0, 4).text().endswith(".50")
    assert "History (6)" in panel.tabs.tabText(2)

    # a file that is no history at all: a notice, nothing changed, never a traceback
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01binary\xff" * 100)
    with qtbot.waitSignal(window.client_controller.failed, timeout=TIMEOUT):
        panel.import_history(garbage)
    assert panel.notice_banner.level == "error" and "garbage.csv" in panel.notice_banner.message
    assert len(book_of(data_dir).purchases(CLIENT)) == 6


# ------------------------------------------------------------------------ recommendations
def test_recommendations_are_result_cards_with_reasons(
    make_window, qtbot, data_dir, tmp_path, demo_items
):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    panel = window.clients_panel
    cards = recommendation_cards(window)
    assert len(cards) == 10 and all(isinstance(card, ResultCard) for card in cards)
    assert panel.recommended_title.text() == f"Recommended for {CLIENT}"
    bought = {item_id for _c, item_id, _d in history_rows(demo_items)}
    assert not bought & set(shown_ids(window))  # never an item she bought
    for card in cards:
        assert card.hit is not None
        assert card.reasons and card.reason.isVisible() and card.reason.text()
        assert card.reason.text().startswith(card.reasons[0])
        assert card.more_button.isVisible() and card.shortlist_button.isVisible()
        assert card.look_button.isVisible() and card.like_button.isVisible()
        assert card.name.text() == card.hit.metadata["productDisplayName"]
    assert any("bought" in reason for card in cards for reason in card.reasons)


def test_like_and_dislike_change_the_recommendations(
    make_window, qtbot, data_dir, tmp_path, demo_items
):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    first, second = recommendation_cards(window)[:2]
    assert first.hit is not None and second.hit is not None
    disliked, liked = first.hit.item_id, second.hit.item_id
    with qtbot.waitSignal(window.client_controller.recommendations_ready, timeout=TIMEOUT):
        first.dislike_button.click()
    qtbot.waitUntil(lambda: disliked not in shown_ids(window), timeout=TIMEOUT)
    opinions = {o.item_id: o.opinion for o in book_of(data_dir).opinions(CLIENT)}
    assert opinions == {disliked: "dislike"}
    with qtbot.waitSignal(window.client_controller.recommendations_ready, timeout=TIMEOUT):
        next(c for c in recommendation_cards(window) if c.hit.item_id == liked).like_button.click()
    opinions = {o.item_id: o.opinion for o in book_of(data_dir).opinions(CLIENT)}
    assert opinions == {disliked: "dislike", liked: "like"}
    assert disliked not in shown_ids(window)
    panel = window.clients_panel
    assert panel.opinion_list.count() == 2 and "Likes (2)" in panel.tabs.tabText(3)
    # the liked item shows its state on the card wherever it is shown
    for card in recommendation_cards(window):
        assert card.hit is not None
        assert card.like_button.isChecked() == (card.hit.item_id == liked)
    # forgetting the dislike brings nothing back that she bought, and clears it in the book
    panel.opinion_list.selectAll()
    with qtbot.waitSignal(window.client_controller.recommendations_ready, timeout=TIMEOUT):
        panel.clear_opinion_button.click()
    assert book_of(data_dir).opinions(CLIENT) == []


def test_like_on_a_search_result_is_stored_for_the_current_client(
    make_window, qtbot, data_dir, tmp_path, demo_items
):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    hit = recommendation_cards(window)[0].hit
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.more_like_this(hit)
    card = window.result_grid.visible_cards()[0]
    assert card.like_button.isVisible() and card.look_button.isVisible()
    card.like_button.click()
    assert card.hit is not None
    assert [(o.item_id, o.opinion) for o in book_of(data_dir).opinions(CLIENT)] == [
        (card.hit.item_id, "like")
    ]
    card.like_button.click()  # a second click clears it
    assert book_of(data_dir).opinions(CLIENT) == []


def test_heart_on_a_recommendation_adds_to_the_shortlist(
    make_window, qtbot, data_dir, tmp_path, demo_items
):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    card = recommendation_cards(window)[2]
    assert card.hit is not None
    card.shortlist_button.click()
    assert window.shortlist_panel.client == CLIENT
    assert window.shortlist_panel.item_ids() == {card.hit.item_id}
    assert [e.item_id for e in book_of(data_dir).entries(CLIENT)] == [card.hit.item_id]
    assert card.shortlist_button.isChecked()
    card.shortlist_button.click()
    assert book_of(data_dir).entries(CLIENT) == []


def test_more_like_this_from_a_recommendation_searches(make_window, qtbot, tmp_path, demo_items):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    card = recommendation_cards(window)[0]
    assert card.hit is not None
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        card.more_button.click()
    assert window.current_page == "search"
    active = window.session.active
    assert active is not None and active.is_item and active.item_id == card.hit.item_id
    hits = window.results_model.hits
    assert len(hits) == 5 and card.hit.item_id not in {h.item_id for h in hits}
    assert card.hit.metadata["productDisplayName"] in window.results_title.text()


# ------------------------------------------------------------------------------ the look
def test_complete_the_look_shows_slots_and_saves_a_look(
    make_window, qtbot, data_dir, tmp_path, demo_items
):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    anchor = next(
        c
        for c in recommendation_cards(window)
        if c.hit is not None and c.hit.metadata.get("subCategory") == "Topwear"
    )
    with qtbot.waitSignal(window.client_controller.look_ready, timeout=TIMEOUT):
        anchor.look_button.click()
    dialog = window.look_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.look.anchor.item_id == anchor.hit.item_id and dialog.client == CLIENT
    assert set(dialog.slot_cards) >= {"bottomwear", "footwear"}
    for cards in dialog.slot_cards.values():
        assert 3 <= len(cards) <= 5
        assert all(card.item.reasons and card.reason.text() for card in cards)
    assert "Neutrals" in dialog.rule_label.text()  # the colour rule, explained
    bought = {item_id for _c, item_id, _d in history_rows(demo_items)}
    shown = {card.item.item_id for cards in dialog.slot_cards.values() for card in cards}
    assert not shown & bought  # nothing she owns

    chosen = dialog.slot_cards["footwear"][1].item
    dialog.choose(chosen)
    dialog.name_edit.setText("Weekend")
    dialog.save_button.click()
    (look,) = book_of(data_dir).looks(CLIENT)
    assert look.name == "Weekend" and look.anchor_id == anchor.hit.item_id
    slots = {item["slot"]: item["id"] for item in look.items}
    assert slots["anchor"] == anchor.hit.item_id and slots["footwear"] == chosen.item_id
    assert window.clients_panel.look_list.count() == 1
    assert "Looks (1)" in window.clients_panel.tabs.tabText(4)

    exported = tmp_path / "look.csv"
    with qtbot.waitSignal(window.look_exported, timeout=TIMEOUT):
        window.export_look("csv", exported, dialog.look)
    exported_rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert exported_rows[0]["id"] == anchor.hit.item_id
    assert {row["slot"] for row in exported_rows} >= {"anchor", "footwear", "bottomwear"}
    png = tmp_path / "look.png"
    with qtbot.waitSignal(window.look_exported, timeout=TIMEOUT):
        window.export_look("png", png, dialog.look)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_look_for_an_item_outside_any_outfit_is_a_notice(make_window, qtbot):
    window = make_window(embedder=None)
    index = EmbeddingIndex.open(demo_index_path())
    try:
        item_id = next(
            item.item_id
            for item in index.items(range(len(index)))
            if item.metadata.get("masterCategory") == "Personal Care"
        )
    finally:
        index.close()
    with qtbot.waitSignal(window.client_controller.failed, timeout=TIMEOUT):
        window.client_controller.look(item_id)
    assert window.look_dialog is None
    assert window.notice_banner.level == "warning"
    assert "not part of an outfit" in window.notice_banner.message


# ----------------------------------------------------------------------- export, forget
def test_export_writes_json_and_csv(make_window, qtbot, data_dir, tmp_path, demo_items):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    panel = window.clients_panel
    assert panel.export(kind="json", path=tmp_path / "asha.json")
    data = json.loads((tmp_path / "asha.json").read_text(encoding="utf-8"))
    assert data["client"] == CLIENT and len(data["purchases"]) == 8
    assert panel.export(kind="csv", path=tmp_path / "asha.csv")
    records = [row["record"] for row in csv.DictReader((tmp_path / "asha.csv").open())]
    assert records.count("purchase") == 8
    assert panel.notice_banner.level == "info" and "asha.csv" in panel.notice_banner.message
    # a folder that cannot be written: a notice, no traceback
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not panel.export(kind="json", path=blocker / "asha.json")
    assert panel.notice_banner.level == "error"


def test_forget_removes_the_client_everywhere(make_window, qtbot, data_dir, tmp_path, demo_items):
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    panel = window.clients_panel
    panel.add_client("Bina Shah")
    assert panel.client == "Bina Shah" and recommendation_cards(window) == []
    panel.set_client(CLIENT)  # her recommendations come back from the worker
    qtbot.waitUntil(lambda: bool(recommendation_cards(window)), timeout=TIMEOUT)
    card = recommendation_cards(window)[0]
    card.shortlist_button.click()
    assert window.shortlist_panel.item_ids()

    # Cancel keeps her
    box = panel.confirm_forget()
    assert box is not None and box.isVisible()  # opened, not exec()'d: the loop runs on
    box.button(QMessageBox.StandardButton.Cancel).click()
    QApplication.processEvents()
    assert CLIENT in book_of(data_dir).clients()

    box = panel.confirm_forget()
    assert box is not None
    forget = next(b for b in box.buttons() if b.text() == f"Forget {CLIENT}")
    forget.click()
    qtbot.waitUntil(lambda: CLIENT not in panel.clients(), timeout=TIMEOUT)
    book = book_of(data_dir)
    assert book.clients() == ["Bina Shah"]
    assert CLIENT not in [
        window.shortlist_panel.client_box.itemText(i)
        for i in range(window.shortlist_panel.client_box.count())
    ]
    assert panel.client != CLIENT and CLIENT not in panel.visible_clients()
    assert "Forgot Asha Rao" in " ".join(m for _l, m in panel.notice_banner.history)
    raw = (data_dir / "shortlists.sqlite").read_bytes()
    assert CLIENT.encode() not in raw  # secure_delete: no trace in the file


# ------------------------------------------------------------------------------ threads
def test_recommendations_and_looks_are_computed_off_the_ui_thread(
    make_window, qtbot, tmp_path, demo_items, monkeypatch
):
    ran_on: dict[str, int] = {}
    recommend, look = Recommender.recommend, LookBuilder.look

    def recording_recommend(self, *args, **kwargs):
        ran_on["recommend"] = threading.get_ident()
        return recommend(self, *args, **kwargs)

    def recording_look(self, *args, **kwargs):
        ran_on["look"] = threading.get_ident()
        return look(self, *args, **kwargs)

    monkeypatch.setattr(Recommender, "recommend", recording_recommend)
    monkeypatch.setattr(LookBuilder, "look", recording_look)
    window = clients_window(make_window, qtbot)
    client_with_history(window, qtbot, tmp_path, demo_items)
    card = next(
        c
        for c in recommendation_cards(window)
        if c.hit is not None and c.hit.metadata.get("subCategory") in ("Topwear", "Bottomwear")
    )
    with qtbot.waitSignal(window.client_controller.look_ready, timeout=TIMEOUT):
        card.look_button.click()
    ui_thread = threading.get_ident()
    assert set(ran_on) == {"recommend", "look"}
    assert ran_on["recommend"] != ui_thread and ran_on["look"] != ui_thread
    assert ran_on["recommend"] == ran_on["look"]  # the one client worker
    search_thread = window.controller._thread  # not the inference worker either
    assert window.client_controller._thread is not search_thread


# -------------------------------------------------------------------------------- kiosk
def test_the_kiosk_shows_no_client_data(qtbot, qapp, make_settings, data_dir):
    from fashion_desktop.core.kiosk_config import KioskConfig
    from fashion_desktop.gui.app import apply_style
    from fashion_desktop.gui.camera import ImageFrameSource
    from fashion_desktop.gui.kiosk import KioskWindow

    apply_style(qapp)
    book = book_of(data_dir)
    book.set_profile(CLIENT, ClientProfile(gender="Women", notes="private"))
    window = KioskWindow(
        settings=make_settings(),
        embedder_factory=None,
        index_path=demo_index_path(),
        config=KioskConfig(),
        frame_source=ImageFrameSource([]),
        pin_directory=data_dir,
    )
    qtbot.addWidget(window)
    try:
        assert window.findChildren(ClientsPanel) == []
        assert not hasattr(window, "client_controller")
        for card in window.result_grid.cards:
            for button in (
                card.shortlist_button,
                card.like_button,
                card.dislike_button,
                card.look_button,
            ):
                assert not button.isVisibleTo(card)
            assert not card.reason.isVisibleTo(card)
        texts = " ".join(
            w.text() for w in window.findChildren(type(window.result_grid.empty.title))
        )
        assert CLIENT not in texts and "private" not in texts
    finally:
        window.allow_exit()
        window.close()


def test_opening_an_unknown_client_is_a_notice(make_window, qtbot, data_dir):
    window = make_window(embedder=None)
    book_of(data_dir).add_client(CLIENT)
    window.clients_panel.reload_clients()
    assert window.show_client("asha rao")  # any letter case (``--client``)
    assert window.clients_panel.client == CLIENT and window.current_page == "clients"
    assert not window.show_client("Asha Roa")
    banner = window.clients_panel.notice_banner
    assert banner.level == "error" and "Did you mean Asha Rao?" in banner.message
