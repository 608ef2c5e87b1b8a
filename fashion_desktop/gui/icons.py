"""Icons: the SVGs in ``resources/icons``, tinted on demand and rendered crisply at any DPI."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from fashion_desktop.resources import resource_path

#: The colour the SVG files are drawn in; :func:`icon` replaces it with the requested tint.
BASE_COLOUR = "#374151"
SIZES = (16, 20, 24, 32, 48, 64)


@cache
def _svg_text(name: str) -> str:
    path = resource_path("icons", f"{name}.svg")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def render_svg(name: str, side: int, colour: str = BASE_COLOUR) -> QImage:
    """The icon ``name`` as a transparent ``side`` × ``side`` image."""
    image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    text = _svg_text(name)
    if text:
        renderer = QSvgRenderer(QByteArray(text.replace(BASE_COLOUR, colour).encode()))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, side, side))
        painter.end()
    return image


@cache
def icon(name: str, colour: str = BASE_COLOUR) -> QIcon:
    """A QIcon with pre-rendered sizes (1× and 2×), so icons stay sharp on HiDPI screens."""
    result = QIcon()
    for side in SIZES:
        result.addPixmap(QPixmap.fromImage(render_svg(name, side, colour)))
    return result


def icon_size(side: int) -> QSize:
    return QSize(side, side)
