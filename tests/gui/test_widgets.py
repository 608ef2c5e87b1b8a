"""Small widgets whose behaviour is easy to get subtly wrong."""

from __future__ import annotations

from fashion_desktop.gui.widgets.results import ElidedLabel


def _label(qtbot, text: str, width: int, max_lines: int) -> ElidedLabel:
    label = ElidedLabel(text, max_lines=max_lines)
    qtbot.addWidget(label)
    label.resize(width, 60)
    return label


def test_one_line_label_elides_the_tail_instead_of_dropping_words(qtbot):
    label = _label(qtbot, "Men · Summer · Casual · Extra words that cannot fit", 120, 1)
    lines = label._lines()
    assert len(lines) == 1
    assert lines[0].endswith("…")
    assert not lines[0].rstrip("…").endswith("·")  # elided inside the text, not cut at a word


def test_two_line_label_wraps_words_then_elides_the_rest(qtbot):
    text = "Puma Men Red Sports Heritage Sweatshirt With A Very Long Product Name"
    lines = _label(qtbot, text, 140, 2)._lines()
    assert len(lines) == 2
    assert text.startswith(lines[0])
    assert lines[1].endswith("…")


def test_text_that_fits_is_shown_whole(qtbot):
    assert _label(qtbot, "Men · Casual", 400, 1)._lines() == ["Men · Casual"]
    assert _label(qtbot, "", 400, 2)._lines() == []
