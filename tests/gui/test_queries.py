"""Query input every way a stylist would try it, and what the window shows for it."""

from __future__ import annotations

import io
import threading

from fd_guidata import send_drop
from fd_testdata import demo_image, demo_item_count
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from fashion_desktop.core.search import SearchEngine
from fashion_desktop.core.session import ImageSearch
from fashion_desktop.gui.widgets.query_panel import EMPTY_TEXT

RESULTS_TIMEOUT = 15_000


def drag(qtbot, widget, start: QPoint, end: QPoint) -> None:
    """Press the left button at ``start``, move to ``end`` and release there."""
    qtbot.mousePress(widget, Qt.LeftButton, pos=start)
    qtbot.mouseMove(widget, end)
    qtbot.mouseRelease(widget, Qt.LeftButton, pos=end)


def file_mime(*paths, duplicate: bool = False) -> QMimeData:
    mime = QMimeData()
    urls = [QUrl.fromLocalFile(str(p)) for p in paths]
    mime.setUrls(urls + urls if duplicate else urls)
    return mime


def test_window_opens_on_the_demo_catalogue_with_an_empty_state(make_window):
    window = make_window()
    assert window.index_summary is not None and window.index_summary.count == demo_item_count()
    assert "Demo catalogue" in window.catalogue_button.text()
    assert not window.preview.has_image
    assert EMPTY_TEXT.startswith("Drop a photo of a garment here, paste it, or open a file")
    assert "Drop a photo" in window.result_grid.empty.title.text()
    assert all(button.isEnabled() for button in window.filter_bar.field_buttons.values())
    assert window.model_status.state == "ready"
    assert not window.notice_banner.isVisible()


def test_open_files_shows_five_cards_with_metadata(qtbot, make_window):
    window = make_window()
    query = demo_image(3)
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([query])
    cards = window.result_grid.visible_cards()
    assert len(cards) == 5
    hits = [card.hit for card in cards]
    assert all(hit is not None for hit in hits)
    assert query.stem not in {hit.item_id for hit in hits}  # the item itself is excluded
    first = cards[0]
    meta = first.hit.metadata
    assert first.name.text() == meta["productDisplayName"]
    assert meta["articleType"] in first.kind.text() and meta["baseColour"] in first.kind.text()
    assert meta["gender"] in first.details.text() and meta["usage"] in first.details.text()
    assert first.item_id.text() == f"ID {first.hit.item_id}"
    assert first.score.text() == f"{first.hit.score:.2f} match"
    assert f"{first.hit.similarity:.3f}" in first.score.toolTip()  # the cosine, explained
    scores = [card.hit.score for card in cards]  # the number shown is the one results follow
    assert scores == sorted(scores, reverse=True)
    assert all(card.image.has_image for card in cards)  # thumbnails painted
    assert window.preview.has_image and window.query_caption.text() == query.name
    # what the model sees: type, colour, gender chips, never the class "other"
    fields = [chip.property("field") for chip in window.prediction_chips.chips]
    assert fields == ["articleType", "baseColour", "gender"]
    assert all(chip.property("value") != "other" for chip in window.prediction_chips.chips)
    # and the query went to the recent strip
    assert window.recent_strip.buttons[0].property("path") == str(query)


def test_drop_of_file_urls_and_duplicate_urls(qtbot, make_window):
    window = make_window()
    query = demo_image(5)
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        assert send_drop(window, file_mime(query, duplicate=True))
    assert (
        window.session.active is not None and len(window.session.active.sources) == 1
    )  # not a blend
    assert window.query_caption.text() == query.name


def test_several_dropped_images_are_blended_into_one_query(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        send_drop(window, file_mime(demo_image(1), demo_image(2), demo_image(7)))
    assert window.query_caption.text() == "3 images blended"
    assert "3 images blended" in window.results_title.text()
    assert not window.preview.can_crop
    assert len(window.result_grid.visible_cards()) == 5


def test_browser_drop_prefers_image_data_over_remote_url(qtbot, make_window):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl("https://shop.example/img/shirt.jpg")] * 2)
    mime.setData("image/jpeg", demo_image(9).read_bytes())
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        send_drop(window, mime)
    assert window.query_caption.text() == "dropped image"
    assert not window.notice_banner.isVisible()


