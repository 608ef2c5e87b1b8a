"""The capture view: live preview, camera selector, Capture / Retake / Use.

Used in a dialog from the stylist window (:class:`CaptureDialog`) and as the kiosk's capture
screen. It talks to a :class:`~fashion_desktop.gui.camera.FrameSource` only, so tests feed it
synthetic frames. Camera problems are shown in the preview with a way out (Cancel / Try again);
nothing here can leave the application stuck.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.gui.camera import FrameSource
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.widgets.image_view import fitted_rect

STARTING = "Starting the camera…"


class FramePreview(QWidget):
    """The live (or frozen) frame, aspect-fitted on a dark tile; or a message with an icon."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FramePreview")
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.frame: QImage | None = None
        self._message = ""
        self._icon = "camera"
        self._badge = ""

    def set_frame(self, image: QImage | None) -> None:
        self.frame = image
        self._message = ""
        self.update()

    def set_message(self, text: str, icon_name: str = "camera") -> None:
        self.frame = None
        self._message = text
        self._icon = icon_name
        self.update()

    def set_badge(self, text: str) -> None:
        self._badge = text
        self.update()

    @property
    def message(self) -> str:
        return self._message

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        bounds = QRectF(self.rect())
        clip = QPainterPath()
        clip.addRoundedRect(bounds, 16, 16)
        painter.setClipPath(clip)
        painter.fillRect(bounds, QColor("#0f172a"))
        if self.frame is not None and not self.frame.isNull():
            target = fitted_rect(self.frame.size(), bounds)
            painter.drawImage(target, self.frame)
        else:
            self._paint_message(painter, bounds)
        if self._badge:
            font = QFont(self.font())
            font.setWeight(QFont.Weight.DemiBold)
            painter.setFont(font)
            width = painter.fontMetrics().horizontalAdvance(self._badge) + 28
            height = painter.fontMetrics().height() + 14
            pill = QRectF(bounds.center().x() - width / 2, bounds.top() + 16, width, height)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(15, 23, 42, 200))
            painter.drawRoundedRect(pill, height / 2, height / 2)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, self._badge)

    def _paint_message(self, painter: QPainter, bounds: QRectF) -> None:
        side = max(40, min(96, int(bounds.height() / 6)))
        centre = bounds.center()
        glyph = icon(self._icon, "#94a3b8").pixmap(side, side)
        painter.drawPixmap(int(centre.x() - side / 2), int(centre.y() - side - 12), glyph)
        painter.setPen(QColor("#e2e8f0"))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        painter.setFont(font)
        text_rect = QRectF(bounds.left() + 40, centre.y() + 4, bounds.width() - 80, bounds.height())
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            self._message,
        )


