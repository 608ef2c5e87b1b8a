"""Kiosk mode: camera-first flow, lock-down, PIN exit, idle privacy reset, fixed filters, CLI."""

from __future__ import annotations

import io
import json
import sys

import pytest
from fd_testdata import demo_image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QAction, QImage
from test_app import run_cli

from fashion_desktop import cli
from fashion_desktop.core import kiosk_pin
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters
from fashion_desktop.core.kiosk_config import KioskConfig
from fashion_desktop.gui.camera import ImageFrameSource
from fashion_desktop.gui.kiosk import CORNER_TAPS, KioskWindow, build_kiosk_window
from fashion_desktop.resources import demo_index_path

PIN = "2468"


@pytest.fixture
def make_kiosk(qtbot, qapp, make_settings, data_dir, counting_embedder):
    """``make_kiosk(config=..., source=...)``: a started kiosk with its model ready."""
    from fashion_desktop.gui.app import apply_style

    apply_style(qapp)
    kiosk_pin.set_pin(PIN, data_dir)
    windows: list[KioskWindow] = []

    def make(config: KioskConfig | None = None, source=None) -> KioskWindow:
        window = KioskWindow(
            settings=make_settings(),
            embedder_factory=lambda: counting_embedder,
            index_path=demo_index_path(),
            config=config or KioskConfig(),
            frame_source=source or ImageFrameSource([demo_image(7)]),
            pin_directory=data_dir,
        )
        qtbot.addWidget(window)
        window.resize(1440, 900)
        window.show()
        qtbot.waitExposed(window)
        with qtbot.waitSignal(window.index_ready, timeout=10_000):
            window.start()
        qtbot.waitUntil(lambda: window.controller.model_state == "ready", timeout=10_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.allow_exit()
        window.close()


def capture_and_use(qtbot, window: KioskWindow) -> None:
    qtbot.mouseClick(window.attract.start_button, Qt.LeftButton)
    assert window.current_screen == "capture"
    view = window.capture_view
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    qtbot.mouseClick(view.capture_button, Qt.LeftButton)
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        qtbot.mouseClick(view.use_button, Qt.LeftButton)


def test_attract_capture_results_detail(qtbot, make_kiosk):
    window = make_kiosk()
    assert window.current_screen == "attract"
    assert window.windowFlags() & Qt.FramelessWindowHint
    capture_and_use(qtbot, window)
    assert window.current_screen == "results"
    assert not window.frame_source.active
    cards = window.result_grid.visible_cards()
    assert len(cards) == 5
    assert cards[0].hit.image_path.name == demo_image(7).name
    assert window.kiosk_results_title.text() == "Five pieces like yours"
    for card in cards:  # no shortlist, no IDs/paths on the cards
        assert not card.shortlist_button.isVisible()
        assert card.more_button.height() >= 48
    qtbot.mouseClick(cards[1], Qt.LeftButton)
    assert window.current_screen == "detail"
    assert window.detail.hit == cards[1].hit
    texts = [label.text() for label in window.detail.findChildren(type(window.kiosk_results_title))]
    assert not any(str(cards[1].hit.image_path) in text for text in texts)
    for button in (window.detail.back_button, window.detail.more_button):
        assert button.height() >= 48
    qtbot.mouseClick(window.detail.back_button, Qt.LeftButton)
    assert window.current_screen == "results"


def test_touch_targets_are_at_least_48_px(qtbot, make_kiosk):
    window = make_kiosk()
    assert window.attract.start_button.height() >= 48
    window.show_capture()
    qtbot.waitUntil(lambda: window.capture_view.state == "live", timeout=5000)
    for button in (window.capture_view.capture_button, window.capture_view.cancel_button):
        assert button.height() >= 48 and button.width() >= 48
    window.show_pin_pad()
    for key in window.pin_pad.keys.values():
        assert key.height() >= 48 and key.width() >= 48


def test_lock_down_close_escape_dialogs_and_drops(qtbot, make_kiosk):
    window = make_kiosk()
    assert window.actions() == []  # no Open, Paste, Shortlist or Quit shortcuts
    assert not window.findChildren(QAction)
    assert not window.acceptDrops()
    assert not window.close()  # window close and Alt+F4 are refused
    assert window.isVisible()
    window.show_capture()
    qtbot.keyClick(window.capture_view, Qt.Key_Escape)
    qtbot.keyClick(window, Qt.Key_Escape)
    assert window.isVisible() and window.current_screen == "capture"
    for stylist_only in ("open_with_dialog", "paste", "open_index_with_dialog", "shortlist_panel"):
        assert not hasattr(window, stylist_only)  # not switched off: never there
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_image(1)))])
    from fd_guidata import send_drop

    assert not send_drop(window, mime)
    assert window.session.active is None