def test_remote_url_alone_gets_an_offline_message_and_no_search(qtbot, make_window):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl("https://shop.example/img/shirt.jpg")])
    before = window.controller.latest_id
    assert send_drop(window, mime)
    assert window.notice_banner.isVisible()
    assert "offline" in window.notice_banner.message and "Save the image first" in (
        window.notice_banner.message
    )
    assert window.controller.latest_id == before


def test_drop_of_plain_text_is_refused_at_drag_enter(make_window):
    window = make_window()
    mime = QMimeData()
    mime.setText("just some words")
    assert not send_drop(window, mime)


def test_paste_image_data_and_copied_file(qtbot, make_window):
    window = make_window()
    clipboard = QGuiApplication.clipboard()
    clipboard.setImage(QImage(str(demo_image(11))))
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        qtbot.keyClick(window, Qt.Key_V, Qt.ControlModifier)
    assert window.query_caption.text() == "pasted image"
    clipboard.setMimeData(file_mime(demo_image(12)))
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.paste()
    assert window.query_caption.text() == demo_image(12).name


def test_crop_searches_a_region_and_reset_returns_to_the_whole_image(
    qtbot, make_window, counting_embedder
):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(20)])
    image = window.preview.image_rect()
    start = QPoint(int(image.left() + image.width() * 0.1), int(image.top() + image.height() * 0.1))
    end = QPoint(int(image.left() + image.width() * 0.6), int(image.top() + image.height() * 0.5))
    runs = counting_embedder.batches
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        drag(qtbot, window.preview, start, end)
    crop = window.preview.crop
    assert crop is not None
    assert abs(crop.left - 0.1) < 0.03 and abs(crop.bottom - 0.5) < 0.03
    assert window.session.active.crop == crop
    assert counting_embedder.batches == runs + 1  # the model saw the region
    assert "(cropped)" in window.results_title.text()
    assert window.reset_crop_button.isVisible()
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.reset_crop_action.trigger()
    assert window.preview.crop is None and window.session.active.crop is None
    assert "(cropped)" not in window.results_title.text()


def test_filters_apply_inside_the_search_without_rerunning_the_model(
    qtbot, make_window, counting_embedder
):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(30)])
    runs = counting_embedder.batches
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.filter_bar.toggle("gender", "Women", True)
    hits = window.results_model.hits
    assert len(hits) == 5 and {h.metadata["gender"] for h in hits} == {"Women"}
    assert counting_embedder.batches == runs  # re-ranked from the stored vector
    assert [chip.property("field") for chip in window.filter_bar.chips] == ["gender"]
    assert window.filter_bar.field_buttons["gender"].text() == "Gender (1)"
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.filter_bar.toggle("baseColour", "Black", True)
    hits = window.results_model.hits
    assert hits and all(
        h.metadata["gender"] == "Women" and h.metadata["baseColour"] == "Black" for h in hits
    )
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.filter_bar.clear_button.click()
    assert not window.filter_bar.filters() and not window.filter_bar.chips
    assert counting_embedder.batches == runs


def test_filter_menus_list_index_values_with_counts(make_window):
    window = make_window()
    menu = window.filter_bar.field_buttons["gender"].menu()
    menu.aboutToShow.emit()
    texts = [action.text() for action in menu.actions()]
    assert any(text.startswith("Men") for text in texts)
    assert all("(" in text for text in texts)


def test_prediction_chip_filters_to_that_value(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(40)])
    chip = next(c for c in window.prediction_chips.chips if c.property("field") == "gender")
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        chip.click()
    value = chip.property("value")
    assert window.filter_bar.filters().to_dict() == {"gender": [value]}
    assert {h.metadata["gender"] for h in window.results_model.hits} == {value}


def test_more_like_this_searches_from_the_stored_embedding(qtbot, make_window, counting_embedder):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(50)])
    source = window.result_grid.visible_cards()[2].hit
    runs = counting_embedder.batches
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.result_grid.visible_cards()[2].more_button.click()
    assert counting_embedder.batches == runs
    assert window.session.active.item_id == source.item_id
    assert source.item_id not in {h.item_id for h in window.results_model.hits}
    assert "More like" in window.results_title.text()
    qtbot.waitUntil(lambda: window.preview.has_image, timeout=5000)
    assert not window.prediction_chips.chips


