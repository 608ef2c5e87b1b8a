"""Bad input never produces a traceback or a frozen window: a clear, non-blocking notice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fd_testdata import demo_image, demo_item_count
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from fashion_desktop.resources import demo_index_path

TIMEOUT = 15_000


def make_bad_file(kind: str, folder: Path) -> Path:
    if kind == "corrupt":
        path = folder / "broken.jpg"
        path.write_bytes(demo_image(0).read_bytes()[:200])
    elif kind == "unsupported":
        path = folder / "notes.txt"
        path.write_text("not an image\n")
    elif kind == "directory":
        path = folder / "a-folder"
        path.mkdir()
    elif kind == "huge":
        path = folder / "huge.png"
        Image.new("1", (12_000, 9_000)).save(path)  # 108 megapixels, a tiny file
    elif kind == "empty":
        path = folder / "empty.jpg"
        path.write_bytes(b"")
    else:
        path = folder / "missing.jpg"
    return path


EXPECTED = {
    "corrupt": "damaged",
    "unsupported": "not an image",
    "directory": "folder",
    "huge": "megapixels",
    "empty": "empty",
    "missing": "No such file",
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_bad_image_gives_a_notice_and_the_window_stays_usable(qtbot, make_window, tmp_path, kind):
    window = make_window()
    bad = make_bad_file(kind, tmp_path)
    with qtbot.waitSignal(window.notice_posted, timeout=TIMEOUT) as blocker:
        window.open_paths([bad])
    level, message = blocker.args
    assert level == "error"
    assert EXPECTED[kind] in message
    assert "Traceback" not in message
    assert window.notice_banner.isVisible()
    assert not window.findChildren(QMessageBox)
    assert not window.preview.has_image and window.session.active is None
    # and the next good query works
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(2)])


def test_one_bad_image_in_a_blend_is_skipped_with_a_notice(qtbot, make_window, tmp_path):
    window = make_window()
    bad = make_bad_file("corrupt", tmp_path)
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(1), bad, demo_image(2)])
    assert window.query_caption.text() == "2 images blended"
    assert any("Skipped one image" in message for _, message in window.notice_banner.history)


def test_bad_image_after_a_good_one_keeps_the_previous_results(qtbot, make_window, tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(4)])
    hits = window.results_model.hits
    with qtbot.waitSignal(window.notice_posted, timeout=TIMEOUT):
        window.open_paths([make_bad_file("unsupported", tmp_path)])
    assert window.results_model.hits == hits
    assert window.session.active is not None and window.session.active.sources[
        0
    ].path == demo_image(4)
    with qtbot.waitSignal(window.controller.results_ready, timeout=TIMEOUT):
        window.filter_bar.toggle("gender", "Men", True)  # still refines the shown query


def test_missing_index_at_start_up_opens_the_window_and_says_so(qtbot, make_window, tmp_path):
    window = make_window(index=tmp_path / "no-such-index", wait=False)
    assert window.isVisible()
    assert window.index_summary is None
    assert window.notice_banner.level == "error"
    assert "Index not found" in window.notice_banner.message
    assert "could not be opened" in window.result_grid.empty.title.text()
    assert not any(b.isEnabled() for b in window.filter_bar.field_buttons.values())
    with qtbot.waitSignal(window.notice_posted, timeout=TIMEOUT) as blocker:
        window.open_paths([demo_image(3)])
    assert "No catalogue index is open" in blocker.args[1]


def test_corrupt_index_is_reported_and_another_can_be_opened(qtbot, make_window, tmp_path):
    broken = tmp_path / "index"
    shutil.copytree(demo_index_path(), broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["catalogue"]["relative"] = str(Path("..") / ".." / demo_index_path().parent.name)
    (broken / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    window = make_window(index=broken, wait=False)
    assert "corrupted" in window.notice_banner.message or "incomplete" in (
        window.notice_banner.message
    )
    with qtbot.waitSignal(window.index_ready, timeout=TIMEOUT) as blocker:
        window.demo_index_action.trigger()
    assert blocker.args == [True]
    assert window.index_summary is not None and window.index_summary.count == demo_item_count()


def test_unknown_filter_field_from_the_command_line_is_dropped_with_a_notice(make_window):
    window = make_window(filters={"fabric": ["Silk"], "gender": ["Women"]})
    assert window.filter_bar.filters().to_dict() == {"gender": ["Women"]}
    assert any("fabric" in message for _, message in window.notice_banner.history)


def test_model_that_fails_to_load_is_reported(qtbot, make_window):
    from fashion_desktop.core.errors import ModelError

    def failing():
        raise ModelError("Model weights not found: /nowhere.h5")

    window = make_window(embedder=failing, wait=False)
    qtbot.waitUntil(lambda: window.model_status.state == "failed", timeout=TIMEOUT)
    assert "Model weights not found" in window.notice_banner.message
