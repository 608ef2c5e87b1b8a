"""A widget that paints one pixmap, aspect-fitted and smoothly scaled, on a white tile."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from fashion_desktop.gui.icons import icon

PLACEHOLDER_COLOUR = "#cbd5e1"


def fitted_rect(source: QSize, bounds: QRectF) -> QRectF:
    """The largest rectangle with ``source``'s aspect ratio centred in ``bounds``."""
    if source.isEmpty():
        return QRectF(bounds)
    scale = min(bounds.width() / source.width(), bounds.height() / source.height())
    width, height = source.width() * scale, source.height() * scale
    return QRectF(
        bounds.x() + (bounds.width() - width) / 2,
        bounds.y() + (bounds.height() - height) / 2,
        width,
        height,
    )


class ImageView(QWidget):
    """Shows a product image; a neutral placeholder while loading or when it is missing."""

    def __init__(self, parent: QWidget | None = None, *, aspect: float = 4 / 3) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._missing = False
        self._aspect = aspect  # height / width
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(96, 120)

    def set_pixmap(self, pixmap: QPixmap | None, *, missing: bool = False) -> None:
        self._pixmap = pixmap
        self._missing = missing
        self.update()

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return round(width * self._aspect)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(180, round(180 * self._aspect))

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bounds = QRectF(self.rect())
        painter.fillRect(bounds, QColor("#ffffff"))
        inner = bounds.adjusted(8, 8, -8, -8)
        if self._pixmap is not None and not self._pixmap.isNull():
            painter.drawPixmap(
                fitted_rect(self._pixmap.size(), inner), self._pixmap, QRectF(self._pixmap.rect())
            )
            return
        side = min(40, int(min(inner.width(), inner.height()) / 2))
        glyph = icon("image", PLACEHOLDER_COLOUR if not self._missing else "#94a3b8")
        pixmap = glyph.pixmap(side, side)
        painter.drawPixmap(
            int(inner.center().x() - side / 2), int(inner.center().y() - side / 2), pixmap
        )
