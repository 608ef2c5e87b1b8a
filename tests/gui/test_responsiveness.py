"""The UI thread never blocks for more than 50 ms while queries run (after start-up).

A 10 ms timer on the UI thread records the gaps between its ticks. Other processes on a busy
2-core test machine can delay the thread without the window being at fault, so on Linux the
time the UI thread spent *runnable but waiting for a CPU* (``/proc/thread-self/schedstat``) is
subtracted: what remains is time the thread was busy or blocked because of this program (its
own work, the GIL held by a worker, a lock). That must stay under 50 ms. The UI thread's own
CPU time per gap (its work: layout, painting, handlers) is checked always. When the machine is
overloaded by other processes (load average above the CPU count), a GIL holder that is itself
descheduled also stalls the UI thread, so the blocked-time check needs a machine that is not
saturated by something else, and is reported rather than asserted otherwise.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from fd_testdata import demo_image
from PySide6.QtCore import QTimer

TIMEOUT = 15_000
MAX_GAP_MS = 50.0
TICK_MS = 10


SCHEDSTAT = Path("/proc/thread-self/schedstat")


def runqueue_wait_ms() -> float:
    """Time this thread has spent waiting for a CPU while runnable (0 where unknown)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


class Heartbeat:
    """A 10 ms timer on the UI thread; a late tick means the event loop was blocked."""

    def __init__(self) -> None:
        self.gaps_ms: list[float] = []  # wall-clock gaps
        self.blocked_ms: list[float] = []  # gaps less the time spent waiting for a CPU
        self.busy_ms: list[float] = []  # the UI thread's own CPU time per gap
        self._last = time.perf_counter()
        self._last_wait = runqueue_wait_ms()
        self._last_cpu = time.thread_time()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_wait = runqueue_wait_ms()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now, wait, cpu = time.perf_counter(), runqueue_wait_ms(), time.thread_time()
        gap = (now - self._last) * 1000
        self.gaps_ms.append(gap)
        self.blocked_ms.append(gap - (wait - self._last_wait))
        self.busy_ms.append((cpu - self._last_cpu) * 1000)
        self._last, self._last_wait, self._last_cpu = now, wait, cpu


def test_ui_thread_keeps_ticking_during_a_run_of_queries(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(100)])  # warm: first layout of the cards
    heartbeat = Heartbeat()
    heartbeat.start()
    for number in range(101, 106):
        with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
            window.open_paths([demo_image(number)])
        with qtbot.waitSignal(window.controller.results_ready, timeout=TIMEOUT):
            window.filter_bar.toggle("gender", "Men", number % 2 == 1)
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.open_paths([demo_image(110), demo_image(111), demo_image(112)])
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        window.result_grid.visible_cards()[0].more_button.click()
    with qtbot.waitSignal(window.results_presented, timeout=TIMEOUT):
        for step, number in enumerate(range(120, 140)):  # 20 drops within 100 ms
            QTimer.singleShot(5 * step, lambda n=number: window.open_paths([demo_image(n)]))
    qtbot.wait(100)
    heartbeat.stop()
    assert len(heartbeat.gaps_ms) > 50
    busy, blocked, wall = max(heartbeat.busy_ms), max(heartbeat.blocked_ms), max(heartbeat.gaps_ms)
    summary = f"busy {busy:.0f} ms, blocked {blocked:.0f} ms, wall-clock gap {wall:.0f} ms"
    assert busy <= MAX_GAP_MS, f"the UI thread worked {busy:.0f} ms without a break ({summary})"
    if os.getloadavg()[0] < (os.cpu_count() or 1):
        assert blocked <= MAX_GAP_MS, f"the UI thread was blocked ({summary})"
    elif blocked > MAX_GAP_MS:
        warnings.warn(
            f"machine overloaded by other processes; blocked-time check not applied ({summary})",
            stacklevel=1,
        )