def test_wrong_pin_is_refused_and_the_right_pin_exits(qtbot, make_kiosk):
    window = make_kiosk()
    qtbot.keyClick(window, Qt.Key_Q, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.current_screen == "pin"
    for digit in "1111":
        qtbot.mouseClick(window.pin_pad.keys[digit], Qt.LeftButton)
    qtbot.mouseClick(window.pin_pad.keys["ok"], Qt.LeftButton)
    assert window.isVisible() and window.current_screen == "pin"
    assert "Wrong PIN" in window.pin_pad.message.text()
    qtbot.mouseClick(window.pin_pad.keys["back"], Qt.LeftButton)  # harmless when empty
    for digit in PIN:
        qtbot.keyClick(window.pin_pad, digit)
    qtbot.keyClick(window.pin_pad, Qt.Key_Return)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)


def test_pin_pad_locks_after_repeated_misses_and_cancel_returns(qtbot, make_kiosk):
    window = make_kiosk()
    window.show_capture()
    window.show_pin_pad()
    pad = window.pin_pad
    for _ in range(5):
        for digit in "0000":
            pad.press(digit)
        assert not pad.submit()
    assert pad.locked and not pad.keys["1"].isEnabled()
    for digit in PIN:  # even the right PIN is ignored during the lock-out
        pad.press(digit)
    assert not pad.submit() and window.isVisible()
    qtbot.keyClick(pad, Qt.Key_Escape)  # Escape cancels the PIN pad only
    assert window.current_screen == "capture"


def test_five_taps_in_the_corner_open_the_pin_pad(qtbot, make_kiosk):
    window = make_kiosk()
    corner = QPoint(window.width() - 10, 10)
    for _ in range(CORNER_TAPS - 1):
        qtbot.mouseClick(window.centralWidget(), Qt.LeftButton, pos=corner)
    assert window.current_screen != "pin"
    qtbot.mouseClick(window.centralWidget(), Qt.LeftButton, pos=corner)
    assert window.current_screen == "pin"


def test_idle_timeout_forgets_the_customer(qtbot, make_kiosk):
    window = make_kiosk(KioskConfig(idle_timeout_s=1.5))
    capture_and_use(qtbot, window)
    assert window.results_model.hits and window.preview.has_image
    worker = window.controller.worker
    assert worker._decoded_cache  # the captured photo, decoded
    window.show_details(window.results_model.hits[0])
    with qtbot.waitSignal(window.session_reset, timeout=5000):
        pass  # no input for the idle timeout
    assert window.current_screen == "attract"
    assert window.session.active is None
    assert window.results_model.rowCount() == 0 and window.results_model.response is None
    assert window.result_grid.visible_cards() == []
    assert not window.preview.has_image
    assert window.detail.hit is None
    assert window.capture_view.captured_image is None
    assert window.capture_view.preview.frame is None
    qtbot.waitUntil(lambda: not worker._decoded_cache, timeout=3000)


def test_touches_keep_the_session_alive(qtbot, make_kiosk):
    window = make_kiosk(KioskConfig(idle_timeout_s=1.0))
    window.show_capture()
    for _ in range(4):
        qtbot.wait(400)
        qtbot.mouseClick(window.capture_view.preview, Qt.LeftButton)
    assert window.current_screen == "capture"
    qtbot.waitUntil(lambda: window.current_screen == "attract", timeout=4000)
    assert not window.frame_source.active


def test_fixed_filters_apply_to_every_search_and_cannot_be_removed(qtbot, make_kiosk):
    fixed = Filters.of({"gender": ["Women"]})
    window = make_kiosk(KioskConfig(filters=fixed))
    capture_and_use(qtbot, window)
    hits = window.results_model.hits
    assert hits and all(hit.metadata["gender"] == "Women" for hit in hits)
    assert "Women" in window.kiosk_results_subtitle.text()
    window.presenter.set_filters(Filters())  # a stray "clear filters" cannot remove them
    assert window.session.filters == fixed
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.more_like_this(hits[0])
    assert all(hit.metadata["gender"] == "Women" for hit in window.results_model.hits)


