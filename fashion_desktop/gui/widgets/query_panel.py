"""The query side of the window: the drop zone / preview with crop, what the model sees, recents."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.heads import Predictions
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.image_view import fitted_rect

ACCENT = QColor("#4f46e5")
EMPTY_TEXT = "Drop a photo of a garment here, paste it, or open a file"
MIN_CROP_PIXELS = 12
#: How near (pixels) to a box edge a press grabs the edge rather than starting a new box.
EDGE_GRAB_PIXELS = 8
AUTO_BOX_COLOUR = QColor("#f59e0b")
#: Heads shown under the preview, in this order, with the field each one can filter.
PREDICTION_FIELDS = (
    ("articleType", "Type"),
    ("baseColour", "Colour"),
    ("gender", "Gender"),
)
IGNORED_CLASS = "other"
RECENT_THUMBNAIL_SIDE = 128


class QueryPreview(QWidget):
    """Empty: a dashed drop zone (click to open). Loaded: the query image(s), drag to crop.

    The box shown is the user's crop or, for a photo, the garment the model found (Find garment)
    (:meth:`set_found_box`, drawn in amber). Either can be adjusted: drag an edge or a corner to
    resize it, drag inside to move it, or drag elsewhere for a new box. An adjusted box becomes
    the user's crop (``crop_changed``).
    """

    crop_changed = Signal(object)  # CropBox | None
    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("QueryPreview")
        self.setMinimumSize(240, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._images: list[QPixmap] = []
        self._scaled_cache: dict[tuple[int, int, int], QPixmap] = {}
        self._crop: CropBox | None = None
        self._found: CropBox | None = None
        self._drag_start: QPointF | None = None
        self._drag_now: QPointF | None = None
        #: While adjusting a box: the box at the press and which parts move ("move" or edges).
        self._grab_rect: QRectF | None = None
        self._grab: str = ""
        self._highlight = False
        self._status = ""
        self.caption = ""

    # ---------------------------------------------------------------------------- state
    @property
    def has_image(self) -> bool:
        return bool(self._images)

    @property
    def crop(self) -> CropBox | None:
        return self._crop

    @property
    def found_box(self) -> CropBox | None:
        return self._found

    @property
    def can_crop(self) -> bool:
        return len(self._images) == 1

    def set_images(self, pixmaps: list[QPixmap], caption: str = "") -> None:
        self._images = list(pixmaps)
        self._scaled_cache.clear()
        self._crop = None
        self._found = None
        self.caption = caption
        self.setCursor(Qt.CursorShape.CrossCursor if self.can_crop else Qt.CursorShape.ArrowCursor)
        self.update()

    def clear(self) -> None:
        self.set_images([])
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_crop(self, crop: CropBox | None, *, notify: bool = True) -> None:
        if crop == self._crop:
            return
        self._crop = crop
        self.update()
        if notify:
            self.crop_changed.emit(crop)

    def set_found_box(self, box: CropBox | None) -> None:
        """Show where the model found the garment (None: nothing was localised)."""
        if box != self._found:
            self._found = box
            self.update()

    def shown_box(self) -> CropBox | None:
        """The box on screen: the user's crop, else the automatically found one."""
        return self._crop if self._crop is not None else self._found

    def set_drop_highlight(self, on: bool) -> None:
        self._highlight = on
        self.update()

    def set_status(self, text: str) -> None:
        """A small pill over the preview ("Searching…", "Waiting for the model…")."""
        self._status = text
        self.update()

    def image_rect(self) -> QRectF:
        """Where the (single) image is drawn, in widget coordinates."""
        if not self._images:
            return QRectF()
        return fitted_rect(self._images[0].size(), QRectF(self.rect()).adjusted(10, 10, -10, -10))

    # ---------------------------------------------------------------------------- input
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self._images:
            self.open_requested.emit()
            return
        if not (self.can_crop and self.image_rect().contains(event.position())):
            return
        self._drag_start = self._drag_now = event.position()
        box = self.shown_box()
        grab = self._grab_at(event.position(), self.crop_to_widget(box)) if box else ""
        self._grab_rect = self.crop_to_widget(box) if grab and box else None
        self._grab = grab

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_start is not None:
            self._drag_now = event.position()
            self.update()
            return
        box = self.shown_box() if self.can_crop else None
        grab = self._grab_at(event.position(), self.crop_to_widget(box)) if box else ""
        self.setCursor(
            _GRAB_CURSORS.get(grab, Qt.CursorShape.CrossCursor)
            if self.can_crop
            else Qt.CursorShape.ArrowCursor
        )

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_start is None:
            return
        rect = self._dragged_rect(event.position())
        moved = (event.position() - self._drag_start).manhattanLength() >= 3
        self._drag_start = self._drag_now = self._grab_rect = None
        self._grab = ""
        if not moved or rect.width() < MIN_CROP_PIXELS or rect.height() < MIN_CROP_PIXELS:
            self.update()
            return
        self.set_crop(self._to_crop_box(rect))

    def _grab_at(self, point: QPointF, rect: QRectF) -> str:
        """What a press at ``point`` takes hold of: edges ("l", "t", "r", "b" combined),
        "move" inside the box, or "" (start a new box)."""
        near = EDGE_GRAB_PIXELS
        if not rect.adjusted(-near, -near, near, near).contains(point):
            return ""
        edges = ""
        if abs(point.x() - rect.left()) <= near:
            edges += "l"
        elif abs(point.x() - rect.right()) <= near:
            edges += "r"
        if abs(point.y() - rect.top()) <= near:
            edges += "t"
        elif abs(point.y() - rect.bottom()) <= near:
            edges += "b"
        return edges or ("move" if rect.contains(point) else "")

    def _dragged_rect(self, now: QPointF) -> QRectF:
        """The box being drawn or adjusted, in widget coordinates, kept inside the image."""
        assert self._drag_start is not None
        image = self.image_rect()
        if self._grab_rect is None:
            return QRectF(self._drag_start, now).normalized().intersected(image)
        delta = now - self._drag_start
        rect = QRectF(self._grab_rect)
        if self._grab == "move":
            dx = min(max(delta.x(), image.left() - rect.left()), image.right() - rect.right())
            dy = min(max(delta.y(), image.top() - rect.top()), image.bottom() - rect.bottom())
            return rect.translated(dx, dy)
        if "l" in self._grab:
            rect.setLeft(rect.left() + delta.x())
        if "r" in self._grab:
            rect.setRight(rect.right() + delta.x())
        if "t" in self._grab:
            rect.setTop(rect.top() + delta.y())
        if "b" in self._grab:
            rect.setBottom(rect.bottom() + delta.y())
        return rect.normalized().intersected(image)

    def _to_crop_box(self, rect: QRectF) -> CropBox | None:
        image = self.image_rect()
        clipped = rect.intersected(image)
        if clipped.isEmpty():
            return None

        def fraction(value: float, origin: float, extent: float) -> float:
            return min(1.0, max(0.0, (value - origin) / extent))

        return CropBox(
            fraction(clipped.left(), image.left(), image.width()),
            fraction(clipped.top(), image.top(), image.height()),
            fraction(clipped.right(), image.left(), image.width()),
            fraction(clipped.bottom(), image.top(), image.height()),
        )

    def crop_to_widget(self, crop: CropBox) -> QRectF:
        image = self.image_rect()
        return QRectF(
            image.left() + crop.left * image.width(),
            image.top() + crop.top * image.height(),
            (crop.right - crop.left) * image.width(),
            (crop.bottom - crop.top) * image.height(),
        )

    # --------------------------------------------------------------------------- paint
    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        bounds = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        if not self._images:
            self._paint_empty(painter, bounds)
        else:
            painter.setPen(QPen(QColor("#e2e8f0"), 1))
            painter.setBrush(QColor("#ffffff"))
            painter.drawRoundedRect(bounds, 12, 12)
            if len(self._images) == 1:
                self._paint_single(painter)
            else:
                self._paint_blend(painter, bounds.adjusted(10, 10, -10, -10))
        if self._highlight:
            painter.setPen(QPen(ACCENT, 2))
            painter.setBrush(QColor(79, 70, 229, 24))
            painter.drawRoundedRect(bounds, 12, 12)
        if self._status:
            self._paint_status(painter, bounds)

    def _paint_empty(self, painter: QPainter, bounds: QRectF) -> None:
        painter.setPen(
            QPen(QColor("#a5b4fc") if not self._highlight else ACCENT, 1.6, Qt.PenStyle.DashLine)
        )
        painter.setBrush(QColor("#f8fafc") if not self._highlight else QColor("#eef2ff"))
        painter.drawRoundedRect(bounds, 12, 12)
        side = 44
        glyph = icon("drop", "#6366f1").pixmap(side, side)
        centre = bounds.center()
        painter.drawPixmap(int(centre.x() - side / 2), int(centre.y() - side - 18), glyph)
        painter.setPen(QColor("#334155"))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.08)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        text_rect = QRectF(bounds.left() + 24, centre.y() - 6, bounds.width() - 48, 60)
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            EMPTY_TEXT,
        )
        painter.setPen(QColor("#64748b"))
        painter.setFont(self.font())
        hint_rect = QRectF(bounds.left() + 24, centre.y() + 48, bounds.width() - 48, 40)
        painter.drawText(
            hint_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            "JPEG, PNG, WebP · Ctrl+V",
        )

    def _scaled(self, index: int, size: QSize) -> QPixmap:
        ratio = self.devicePixelRatioF()
        key = (index, round(size.width() * ratio), round(size.height() * ratio))
        pixmap = self._scaled_cache.get(key)
        if pixmap is None:
            pixmap = self._images[index].scaled(
                key[1],
                key[2],
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            pixmap.setDevicePixelRatio(ratio)
            self._scaled_cache = {key: pixmap} | {
                k: v for k, v in self._scaled_cache.items() if k[0] != index
            }
        return pixmap

    def _paint_single(self, painter: QPainter) -> None:
        target = self.image_rect()
        pixmap = self._scaled(0, target.size().toSize())
        painter.drawPixmap(target.topLeft(), pixmap)
        automatic = False
        crop_rect = None
        if self._drag_start is not None and self._drag_now is not None:
            crop_rect = self._dragged_rect(self._drag_now)
        elif self._crop is not None:
            crop_rect = self.crop_to_widget(self._crop)
        elif self._found is not None:
            crop_rect, automatic = self.crop_to_widget(self._found), True
        if crop_rect is None or crop_rect.isEmpty():
            return
        shade = QPainterPath()
        shade.addRect(target)
        hole = QPainterPath()
        hole.addRect(crop_rect)
        painter.fillPath(shade.subtracted(hole), QColor(15, 23, 42, 70 if automatic else 120))
        painter.setPen(QPen(QColor("#ffffff"), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(crop_rect)
        colour = AUTO_BOX_COLOUR if automatic else ACCENT
        painter.setPen(QPen(colour, 1.5 if automatic else 1, Qt.PenStyle.DashLine))
        painter.drawRect(crop_rect)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        for corner in (
            crop_rect.topLeft(),
            crop_rect.topRight(),
            crop_rect.bottomLeft(),
            crop_rect.bottomRight(),
        ):
            painter.drawRect(QRectF(corner.x() - 3, corner.y() - 3, 6, 6))
        if automatic:
            self._paint_box_label(painter, crop_rect, "Garment found", colour)

    def _paint_box_label(self, painter: QPainter, box: QRectF, text: str, colour: QColor) -> None:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 0.85)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 12
        height = painter.fontMetrics().height() + 4
        top = box.top() - height if box.top() - height >= self.image_rect().top() else box.top()
        label = QRectF(box.left(), top, width, height)
        painter.setBrush(colour)
        painter.drawRect(label)
        painter.setPen(QColor("#111827"))
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_blend(self, painter: QPainter, bounds: QRectF) -> None:
        count = len(self._images)
        columns = 2 if count <= 4 else 3
        rows = (count + columns - 1) // columns
        gap = 8
        cell_w = (bounds.width() - gap * (columns - 1)) / columns
        cell_h = (bounds.height() - gap * (rows - 1)) / rows
        for index, pixmap in enumerate(self._images):
            row, column = divmod(index, columns)
            cell = QRectF(
                bounds.left() + column * (cell_w + gap),
                bounds.top() + row * (cell_h + gap),
                cell_w,
                cell_h,
            )
            target = fitted_rect(pixmap.size(), cell)
            painter.drawPixmap(target.topLeft(), self._scaled(index, target.size().toSize()))

    def _paint_status(self, painter: QPainter, bounds: QRectF) -> None:
        font = QFont(self.font())
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(self._status) + 28
        pill = QRectF(bounds.center().x() - width / 2, bounds.bottom() - 44, width, 30)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(15, 23, 42, 200))
        painter.drawRoundedRect(pill, 15, 15)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, self._status)


