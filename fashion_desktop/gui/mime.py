"""Turning drops and pastes into query sources, the way a stylist actually hands over images.

Modelled on Anki's ``_processMime``: local files (``file://`` URLs) first; otherwise image data
is preferred over a remote URL (browsers send both when an image is dragged out of a page);
duplicate URLs (browsers often send the same one twice) are ignored; a remote URL alone gets a
polite "save it first" message, because Fashion Desktop never goes online.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

from fashion_desktop.gui.worker import QuerySource

#: Encoded image formats taken as-is (no re-encoding on the UI thread), preferred in this order.
IMAGE_MIME_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/tiff",
)
REMOTE_SCHEMES = {"http", "https", "ftp"}
OFFLINE_MESSAGE = (
    "Fashion Desktop works offline and cannot download {name}. Save the image first "
    "(right-click → Save image as…), then drop the saved file."
)
NOTHING_MESSAGE = "That contains no image. Drop or paste a photo (JPEG, PNG, WebP…) or a file."


@dataclass
class MimeQuery:
    """The sources found in a drop or paste, and what could not be used (human messages)."""

    sources: list[QuerySource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def may_contain_image(mime: QMimeData) -> bool:
    """Cheap check for drag-enter: is it worth accepting this drag at all?"""
    if mime.hasUrls() or mime.hasImage():
        return True
    if any(mime.hasFormat(kind) for kind in IMAGE_MIME_TYPES):
        return True
    return mime.hasText() and bool(_urls_from_text(mime.text()))


def sources_from_mime(mime: QMimeData, *, origin: str = "dropped image") -> MimeQuery:
    """Everything searchable in ``mime``: files, else image data, else an explanation."""
    result = MimeQuery()
    urls = _unique_urls(mime.urls() if mime.hasUrls() else [])
    if not urls and mime.hasText():
        urls = _unique_urls(_urls_from_text(mime.text()))
    local, remote, inline = [], [], []
    for url in urls:
        if url.isLocalFile():
            local.append(Path(url.toLocalFile()))
        elif url.scheme().lower() == "data":
            inline.append(url)
        elif url.scheme().lower() in REMOTE_SCHEMES:
            remote.append(url)
    if local:
        result.sources = [QuerySource(path.name, path=path) for path in local]
        return result
    data = _encoded_image(mime)
    if data is not None:
        result.sources = [QuerySource(origin, data=data)]
        return result
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            result.sources = [QuerySource(origin, qimage=image)]
            return result
    for url in inline:
        decoded = _data_url_bytes(url)
        if decoded is not None:
            result.sources.append(QuerySource(origin, data=decoded))
    if result.sources:
        return result
    if remote:
        name = remote[0].fileName() or remote[0].host() or "that image"
        result.problems.append(OFFLINE_MESSAGE.format(name=name))
    else:
        result.problems.append(NOTHING_MESSAGE)
    return result


def _unique_urls(urls: list[QUrl]) -> list[QUrl]:
    seen: set[str] = set()
    unique = []
    for url in urls:
        if not url.isValid() or url.isEmpty():
            continue
        key = os.path.normpath(url.toLocalFile()) if url.isLocalFile() else url.toString()
        if key not in seen:
            seen.add(key)
            unique.append(url)
    return unique


def _urls_from_text(text: str) -> list[QUrl]:
    """URLs or absolute paths in plain text (some browsers and file managers send only text)."""
    urls = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("file:", "http:", "https:", "ftp:", "data:")):
            urls.append(QUrl(line))
        elif line.startswith("/") and Path(line).suffix:
            urls.append(QUrl.fromLocalFile(line))
    return urls


def _encoded_image(mime: QMimeData) -> bytes | None:
    for kind in IMAGE_MIME_TYPES:
        if mime.hasFormat(kind):
            data = bytes(mime.data(kind).data())
            if data:
                return data
    return None


def _data_url_bytes(url: QUrl) -> bytes | None:
    """The payload of a ``data:image/...;base64,`` URL, or None."""
    text = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
    header, sep, payload = text.partition(",")
    if not sep or not header.lower().startswith("data:image/") or ";base64" not in header:
        return None
    try:
        return base64.b64decode(QUrl.fromPercentEncoding(payload.encode()), validate=False)
    except (binascii.Error, ValueError):
        return None