def test_captured_photo_can_be_cropped_in_the_kiosk(qtbot, make_kiosk):
    from fashion_desktop.core.imaging import CropBox

    window = make_kiosk()
    capture_and_use(qtbot, window)
    assert window.crop_help.isVisible()
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.preview.set_crop(CropBox(0.2, 0.1, 0.8, 0.7))
    assert window.whole_photo_button.isVisible()
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        qtbot.mouseClick(window.whole_photo_button, Qt.LeftButton)
    assert window.preview.crop is None


def test_no_camera_in_the_kiosk(qtbot, make_kiosk):
    window = make_kiosk(source=ImageFrameSource(connected=False))
    qtbot.mouseClick(window.attract.start_button, Qt.LeftButton)
    view = window.capture_view
    assert view.state == "error" and "No camera" in view.preview.message
    qtbot.mouseClick(view.cancel_button, Qt.LeftButton)
    assert window.current_screen == "attract"


# ------------------------------------------------------------------------- configuration
def test_kiosk_needs_a_pin_set_first(data_dir, make_settings):
    args = cli.build_parser().parse_args(["--kiosk"])
    with pytest.raises(FashionDesktopError, match="set-pin"):
        build_kiosk_window(args, settings=make_settings(), pin_directory=data_dir)


# ----------------------------------------------------------------------------------- CLI
def test_set_pin_cli_stores_a_salted_hash_not_the_pin(data_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("135790\n135790\n"))
    assert cli.main(["kiosk", "set-pin"]) == 0
    stored = (data_dir / kiosk_pin.PIN_FILE_NAME).read_text()
    assert "135790" not in stored
    data = json.loads(stored)
    assert data["algorithm"] == "scrypt" and len(bytes.fromhex(data["salt"])) == 16
    assert kiosk_pin.verify_pin("135790", data_dir)
    assert not kiosk_pin.verify_pin("135791", data_dir)
    first_salt = data["salt"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("135790\n135790\n"))
    assert cli.main(["kiosk", "set-pin"]) == 0  # same PIN, new salt, new hash
    assert json.loads((data_dir / kiosk_pin.PIN_FILE_NAME).read_text())["salt"] != first_salt
    if sys.platform != "win32":
        assert (data_dir / kiosk_pin.PIN_FILE_NAME).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("typed", "message"), [("1234\n4321\n", "differ"), ("12ab\n", "digits")])
def test_set_pin_cli_refuses_bad_input(data_dir, monkeypatch, capsys, typed, message):
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    assert cli.main(["kiosk", "set-pin"]) == 1
    assert message in capsys.readouterr().err
    assert not (data_dir / kiosk_pin.PIN_FILE_NAME).exists()


def test_kiosk_screenshot_of_the_attract_screen(tmp_path):
    out = tmp_path / "attract.png"
    result = run_cli(["--kiosk", "--screenshot", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert not image.isNull()
    assert "Traceback" not in result.stderr


def test_kiosk_screenshot_refuses_a_screen_that_needs_a_query(tmp_path):
    result = run_cli(
        ["--kiosk", "--screenshot", str(tmp_path / "x.png"), "--kiosk-screen", "detail"],
        tmp_path,
    )
    assert result.returncode == 1 and "--query" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- layouts
def _window_rect(widget, window):
    from PySide6.QtCore import QRect

    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


@pytest.mark.parametrize("size", [(800, 600), (1080, 1920), (1366, 768), (3840, 2160)])
def test_the_results_screen_lays_out_on_any_screen(qtbot, make_kiosk, size):
    window = make_kiosk()
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=3000)
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.open_paths([demo_image(7)])
    qtbot.wait(100)  # the last relayout after the thumbnails
    bounds = window.rect()
    title, button = window.kiosk_results_title, window.new_photo_button
    title_rect, button_rect = _window_rect(title, window), _window_rect(button, window)
    assert title.text() == "Five pieces like yours"
    assert not title_rect.intersects(button_rect)
    assert bounds.contains(title_rect) and bounds.contains(button_rect)
    for label in (title, window.kiosk_results_subtitle):  # wrapped text is shown whole
        assert label.heightForWidth(label.width()) <= label.height()
    cards = window.result_grid.visible_cards()
    assert len(cards) == 5
    for card in cards:
        assert bounds.contains(_window_rect(card, window)), (card.hit.rank, size)
        assert card.more_button.height() >= 48
    photo = _window_rect(window.photo_panel, window)
    grid = _window_rect(window.result_grid, window)
    if size[1] > size[0]:  # portrait: the photo above the results
        assert photo.bottom() < grid.top()
    else:
        assert photo.right() < grid.left()
