"""Where webcam frames come from: a small :class:`FrameSource` interface and two sources.

* :class:`CameraFrameSource` — the real one: QCamera + QMediaCaptureSession + QVideoSink
  (QtMultimedia is imported only when a camera is first used, never when the window starts).
* :class:`ImageFrameSource` — frames from image files, for tests, benchmarks, screenshots and
  demos without hardware. ``FASHION_DESKTOP_FAKE_CAMERA=PATH`` (an image or a folder of images;
  ``none`` for "no camera") makes :func:`create_frame_source` return one.

Views only see the interface: ``start()/stop()``, ``frame_ready(QImage)``, ``error(str)``,
``devices()``/``devices_changed`` and ``available``. Every failure — no camera, permission
denied, a camera busy in another program, one unplugged mid-preview — arrives as one ``error``
with a sentence for the user, and the source stops itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter

from fashion_desktop.gui.worker import QuerySource

if TYPE_CHECKING:
    from PySide6.QtMultimedia import QCamera

FAKE_CAMERA_ENV = "FASHION_DESKTOP_FAKE_CAMERA"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
#: A camera that has not delivered a frame this long after start() is reported as unusable.
START_TIMEOUT_MS = 6000
#: At most this many frames per second are converted to QImage for the preview.
MAX_PREVIEW_FPS = 25
CAPTURED_LABEL = "Camera photo"
STAGED_FRAME_SIZE = QSize(1280, 720)

NO_CAMERA = "No camera was found. Connect a webcam, or open or drop a photo instead."
PERMISSION_DENIED = (
    "Fashion Desktop is not allowed to use the camera. Allow camera access in the system "
    "settings, then try again."
)
CAMERA_BUSY = (
    "The camera could not be started. Another program may be using it: close that program "
    "and try again."
)
CAMERA_UNPLUGGED = "The camera was disconnected. Plug it in again or choose another camera."
CAMERA_STOPPED = "The camera stopped unexpectedly. Check that it is connected, then try again."


@dataclass(frozen=True)
class CameraInfo:
    """One selectable camera."""

    id: str
    description: str


def captured_query(image: QImage, label: str = CAPTURED_LABEL) -> QuerySource:
    """The query for a captured frame (a detached copy: the camera's buffer is reused)."""
    return QuerySource(label, qimage=image.copy())


# ------------------------------------------------------------------------------ interface
class FrameSource(QObject):
    """The camera as the views see it (see the module docstring)."""

    frame_ready = Signal(QImage)
    error = Signal(str)
    devices_changed = Signal()
    active_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._selected: str | None = None

    @property
    def available(self) -> bool:
        """Whether at least one camera can be chosen."""
        return bool(self.devices())

    @property
    def active(self) -> bool:
        raise NotImplementedError

    def devices(self) -> list[CameraInfo]:
        raise NotImplementedError

    def default_device(self) -> CameraInfo | None:
        devices = self.devices()
        return devices[0] if devices else None

    @property
    def selected_device(self) -> CameraInfo | None:
        devices = self.devices()
        for device in devices:
            if device.id == self._selected:
                return device
        return self.default_device()

    def select_device(self, device_id: str) -> None:
        """Use another camera (restarts the preview if it was running)."""
        if device_id == self._selected:
            return
        self._selected = device_id
        if self.active:
            self.stop()
            self.start()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------------ real camera
def quiet_multimedia_logging() -> None:
    """QtMultimedia warns on start-up about optional libraries it did not find (PipeWire for
    screen capture, VA-API for hardware decoding); neither is needed for a webcam preview."""
    from PySide6.QtCore import QLoggingCategory

    QLoggingCategory.setFilterRules(
        "qt.multimedia.symbolsresolver.warning=false\nqt.multimedia.ffmpeg.info=false"
    )


class CameraFrameSource(FrameSource):
    """Frames from a webcam through QtMultimedia."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        quiet_multimedia_logging()
        from PySide6.QtMultimedia import QMediaCaptureSession, QMediaDevices, QVideoSink

        self._media_devices = QMediaDevices(self)
        self._media_devices.videoInputsChanged.connect(self._on_inputs_changed)
        self._session = QMediaCaptureSession(self)
        self._sink = QVideoSink(self)
        self._session.setVideoSink(self._sink)
        self._sink.videoFrameChanged.connect(self._on_frame)
        self._camera: QCamera | None = None
        self._camera_id: str | None = None
        self._wanted = False
        self._got_frame = False
        self._last_frame_at = 0.0
        self._start_timer = QTimer(self)
        self._start_timer.setSingleShot(True)
        self._start_timer.setInterval(START_TIMEOUT_MS)
        self._start_timer.timeout.connect(self._on_start_timeout)

    @staticmethod
    def _qt_devices() -> list:
        from PySide6.QtMultimedia import QMediaDevices

        return list(QMediaDevices.videoInputs())

    @staticmethod
    def _device_id(device) -> str:
        return bytes(device.id().data()).decode("utf-8", "replace")

    def devices(self) -> list[CameraInfo]:
        return [CameraInfo(self._device_id(d), d.description()) for d in self._qt_devices()]

    def default_device(self) -> CameraInfo | None:
        from PySide6.QtMultimedia import QMediaDevices

        default = QMediaDevices.defaultVideoInput()
        if not default.isNull():
            return CameraInfo(self._device_id(default), default.description())
        return super().default_device()

    @property
    def active(self) -> bool:
        return self._wanted

    def start(self) -> None:
        if self._wanted:
            return
        chosen = self.selected_device
        qt_device = next(
            (d for d in self._qt_devices() if chosen and self._device_id(d) == chosen.id), None
        )
        if qt_device is None:
            self.error.emit(NO_CAMERA)
            return
        self._wanted = True
        self._got_frame = False
        self._camera_id = chosen.id if chosen else None
        self._with_permission(lambda: self._open(qt_device))

    def _with_permission(self, then) -> None:
        """Ask for camera permission where the platform has one (macOS, Windows, Flatpak)."""
        from PySide6.QtCore import QCameraPermission, Qt
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        assert app is not None
        permission = QCameraPermission()
        status = app.checkPermission(permission)
        if status == Qt.PermissionStatus.Granted:
            then()
        elif status == Qt.PermissionStatus.Denied:
            self._fail(PERMISSION_DENIED)
        else:

            def answered(*_permission) -> None:
                if not self._wanted:
                    return
                if app.checkPermission(permission) == Qt.PermissionStatus.Granted:
                    then()
                else:
                    self._fail(PERMISSION_DENIED)

            app.requestPermission(permission, self, answered)

    def _open(self, qt_device) -> None:
        from PySide6.QtMultimedia import QCamera

        if not self._wanted:
            return
        camera = QCamera(qt_device, self)
        camera.errorOccurred.connect(self._on_camera_error)
        camera.activeChanged.connect(self._on_active_changed)
        self._camera = camera
        self._session.setCamera(camera)
        self._start_timer.start()
        camera.start()
        if self._wanted:
            self.active_changed.emit(True)

    def stop(self) -> None:
        was = self._wanted
        self._wanted = False
        self._start_timer.stop()
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.errorOccurred.disconnect(self._on_camera_error)
            camera.activeChanged.disconnect(self._on_active_changed)
            camera.stop()
            self._session.setCamera(None)  # type: ignore[arg-type]  # stubs: Qt takes nullptr (detach)
            camera.deleteLater()
        if was:
            self.active_changed.emit(False)

    def _fail(self, message: str) -> None:
        self.stop()
        self.error.emit(message)

    # ------------------------------------------------------------------------- events
    def _on_frame(self, frame) -> None:
        if not self._wanted or not frame.isValid():
            return
        now = time.monotonic()
        if self._got_frame and now - self._last_frame_at < 1 / MAX_PREVIEW_FPS:
            return
        image = frame.toImage()
        if image.isNull():
            return
        self._got_frame = True
        self._last_frame_at = now
        self._start_timer.stop()
        self.frame_ready.emit(image)

    def _on_camera_error(self, _error, text: str) -> None:
        if not self._wanted:
            return
        lowered = text.lower()
        if "permission" in lowered or "denied" in lowered:
            self._fail(PERMISSION_DENIED)
        elif not any(d.id == self._camera_id for d in self.devices()):
            self._fail(CAMERA_UNPLUGGED)
        else:
            self._fail(f"{CAMERA_BUSY} ({text})" if text else CAMERA_BUSY)

    def _on_active_changed(self, active: bool) -> None:
        if active or not self._wanted:
            return
        unplugged = not any(d.id == self._camera_id for d in self.devices())
        self._fail(CAMERA_UNPLUGGED if unplugged else CAMERA_STOPPED)

    def _on_start_timeout(self) -> None:
        if self._wanted and not self._got_frame:
            self._fail(CAMERA_BUSY)

    def _on_inputs_changed(self) -> None:
        self.devices_changed.emit()
        if self._wanted and not any(d.id == self._camera_id for d in self.devices()):
            self._fail(CAMERA_UNPLUGGED)


# ------------------------------------------------------------------------------ fake camera
class ImageFrameSource(FrameSource):
    """A "camera" that shows image files: for tests, benchmarks, screenshots and demos.

    ``images`` are cycled one per ``advance()`` (or every ``cycle_ms`` when given); the current
    frame is re-sent ``fps`` times a second like a live preview. ``unplug()``, ``plug_in()`` and
    ``fail()`` simulate hardware events.
    """

    DEVICE = CameraInfo("fake:0", "Test camera (image files)")

    def __init__(
        self,
        images: list[Path] | list[QImage] | None = None,
        *,
        connected: bool = True,
        fps: float = 12,
        cycle_ms: int = 0,
        staged: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._frames: list[QImage] = []
        self._position = 0
        self._connected = connected
        self._active = False
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / fps)))
        self._timer.timeout.connect(self.emit_frame)
        self._cycle = QTimer(self)
        self._cycle.timeout.connect(self.advance)
        self._cycle_ms = cycle_ms
        self._staged = staged
        self.set_images(images or [])

    def set_images(self, images: list[Path] | list[QImage]) -> None:
        frames = []
        for item in images:
            if isinstance(item, QImage):
                frames.append(item)
                continue
            reader = QImageReader(str(item))
            reader.setAutoTransform(True)
            image = reader.read()
            if not image.isNull():
                frames.append(stage_in_frame(image) if self._staged else image)
        self._frames = frames
        self._position = 0

    @property
    def current_frame(self) -> QImage | None:
        return self._frames[self._position] if self._frames else None

    def devices(self) -> list[CameraInfo]:
        return [self.DEVICE] if self._connected else []

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> None:
        if self._active:
            return
        if not self._connected:
            self.error.emit(NO_CAMERA)
            return
        self._active = True
        self._timer.start()
        if self._cycle_ms:
            self._cycle.start(self._cycle_ms)
        self.active_changed.emit(True)
        QTimer.singleShot(0, self.emit_frame)

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        self._timer.stop()
        self._cycle.stop()
        self.active_changed.emit(False)

    def emit_frame(self) -> None:
        frame = self.current_frame
        if self._active and frame is not None:
            self.frame_ready.emit(frame)

    def advance(self) -> None:
        """Show the next image (wrapping around)."""
        if self._frames:
            self._position = (self._position + 1) % len(self._frames)
            self.emit_frame()

    def show_image(self, image: QImage) -> None:
        """Make ``image`` the current frame at once (benchmarks feed their queries this way)."""
        self._frames = [image]
        self._position = 0
        self.emit_frame()

    # ------------------------------------------------------------------ simulated hardware
    def unplug(self) -> None:
        self._connected = False
        self.devices_changed.emit()
        if self._active:
            self.stop()
            self.error.emit(CAMERA_UNPLUGGED)

    def plug_in(self) -> None:
        self._connected = True
        self.devices_changed.emit()

    def fail(self, message: str = CAMERA_BUSY) -> None:
        """Simulate a camera error (busy, permission denied, …)."""
        self.stop()
        self.error.emit(message)


def stage_in_frame(image: QImage, size: QSize = STAGED_FRAME_SIZE) -> QImage:
    """``image`` held up in front of a webcam, roughly: centred at 70 % of the height of a
    16:9 frame on a soft grey backdrop (small catalogue photos are scaled up like a close-up)."""
    frame = QImage(size, QImage.Format.Format_RGB32)
    frame.fill(QColor("#d9dde3"))
    target = image.size().scaled(size * 0.7, Qt.AspectRatioMode.KeepAspectRatio)
    scaled = image.scaled(
        target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    painter = QPainter(frame)
    painter.drawImage(
        (size.width() - scaled.width()) // 2, (size.height() - scaled.height()) // 2, scaled
    )
    painter.end()
    return frame


def _images_in(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [path]


def create_frame_source(parent: QObject | None = None) -> FrameSource:
    """The webcam, or the image files named by ``FASHION_DESKTOP_FAKE_CAMERA``."""
    fake = os.environ.get(FAKE_CAMERA_ENV, "").strip()
    if fake:
        if fake.lower() == "none":
            return ImageFrameSource(connected=False, parent=parent)
        images = _images_in(Path(fake).expanduser())
        return ImageFrameSource(
            images, cycle_ms=4000 if len(images) > 1 else 0, staged=True, parent=parent
        )
    return CameraFrameSource(parent)
