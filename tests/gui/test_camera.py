"""Webcam capture without hardware: a fake frame source feeds the capture view and the window."""

from __future__ import annotations

import pytest
from fd_testdata import demo_image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from fashion_desktop.core.imaging import CropBox
from fashion_desktop.gui.camera import (
    CAMERA_BUSY,
    CAMERA_UNPLUGGED,
    NO_CAMERA,
    CameraFrameSource,
    ImageFrameSource,
    captured_query,
    create_frame_source,
)
from fashion_desktop.gui.capture_view import CaptureView


def fake_source(*images, **options) -> ImageFrameSource:
    paths = list(images) or [demo_image(3)]
    return ImageFrameSource(paths, **options)


@pytest.fixture
def camera_window(make_window):
    """A started window whose camera is a fake source (returned with it)."""
    window = make_window()
    sources: list[ImageFrameSource] = []

    def factory(parent):
        source = fake_source(demo_image(3), demo_image(40), parent=parent)
        sources.append(source)
        return source

    window.frame_source_factory = factory
    return window, sources


def test_capture_use_searches_with_the_frame(qtbot, camera_window):
    window, sources = camera_window
    dialog = window.open_camera()
    view = dialog.view
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    assert window.camera_button.isVisible()
    assert view.camera_combo.currentText() == ImageFrameSource.DEVICE.description
    assert not view.use_button.isEnabled()
    qtbot.mouseClick(view.capture_button, Qt.LeftButton)
    assert view.state == "captured" and view.use_button.isEnabled()
    captured = view.captured_image
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        qtbot.mouseClick(view.use_button, Qt.LeftButton)
    assert not sources[0].active  # the camera is closed once the photo is used
    assert window.session.active is not None and window.session.active.label == "Camera photo"
    assert window.session.active.sources[0].qimage == captured
    assert window.preview.has_image
    hits = window.results_model.hits
    assert len(hits) == 5
    # The frame is the demo item itself: it comes first.
    assert hits[0].image_path.name == demo_image(3).name
    assert hits[0].similarity > 0.95


def test_retake_shows_the_live_feed_again(qtbot):
    view = CaptureView(fake_source(demo_image(1), demo_image(2)))
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    assert view.capture()
    assert view.preview.frame is view.captured_image
    view.source.advance()  # the camera keeps running behind the frozen photo
    assert view.preview.frame is view.captured_image
    view.retake()
    assert view.state == "live" and view.captured_image is None
    assert view.preview.frame == view.source.current_frame
    view.stop()


def test_a_crop_of_the_captured_frame_searches_again(qtbot, camera_window):
    window, _sources = camera_window
    image = QImage(str(demo_image(5)))
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.search_camera_frame(image)
    runs = window.controller.worker.runs
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.preview.set_crop(CropBox(0.1, 0.1, 0.9, 0.6))
    assert window.controller.worker.runs == runs + 1
    assert window.session.active.crop == CropBox(0.1, 0.1, 0.9, 0.6)
    assert "(cropped)" in window.results_title.text()


def test_two_captures_are_never_confused_in_the_decoded_cache():
    first = QImage(40, 40, QImage.Format.Format_RGB32)
    first.fill(QColor("red"))
    key = captured_query(first).cache_key
    second = QImage(40, 40, QImage.Format.Format_RGB32)
    second.fill(QColor("blue"))
    assert captured_query(second).cache_key != key


def test_no_camera_gives_a_message_and_the_window_stays_usable(qtbot, make_window):
    window = make_window()
    window.frame_source_factory = lambda parent: ImageFrameSource(connected=False, parent=parent)
    dialog = window.open_camera()
    view = dialog.view
    assert view.state == "error"
    assert view.preview.message == NO_CAMERA
    assert not view.capture_button.isEnabled()
    assert view.retake_button.text() == "Try again"
    assert not view.camera_combo.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.capture_dialog is None, timeout=3000)
    with qtbot.waitSignal(window.results_presented, timeout=30_000):
        window.open_paths([demo_image(2)])


def test_unplugging_mid_preview_shows_a_message_and_replugging_recovers(qtbot):
    source = fake_source()
    view = CaptureView(source)
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    source.unplug()
    assert view.state == "error" and view.last_error == CAMERA_UNPLUGGED
    assert view.camera_combo.currentText() == "No camera found"
    assert view.preview.frame is None  # no stale frame stays on screen
    source.plug_in()  # videoInputsChanged with the camera back: the preview restarts
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    view.stop()


def test_a_busy_camera_is_reported(qtbot):
    source = fake_source()
    view = CaptureView(source)
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    source.fail(CAMERA_BUSY)
    assert view.state == "error" and CAMERA_BUSY in view.preview.message
    view.retake()  # "Try again"
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    view.stop()


def test_space_captures_and_enter_uses(qtbot):
    view = CaptureView(fake_source())
    qtbot.addWidget(view)
    view.show()
    view.start()
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    qtbot.keyClick(view, Qt.Key_Space)
    assert view.state == "captured"
    with qtbot.waitSignal(view.used, timeout=2000) as used:
        qtbot.keyClick(view, Qt.Key_Return)
    assert not used.args[0].isNull()
    assert view.state == "stopped"


def test_the_real_camera_source_reports_no_camera_cleanly(qtbot):
    """On a machine without a webcam (CI), QtMultimedia's source fails with a sentence."""
    source = CameraFrameSource()
    if source.available:
        pytest.skip("this machine has a camera")
    assert source.devices() == []
    with qtbot.waitSignal(source.error, timeout=2000) as error:
        source.start()
    assert error.args == [NO_CAMERA]
    assert not source.active


def test_the_fake_camera_env_var(monkeypatch, qtbot):
    monkeypatch.setenv("FASHION_DESKTOP_FAKE_CAMERA", str(demo_image(0)))
    source = create_frame_source()
    assert isinstance(source, ImageFrameSource) and source.available
    assert source.current_frame.width() == 1280  # staged in a webcam-sized frame
    monkeypatch.setenv("FASHION_DESKTOP_FAKE_CAMERA", "none")
    assert not create_frame_source().available


def test_preview_is_clickable_only_for_real_buttons(qtbot):
    """The preview itself does nothing on a tap (no accidental captures)."""
    view = CaptureView(fake_source())
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.state == "live", timeout=5000)
    qtbot.mouseClick(view.preview, Qt.LeftButton, pos=QPoint(10, 10))
    assert view.state == "live"
    view.stop()
