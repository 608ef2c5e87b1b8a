"""The kiosk's admin PIN: stored as a salted scrypt hash, checked in constant time.

The PIN never touches the disk in plain text. ``kiosk-pin.json`` in the user data folder holds
the scrypt parameters, a random 16-byte salt and the derived key; it is written atomically and
readable only by its owner. Qt-free, so the CLI (``fashion-desktop kiosk set-pin``), the kiosk's
PIN pad and the tests share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fashion_desktop.core.atomic import write_text_atomic
from fashion_desktop.core.errors import FashionDesktopError

PIN_FILE_NAME = "kiosk-pin.json"
PIN_FORMAT = "fashion-desktop-kiosk-pin"
MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 12
SALT_BYTES = 16
KEY_BYTES = 32
#: scrypt cost: about 50 ms and 16 MiB per check — cheap for an admin, slow for guessing.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
#: A ceiling on scrypt's memory, so a tampered file cannot ask for gigabytes.
SCRYPT_MAXMEM = 64 * 1024 * 1024


class KioskPinError(FashionDesktopError):
    """The PIN is not acceptable, or the stored PIN file cannot be used."""


@dataclass(frozen=True)
class StoredPin:
    salt: bytes
    key: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def to_json(self) -> dict:
        return {
            "format": PIN_FORMAT,
            "version": 1,
            "algorithm": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": self.salt.hex(),
            "hash": self.key.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> StoredPin:
        if not isinstance(data, dict) or data.get("format") != PIN_FORMAT:
            raise KioskPinError("The kiosk PIN file is not a Fashion Desktop PIN file.")
        if data.get("algorithm") != "scrypt":
            raise KioskPinError(
                f"The kiosk PIN file uses an unknown algorithm {data.get('algorithm')!r}."
            )
        try:
            return cls(
                salt=bytes.fromhex(data["salt"]),
                key=bytes.fromhex(data["hash"]),
                n=int(data["n"]),
                r=int(data["r"]),
                p=int(data["p"]),
            )
        except (KeyError, TypeError, ValueError):
            raise KioskPinError("The kiosk PIN file is damaged; set the PIN again.") from None


def pin_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where the PIN hash lives: ``directory`` or the user data folder."""
    if directory is None:
        from fashion_desktop.resources import user_data_dir

        directory = user_data_dir()
    return Path(directory) / PIN_FILE_NAME


def check_pin_format(pin: str) -> str:
    """A PIN is 4–12 digits (what a touch PIN pad can type)."""
    if not pin.isascii() or not pin.isdigit():
        raise KioskPinError("The PIN must contain digits only.")
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH:
        raise KioskPinError(
            f"The PIN must have {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} digits (got {len(pin)})."
        )
    return pin


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=KEY_BYTES
    )


def hash_pin(pin: str, salt: bytes | None = None) -> StoredPin:
    check_pin_format(pin)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    return StoredPin(salt, _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))


def set_pin(pin: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Store a new admin PIN (replacing any old one) and return the file written."""
    stored = hash_pin(pin)
    path = pin_path(directory)
    write_text_atomic(path, json.dumps(stored.to_json(), indent=2) + "\n")
    with contextlib.suppress(OSError):  # e.g. a file system without Unix permissions
        os.chmod(path, 0o600)
    return path


def load_pin(directory: str | os.PathLike[str] | None = None) -> StoredPin | None:
    """The stored PIN, or None when none was set."""
    path = pin_path(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise KioskPinError(f"Cannot read the kiosk PIN file {path}: {error}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise KioskPinError("The kiosk PIN file is damaged; set the PIN again.") from None
    return StoredPin.from_json(data)


def has_pin(directory: str | os.PathLike[str] | None = None) -> bool:
    try:
        return load_pin(directory) is not None
    except KioskPinError:
        return False


def verify_pin(pin: str, directory: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``pin`` is the stored admin PIN (False when none is set or the file is bad)."""
    try:
        stored = load_pin(directory)
    except KioskPinError:
        return False
    if stored is None or not pin.isascii() or len(pin) > MAX_PIN_LENGTH:
        return False
    try:
        candidate = _derive(pin, stored.salt, stored.n, stored.r, stored.p)
    except (ValueError, MemoryError):  # absurd parameters in a tampered file
        return False
    return hmac.compare_digest(candidate, stored.key)