_GRAB_CURSORS = {
    "move": Qt.CursorShape.SizeAllCursor,
    "l": Qt.CursorShape.SizeHorCursor,
    "r": Qt.CursorShape.SizeHorCursor,
    "t": Qt.CursorShape.SizeVerCursor,
    "b": Qt.CursorShape.SizeVerCursor,
    "lt": Qt.CursorShape.SizeFDiagCursor,
    "rb": Qt.CursorShape.SizeFDiagCursor,
    "rt": Qt.CursorShape.SizeBDiagCursor,
    "lb": Qt.CursorShape.SizeBDiagCursor,
}


class PredictionChips(QWidget):
    """'What the model sees': the top class of each head, each a one-click filter."""

    filter_requested = Signal(str, str)  # field, value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PredictionChips")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.chips: list[QPushButton] = []
        self._placeholder = QLabel("Appears after the first search.")
        self._placeholder.setObjectName("MutedLabel")
        self._layout.addWidget(self._placeholder)

    def set_predictions(self, predicted: Predictions | None) -> None:
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        if not predicted:
            self._placeholder.show()
            return
        self._placeholder.hide()
        for field, caption in PREDICTION_FIELDS:
            classes = [(c, p) for c, p in predicted.get(field, []) if c != IGNORED_CLASS]
            if not classes:
                continue
            value, probability = classes[0]
            chip = QPushButton(f"{caption}:  {value}  ·  {probability:.0%}")
            chip.setObjectName("PredictionChip")
            chip.setIcon(icon("filter", "#4f46e5"))
            chip.setIconSize(icon_size(14))
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.setToolTip(
                f"Filter the results to {caption.lower()} = {value}\n"
                + "\n".join(f"{c}: {p:.0%}" for c, p in classes[:3])
            )
            chip.setProperty("field", field)
            chip.setProperty("value", value)
            chip.clicked.connect(lambda _=False, f=field, v=value: self.filter_requested.emit(f, v))
            self._layout.addWidget(chip)
            self.chips.append(chip)