class CaptureView(QWidget):
    """States: ``stopped`` → ``starting`` → ``live`` ⇄ ``captured``; ``error`` from any."""

    used = Signal(QImage)
    cancelled = Signal()
    state_changed = Signal(str)

    def __init__(
        self,
        source: FrameSource,
        *,
        use_text: str = "Use this photo",
        cancel_text: str = "Cancel",
        kiosk: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CaptureView")
        self.source = source
        self.kiosk = kiosk
        self.state = "stopped"
        self.captured_image: QImage | None = None
        self.last_error = ""
        self._latest: QImage | None = None

        self.preview = FramePreview()
        self.camera_label = QLabel("Camera")
        self.camera_label.setObjectName("MutedLabel")
        self.camera_combo = QComboBox()
        self.camera_combo.setObjectName("CameraSelector")
        self.camera_combo.setMinimumWidth(220)
        self.camera_combo.setAccessibleName("Camera")
        self.cancel_button = QPushButton(icon("arrow-left"), cancel_text)
        self.cancel_button.setObjectName("CancelCapture")
        self.retake_button = QPushButton(icon("reset"), "Retake")
        self.retake_button.setObjectName("RetakeButton")
        self.capture_button = QPushButton(icon("camera", "#ffffff"), "Capture")
        self.capture_button.setObjectName("PrimaryButton")
        self.capture_button.setToolTip("Take the photo (Space)")
        self.use_button = QPushButton(icon("check", "#ffffff"), use_text)
        self.use_button.setObjectName("PrimaryButton")
        for button in (
            self.cancel_button,
            self.retake_button,
            self.capture_button,
            self.use_button,
        ):
            button.setAutoDefault(False)
            button.setIconSize(icon_size(28 if kiosk else 16))
            if kiosk:
                button.setProperty("kiosk", True)
                button.setMinimumHeight(72)

        controls = QHBoxLayout()
        controls.setSpacing(12 if not kiosk else 24)
        controls.addWidget(self.cancel_button)
        controls.addSpacing(8)
        controls.addWidget(self.camera_label)
        controls.addWidget(self.camera_combo)
        controls.addStretch(1)
        controls.addWidget(self.retake_button)
        controls.addWidget(self.capture_button)
        controls.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(16 if not kiosk else 28)
        layout.addWidget(self.preview, 1)
        layout.addLayout(controls)

        self.cancel_button.clicked.connect(self.cancel)
        self.retake_button.clicked.connect(self.retake)
        self.capture_button.clicked.connect(self.capture)
        self.use_button.clicked.connect(self.use)
        self.camera_combo.activated.connect(self._on_camera_chosen)
        source.frame_ready.connect(self._on_frame)
        source.error.connect(self._on_error)
        source.devices_changed.connect(self._on_devices_changed)
        self._refresh_devices()
        self._set_state("stopped")

    # -------------------------------------------------------------------------- commands
    def start(self) -> None:
        """Open the camera and show its preview (a no-camera message if there is none)."""
        self.captured_image = None
        self._latest = None
        self.last_error = ""
        self._refresh_devices()
        self._set_state("starting")
        self.preview.set_message(STARTING)
        self.source.start()  # may report an error synchronously

    def stop(self) -> None:
        """Close the camera and forget every frame (nothing of the customer stays on screen)."""
        self.source.stop()
        self.captured_image = None
        self._latest = None
        self.preview.set_frame(None)
        self.preview.set_badge("")
        self._set_state("stopped")

    def capture(self) -> bool:
        if self.state != "live" or self._latest is None:
            return False
        self.captured_image = self._latest.copy()
        self.preview.set_frame(self.captured_image)
        self.preview.set_badge("Captured — use it, or retake")
        self._set_state("captured")
        return True

    def retake(self) -> None:
        if self.state == "error" or not self.source.active:
            self.start()
            return
        self.captured_image = None
        self.preview.set_badge("")
        self.preview.set_frame(self._latest)
        self._set_state("live" if self._latest is not None else "starting")

    def use(self) -> None:
        if self.state != "captured" or self.captured_image is None:
            return
        image = self.captured_image
        self.stop()
        self.used.emit(image)

    def cancel(self) -> None:
        self.stop()
        self.cancelled.emit()

    # ---------------------------------------------------------------------------- events
    def _on_frame(self, image: QImage) -> None:
        if self.state in ("stopped", "error"):
            return
        self._latest = image
        if self.state == "captured":
            return  # the captured photo stays on screen; retake shows the live feed again
        self.preview.set_frame(image)
        if self.state != "live":
            self._set_state("live")

    def _on_error(self, message: str) -> None:
        if self.state == "stopped":
            return
        self.last_error = message
        self.captured_image = None
        self._latest = None
        self.preview.set_badge("")
        self.preview.set_message(message, "camera-off")
        self._set_state("error")

    def _on_devices_changed(self) -> None:
        self._refresh_devices()
        # A camera plugged in while "no camera" was shown: try it at once.
        if self.state == "error" and self.source.available and not self.source.active:
            self.start()

    def _on_camera_chosen(self, position: int) -> None:
        device_id = self.camera_combo.itemData(position)
        if device_id:
            self.source.select_device(device_id)

    def _refresh_devices(self) -> None:
        devices = self.source.devices()
        selected = self.source.selected_device
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        for device in devices:
            self.camera_combo.addItem(device.description, device.id)
            if selected is not None and device.id == selected.id:
                self.camera_combo.setCurrentIndex(self.camera_combo.count() - 1)
        if not devices:
            self.camera_combo.addItem("No camera found")
        self.camera_combo.setEnabled(bool(devices))
        self.camera_combo.blockSignals(False)
        # A kiosk shows the selector only when there is a choice to make.
        show = len(devices) > 1 if self.kiosk else True
        self.camera_combo.setVisible(show)
        self.camera_label.setVisible(show)

    def _set_state(self, state: str) -> None:
        self.state = state
        live, captured, error = state == "live", state == "captured", state == "error"
        self.capture_button.setVisible(not captured)
        self.capture_button.setEnabled(live)
        self.retake_button.setVisible(captured or error)
        self.retake_button.setText("Try again" if error else "Retake")
        self.use_button.setEnabled(captured)
        self.use_button.setVisible(not error)
        self.state_changed.emit(state)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and self.state == "live":
            self.capture()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.state == "captured":
            self.use()
        else:
            super().keyPressEvent(event)


class CaptureDialog(QDialog):
    """The stylist window's "Camera" dialog: the captured photo becomes the query."""

    used = Signal(QImage)

    def __init__(self, source: FrameSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CaptureDialog")
        self.setWindowTitle("Take a photo")
        self.resize(900, 680)
        self.view = CaptureView(source, parent=self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 20)
        layout.addWidget(self.view)
        self.view.used.connect(self._on_used)
        self.view.cancelled.connect(self.reject)
        self.finished.connect(lambda _result: self.view.stop())

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.view.state == "stopped":
            self.view.start()
        self.view.setFocus()

    def _on_used(self, image: QImage) -> None:
        self.used.emit(image)
        self.accept()
