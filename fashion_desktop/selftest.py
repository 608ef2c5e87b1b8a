"""``fashion-desktop --self-test``: prove an installation (source or frozen) works end to end.

The check itself (the window, offscreen, answering a query with the bundled model and demo
index) lives in :mod:`fashion_desktop.gui.self_test`; this module reports it as one JSON line
and provides the network guard the frozen smoke test switches on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

from fashion_desktop.core.errors import FashionDesktopError


def process_age_s() -> float | None:
    """Seconds since this process started (Linux ``/proc``; None elsewhere).

    Unlike a timer started in Python, this includes interpreter or frozen-bootloader start-up.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_self_test(check: Callable[[float], dict]) -> int:
    """Run ``check``; print ``{"ok": ..., ...}`` on one line; return the exit status."""
    started = time.perf_counter()
    report: dict = {"ok": False, "frozen": bool(getattr(sys, "frozen", False))}
    try:
        report.update(check(started))
        report["ok"] = True
    except FashionDesktopError as error:
        report["error"] = str(error)
    except Exception as error:  # a self-test reports every failure, it never shows a traceback
        report["error"] = f"{type(error).__name__}: {error}"
    report["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


NETWORK_FAMILIES = {"AF_INET", "AF_INET6"}


def forbid_network() -> None:
    """Make any Internet connection from Python fail loudly (``FASHION_DESKTOP_FORBID_NETWORK``).

    The smoke test uses it to prove the offline promise: local sockets (X11, D-Bus) still work.
    """
    import socket

    def refuse(*_args, **_kwargs):
        raise ConnectionRefusedError(
            "network access attempted while FASHION_DESKTOP_FORBID_NETWORK=1"
        )

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded(method):
        def wrapper(self, address):
            if self.family.name in NETWORK_FAMILIES:
                refuse()
            return method(self, address)

        return wrapper

    socket.socket.connect = guarded(original_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(original_connect_ex)  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
