"""The kiosk's staff PIN pad: large digit keys, masked entry, a lock-out after repeated misses."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.kiosk_pin import MAX_PIN_LENGTH
from fashion_desktop.gui.icons import icon, icon_size

MAX_ATTEMPTS = 5
LOCKOUT_S = 30


class PinPad(QWidget):
    """``accepted`` when ``check(pin)`` is true; ``cancelled`` from Cancel or Escape."""

    accepted = Signal()
    cancelled = Signal()

    def __init__(self, check: Callable[[str], bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PinPad")
        self._check = check
        self._entered = ""
        self.failures = 0
        self._locked_until_tick = 0
        self._lock_timer = QTimer(self)
        self._lock_timer.setInterval(1000)
        self._lock_timer.timeout.connect(self._tick)

        title = QLabel("Staff only")
        title.setObjectName("KioskTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Enter the admin PIN to leave kiosk mode.")
        hint.setObjectName("KioskSubtitle")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.display = QLabel()
        self.display.setObjectName("PinDisplay")
        self.display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.display.setAccessibleName("PIN entered")
        self.message = QLabel()
        self.message.setObjectName("PinMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)

        grid = QGridLayout()
        grid.setSpacing(14)
        self.keys: dict[str, QPushButton] = {}
        for position, digit in enumerate("123456789"):
            grid.addWidget(self._key(digit), position // 3, position % 3)
        back = QPushButton(icon("backspace"), "")
        back.setObjectName("PinKey")
        back.setIconSize(icon_size(32))
        back.setAccessibleName("Delete")
        back.clicked.connect(self.backspace)
        self.keys["back"] = back
        grid.addWidget(back, 3, 0)
        grid.addWidget(self._key("0"), 3, 1)
        ok = QPushButton("OK")
        ok.setObjectName("PinOk")
        ok.clicked.connect(self.submit)
        self.keys["ok"] = ok
        grid.addWidget(ok, 3, 2)
        for button in self.keys.values():
            button.setFixedSize(104, 68)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setAutoDefault(False)
        cancel = QPushButton(icon("arrow-left"), "Cancel")
        cancel.setObjectName("KioskSecondary")
        cancel.setIconSize(icon_size(24))
        cancel.setMinimumHeight(64)
        cancel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        cancel.clicked.connect(self.cancel)

        column = QVBoxLayout()
        column.setSpacing(18)
        column.addStretch(2)
        column.addWidget(title)
        column.addWidget(hint)
        column.addSpacing(12)
        column.addWidget(self.display)
        column.addWidget(self.message)
        column.addSpacing(8)
        column.addLayout(grid)
        column.addSpacing(12)
        column.addWidget(cancel, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(3)
        layout = QHBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(column)
        layout.addStretch(1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.reset()

    def _key(self, digit: str) -> QPushButton:
        button = QPushButton(digit)
        button.setObjectName("PinKey")
        button.clicked.connect(lambda: self.press(digit))
        self.keys[digit] = button
        return button

    # ---------------------------------------------------------------------------- input
    @property
    def locked(self) -> bool:
        return self._locked_until_tick > 0

    def reset(self) -> None:
        """Forget what was typed (the lock-out, if any, keeps counting down)."""
        self._entered = ""
        if not self.locked:
            self.message.setText("")
        self._update_display()

    def press(self, digit: str) -> None:
        if self.locked or len(self._entered) >= MAX_PIN_LENGTH:
            return
        self._entered += digit
        self.message.setText("")
        self._update_display()

    def backspace(self) -> None:
        self._entered = self._entered[:-1]
        self._update_display()

    def submit(self) -> bool:
        if self.locked or not self._entered:
            return False
        entered, self._entered = self._entered, ""
        self._update_display()
        if self._check(entered):
            self.failures = 0
            self.accepted.emit()
            return True
        self.failures += 1
        if self.failures >= MAX_ATTEMPTS:
            self.failures = 0
            self._locked_until_tick = LOCKOUT_S
            self._set_keys_enabled(False)
            self._lock_timer.start()
            self._tick(count=False)
        else:
            self.message.setText("Wrong PIN. Try again.")
        return False

    def cancel(self) -> None:
        self.reset()
        self.cancelled.emit()

    def _tick(self, *, count: bool = True) -> None:
        if count:
            self._locked_until_tick -= 1
        if self._locked_until_tick <= 0:
            self._locked_until_tick = 0
            self._lock_timer.stop()
            self._set_keys_enabled(True)
            self.message.setText("")
            return
        self.message.setText(f"Too many wrong PINs. Try again in {self._locked_until_tick} s.")

    def _set_keys_enabled(self, enabled: bool) -> None:
        for button in self.keys.values():
            button.setEnabled(enabled)

    def _update_display(self) -> None:
        self.display.setText("●  " * len(self._entered) if self._entered else "–  –  –  –")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        text = event.text()
        if text.isdigit() and text.isascii():
            self.press(text)
        elif event.key() == Qt.Key.Key_Backspace:
            self.backspace()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submit()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancel()
        else:
            super().keyPressEvent(event)