def test_query_before_the_model_is_ready_runs_when_it_is(qtbot, make_window, blocked_embedder):
    factory, release = blocked_embedder
    window = make_window(embedder=factory, wait=False)
    assert window.model_status.state == "loading"
    with qtbot.waitSignal(window.controller.waiting_for_model, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(60)])
    assert window.preview.has_image  # decoded and shown while the model loads
    assert not window.results_model.hits
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        release.set()
    assert len(window.results_model.hits) == 5
    assert window.model_status.state == "ready"


def test_only_the_newest_of_a_burst_of_queries_is_searched_and_shown(
    qtbot, make_window, counting_embedder, monkeypatch
):
    window = make_window()
    queries = [demo_image(i) for i in range(70, 90)]
    embed_batch = counting_embedder.embed_batch

    burst_queued = threading.Event()

    def slow_embed_batch(images):  # the first query is still running when the burst is queued
        burst_queued.wait(RESULTS_TIMEOUT / 1000)
        return embed_batch(images)

    monkeypatch.setattr(counting_embedder, "embed_batch", slow_embed_batch)
    runs = counting_embedder.batches
    ids = [window.open_paths([q]) for q in queries]  # 20 drops in one event-loop turn
    assert ids == sorted(ids) and len(set(ids)) == 20
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT) as blocker:
        burst_queued.set()
    assert blocker.args == [ids[-1]]
    qtbot.wait(300)
    assert window.controller.worker.runs <= 2
    assert counting_embedder.batches - runs <= 2
    assert window.query_caption.text() == queries[-1].name


def test_stale_answers_are_dropped_by_request_id(qtbot, make_window):
    window = make_window()
    controller = window.controller
    shown = []
    controller.results_ready.connect(lambda request_id, _r: shown.append(request_id))
    first = controller.search(ImageSearch(()))
    second = window.open_paths([demo_image(91)])
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        pass
    # pretend the worker finally answers the first request: it must not reach the view
    controller.worker.results_ready.emit(first, window.results_model.response)
    qtbot.wait(50)
    assert shown == [second]
    assert controller.stale_dropped >= 1


def test_keyboard_navigation_and_detail_view(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(95)])
    cards = window.result_grid.visible_cards()
    window.activateWindow()
    window.result_grid.focus_first()
    qtbot.waitUntil(cards[0].hasFocus)
    qtbot.keyClick(cards[0], Qt.Key_Right)
    assert cards[1].hasFocus()
    qtbot.keyClick(cards[1], Qt.Key_End)
    assert cards[4].hasFocus()
    qtbot.keyClick(cards[4], Qt.Key_Return)
    dialog = window.detail_dialog
    assert dialog is not None and dialog.isVisible()
    hit = cards[4].hit
    texts = {label.text() for label in dialog.findChildren(type(cards[4].rank))}
    assert hit.metadata["productDisplayName"] in texts
    assert hit.metadata["season"] in texts and hit.metadata["usage"] in texts
    qtbot.waitUntil(lambda: dialog.image.has_image, timeout=5000)
    qtbot.keyClick(dialog, Qt.Key_Escape)
    qtbot.waitUntil(lambda: window.detail_dialog is None, timeout=2000)


def test_detail_view_opens_on_click_and_offers_more_like_this(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(96)])
    card = window.result_grid.visible_cards()[0]
    hit = card.hit
    qtbot.mouseClick(card, Qt.LeftButton)
    dialog = window.detail_dialog
    assert dialog is not None and dialog.hit.item_id == hit.item_id
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        dialog.more_button.click()
    assert window.session.active.item_id == hit.item_id


def test_settings_restore_filters_recent_queries_and_index(qtbot, make_window):
    window = make_window(filters={"gender": ["Men"]})
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(97)])
    window.filter_bar.toggle("baseColour", "Blue", True)
    window.close()
    again = make_window(filters=None)
    assert again.filter_bar.filters().to_dict() == {"gender": ["Men"], "baseColour": ["Blue"]}
    assert again.recent_strip.buttons[0].property("path") == str(demo_image(97))
    assert again.settings.last_index == again.index_path
    with qtbot.waitSignal(again.results_presented, timeout=RESULTS_TIMEOUT):
        again.recent_strip.buttons[0].click()
    assert {h.metadata["gender"] for h in again.results_model.hits} == {"Men"}