class RecentQueriesStrip(QWidget):
    """Thumbnails of the last queries made from files; one click runs one again."""

    query_requested = Signal(object)  # Path

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("RecentStrip")
        self._thumbnails = thumbnails
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._placeholder = QLabel("Your last searches will appear here.")
        self._placeholder.setObjectName("MutedLabel")
        self._layout.addWidget(self._placeholder)
        self._layout.addStretch(1)
        self.buttons: list[QToolButton] = []
        thumbnails.ready.connect(self._refresh_icons)

    def set_paths(self, paths: list[Path]) -> None:
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        shown = paths[:6]
        self._placeholder.setVisible(not shown)
        for position, path in enumerate(shown):
            button = QToolButton()
            button.setObjectName("RecentQuery")
            button.setIconSize(QSize(40, 40))
            button.setFixedSize(48, 48)
            button.setToolTip(f"Search again: {path.name}")
            button.setAccessibleName(f"Recent query {path.name}")
            button.setProperty("path", str(path))
            button.setIcon(icon("image", "#94a3b8"))
            button.clicked.connect(lambda _=False, p=path: self.query_requested.emit(p))
            self._layout.insertWidget(position, button)
            self.buttons.append(button)
        self._refresh_icons()

    def _refresh_icons(self, _path: str = "") -> None:
        for button in self.buttons:
            pixmap = self._thumbnails.request(button.property("path"), RECENT_THUMBNAIL_SIDE)
            if pixmap is not None:
                button.setIcon(pixmap)
