"""Contact sheets of a shortlist (PNG or PDF), painted with QPainter and written atomically.

Runs on a pool thread: QPainter may paint onto QImage and QPdfWriter outside the UI thread.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QImageReader,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

from fashion_desktop.core.atomic import write_bytes_atomic
from fashion_desktop.core.shortlist import ShortlistEntry, ShortlistError
from fashion_desktop.gui.widgets.image_view import fitted_rect

COLUMNS = 4
ROWS_PER_PAGE = 4
#: A4 at 150 dpi for PNG sheets.
PNG_SIZE = (1240, 1754)
PDF_DPI = 150


def export_contact_sheet(entries: list[ShortlistEntry], client: str, path: Path) -> Path:
    """Write a PNG (one tall image) or PDF (A4 pages) contact sheet; returns ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        data = _render_pdf(entries, client)
    elif suffix == ".png":
        data = _render_png(entries, client)
    else:
        raise ShortlistError(f"Contact sheets are PNG or PDF files, not '{suffix or path.name}'.")
    try:
        write_bytes_atomic(path, data)
    except OSError as error:
        raise ShortlistError(f"Cannot write {path}: {error.strerror or error}.") from None
    return path


def _pages(entries: list[ShortlistEntry], per_page: int) -> list[list[ShortlistEntry]]:
    return [entries[i : i + per_page] for i in range(0, len(entries), per_page)] or [[]]


def _render_png(entries: list[ShortlistEntry], client: str) -> bytes:
    width, page_height = PNG_SIZE
    rows = max(1, -(-len(entries) // COLUMNS))
    cell_height = (page_height - 260) / ROWS_PER_PAGE
    height = int(max(page_height, 260 + rows * cell_height + 80))
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.setDotsPerMeterX(round(PDF_DPI / 0.0254))
    image.setDotsPerMeterY(round(PDF_DPI / 0.0254))
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    try:
        _paint_sheet(painter, QRectF(0, 0, width, height), entries, client, 1, 1, cell_height)
    finally:
        painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # stubs: bytes, PySide6: str only
        raise ShortlistError("The contact sheet could not be encoded as PNG.")
    return bytes(buffer.data().data())


def _render_pdf(entries: list[ShortlistEntry], client: str) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_DPI)
    writer.setTitle(f"Shortlist for {client}")
    writer.setCreator("Fashion Desktop")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    pages = _pages(entries, COLUMNS * ROWS_PER_PAGE)
    painter = QPainter(writer)
    try:
        page_rect = QRectF(writer.pageLayout().paintRectPixels(PDF_DPI))
        cell_height = (page_rect.height() - 260) / ROWS_PER_PAGE
        for number, page in enumerate(pages, start=1):
            if number > 1:
                writer.newPage()
            _paint_sheet(painter, page_rect, page, client, number, len(pages), cell_height)
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


def _paint_sheet(
    painter: QPainter,
    page: QRectF,
    entries: list[ShortlistEntry],
    client: str,
    page_number: int,
    page_count: int,
    cell_height: float,
) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    margin = 70.0
    content = page.adjusted(margin, margin, -margin, -margin)
    title_font = QFont("DejaVu Sans")
    title_font.setPixelSize(40)
    title_font.setWeight(QFont.Weight.Bold)
    painter.setFont(title_font)
    painter.setPen(QColor("#0f172a"))
    # int(): the int overloads PySide6 picked for these float coordinates (truncated)
    painter.drawText(int(content.left()), int(content.top() + 40), f"Shortlist for {client}")
    small = QFont("DejaVu Sans")
    small.setPixelSize(18)
    painter.setFont(small)
    painter.setPen(QColor("#64748b"))
    stamp = datetime.now().strftime("%d %B %Y")
    subtitle = f"{len(entries)} item{'s' if len(entries) != 1 else ''} · {stamp} · Fashion Desktop"
    if page_count > 1:
        subtitle += f" · page {page_number} of {page_count}"
    painter.drawText(int(content.left()), int(content.top() + 76), subtitle)
    painter.setPen(QPen(QColor("#e2e8f0"), 2))
    rule_y = int(content.top() + 100)
    painter.drawLine(int(content.left()), rule_y, int(content.right()), rule_y)
    if not entries:
        painter.setPen(QColor("#64748b"))
        painter.drawText(int(content.left()), int(content.top() + 150), "This shortlist is empty.")
        return
    gap = 24.0
    cell_width = (content.width() - gap * (COLUMNS - 1)) / COLUMNS
    top = content.top() + 130
    for index, entry in enumerate(entries):
        row, column = divmod(index, COLUMNS)
        cell = QRectF(
            content.left() + column * (cell_width + gap),
            top + row * cell_height,
            cell_width,
            cell_height - gap,
        )
        _paint_entry(painter, cell, entry)


def _paint_entry(painter: QPainter, cell: QRectF, entry: ShortlistEntry) -> None:
    text_height = 86.0
    image_box = QRectF(cell.left(), cell.top(), cell.width(), cell.height() - text_height)
    painter.setPen(QPen(QColor("#e2e8f0"), 1.5))
    painter.setBrush(QColor("#ffffff"))
    painter.drawRoundedRect(image_box, 10, 10)
    reader = QImageReader(str(entry.image_path))
    reader.setAutoTransform(True)
    image = reader.read()
    inner = image_box.adjusted(10, 10, -10, -10)
    if not image.isNull():
        painter.drawImage(fitted_rect(image.size(), inner), image)
    else:
        painter.setPen(QColor("#94a3b8"))
        painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, "image missing")
    meta = entry.metadata
    name_font = QFont("DejaVu Sans")
    name_font.setPixelSize(17)
    name_font.setWeight(QFont.Weight.DemiBold)
    painter.setFont(name_font)
    painter.setPen(QColor("#0f172a"))
    metrics = QFontMetrics(name_font)
    text_top = image_box.bottom() + 12
    name = metrics.elidedText(
        entry.name or entry.item_id, Qt.TextElideMode.ElideRight, int(cell.width())
    )
    painter.drawText(
        QRectF(cell.left(), text_top, cell.width(), 24), Qt.AlignmentFlag.AlignLeft, name
    )
    detail_font = QFont("DejaVu Sans")
    detail_font.setPixelSize(15)
    painter.setFont(detail_font)
    painter.setPen(QColor("#475569"))
    kind = " · ".join(v for v in (meta.get("articleType"), meta.get("baseColour")) if v)
    painter.drawText(
        QRectF(cell.left(), text_top + 26, cell.width(), 22), Qt.AlignmentFlag.AlignLeft, kind
    )
    painter.setPen(QColor("#94a3b8"))
    painter.drawText(
        QRectF(cell.left(), text_top + 48, cell.width(), 22),
        Qt.AlignmentFlag.AlignLeft,
        f"ID {entry.item_id}",
    )