def test_pasted_large_image_is_decoded_and_searched_off_the_ui_thread(
    qtbot, make_window, monkeypatch
):
    import fashion_desktop.gui.worker as worker_module

    window = make_window()
    ran_on: dict[str, int] = {}
    decode, search = worker_module.image_from_bytes, SearchEngine.search_images

    def recording_decode(*args, **kwargs):
        ran_on["decode"] = threading.get_ident()
        return decode(*args, **kwargs)

    def recording_search(self, *args, **kwargs):
        ran_on["search"] = threading.get_ident()
        return search(self, *args, **kwargs)

    monkeypatch.setattr(worker_module, "image_from_bytes", recording_decode)
    monkeypatch.setattr(SearchEngine, "search_images", recording_search)
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(buffer, "PNG")
    mime = QMimeData()
    mime.setData("image/png", buffer.getvalue())
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_mime(mime, origin="pasted image")
    assert window.preview.has_image
    ui_thread = threading.get_ident()
    assert set(ran_on) == {"decode", "search"}
    assert ran_on["decode"] != ui_thread and ran_on["search"] != ui_thread
    assert ran_on["decode"] == ran_on["search"]  # the one worker thread


def photo_of(index: int, folder) -> object:
    """A simulated photo (garment on a busy background) of demo catalogue item ``index``."""
    import numpy as np

    from fashion_desktop.core.photosim import simulate_photo

    path = folder / f"photo-{index}.jpg"
    product = Image.open(demo_image(index)).convert("RGB")
    simulate_photo(product, np.random.default_rng(index)).image.save(path, quality=90)
    return path


def test_a_photo_is_searched_on_the_garment_found_and_the_box_is_adjustable(
    qtbot, make_window, counting_embedder, tmp_path
):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([photo_of(12, tmp_path)])
    # A photo is searched on the garment the model finds (BENCHMARKS.md): the box is shown.
    found = window.preview.found_box
    assert found is not None and window.preview.crop is None
    assert "garment found" in window.crop_hint.text()
    assert not window.find_garment_button.isVisible()
    assert window.reset_crop_action.text() == "Whole image"
    # Photos are ranked with the colour head too (BENCHMARKS.md): Match colour applies to them.
    assert window.session.active.photo and window.match_colour_button.isEnabled()
    # Drag the found box's right edge inwards: it becomes the user's crop, searched as it is.
    box = window.preview.crop_to_widget(found)
    grab = QPoint(int(box.right()), int(box.center().y()))
    inward = QPoint(int(box.right() - box.width() * 0.3), int(box.center().y()))
    runs = counting_embedder.batches
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        drag(qtbot, window.preview, grab, inward)
    crop = window.preview.crop
    assert crop is not None and window.session.active.crop == crop
    assert abs(crop.left - found.left) < 0.02 and abs(crop.top - found.top) < 0.02
    assert crop.right < found.right - 0.1
    assert counting_embedder.batches == runs + 1
    assert window.reset_crop_action.text() == "Reset crop"
    # Reset: the automatic box again; then "Whole image" searches the unlocalised photo.
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.reset_crop_action.trigger()
    assert window.preview.crop is None and window.preview.found_box is not None
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.reset_crop_action.trigger()
    whole = window.preview.crop
    assert whole is not None and (whole.left, whole.top, whole.right, whole.bottom) == (0, 0, 1, 1)


def test_a_product_shot_is_searched_whole_without_a_found_box(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(12)])
    assert window.preview.found_box is None and window.preview.crop is None
    assert not window.reset_crop_button.isVisible()


def test_match_colour_reranks_from_the_stored_query_without_the_model(
    qtbot, make_window, counting_embedder, make_settings
):
    window = make_window()
    assert window.match_colour_action.isChecked()  # on by default
    with qtbot.waitSignal(window.results_presented, timeout=RESULTS_TIMEOUT):
        window.open_paths([demo_image(33)])
    response_on = window.results_model.response
    assert "baseColour" in response_on.scoring
    runs = counting_embedder.batches
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.match_colour_button.click()
    assert not window.match_colour_action.isChecked()
    assert "baseColour" not in window.results_model.response.scoring
    assert counting_embedder.batches == runs  # re-ranked from the stored vector and signature
    assert window.settings.match_colour is False
    with qtbot.waitSignal(window.controller.results_ready, timeout=RESULTS_TIMEOUT):
        window.match_colour_button.click()
    assert [h.item_id for h in window.results_model.hits] == [h.item_id for h in response_on.hits]
