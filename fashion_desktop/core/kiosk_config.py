"""A store's kiosk settings: idle timeout and fixed filters, from a small JSON file.

``kiosk.json`` in the user data folder (or ``--kiosk-config PATH``)::

    {
      "idle_timeout_s": 60,
      "filters": {"masterCategory": ["Apparel"], "gender": ["Women", "Unisex"]},
      "index": "/srv/fashion/store-index"
    }

Every key is optional. Fixed filters apply to every kiosk search and customers cannot remove
them. Pure Python (no Qt), so it is tested and validated like the core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import FilterError, Filters

CONFIG_FILE_NAME = "kiosk.json"
DEFAULT_IDLE_TIMEOUT_S = 60.0
MIN_IDLE_TIMEOUT_S = 1.0
KNOWN_KEYS = {"idle_timeout_s", "filters", "index"}


class KioskConfigError(FashionDesktopError):
    """The kiosk configuration file cannot be used."""


@dataclass(frozen=True)
class KioskConfig:
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    filters: Filters = field(default_factory=Filters)
    index: Path | None = None
    #: The file this came from (None: defaults, no file).
    source: Path | None = None

    @classmethod
    def from_json(cls, data: object, source: Path | None = None) -> KioskConfig:
        where = str(source) if source else "The kiosk configuration"
        if not isinstance(data, dict):
            raise KioskConfigError(f"{where} must hold a JSON object.")
        unknown = sorted(set(data) - KNOWN_KEYS)
        if unknown:
            raise KioskConfigError(
                f"{where} has unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(KNOWN_KEYS))}."
            )
        timeout = data.get("idle_timeout_s", DEFAULT_IDLE_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise KioskConfigError(f"{where}: idle_timeout_s must be a number of seconds.")
        if timeout < MIN_IDLE_TIMEOUT_S:
            raise KioskConfigError(
                f"{where}: idle_timeout_s must be at least {MIN_IDLE_TIMEOUT_S:g} s."
            )
        filters = _parse_filters(data.get("filters", {}), where)
        index = data.get("index")
        if index is not None and not isinstance(index, str):
            raise KioskConfigError(f"{where}: index must be a folder path.")
        index_path = None
        if index:
            index_path = Path(index).expanduser()
            if not index_path.is_absolute() and source is not None:
                index_path = source.parent / index_path
        return cls(float(timeout), filters, index_path, source)

    def with_filters(self, extra: Filters) -> KioskConfig:
        """These settings with ``extra`` fixed filters (``--filter``) on top of the file's."""
        return replace(self, filters=self.filters.merged(extra))


def _parse_filters(raw: object, where: str) -> Filters:
    if not isinstance(raw, dict):
        raise KioskConfigError(f'{where}: filters must look like {{"gender": ["Women"]}}.')
    if any(not given for given in raw.values()):  # an empty list would silently filter nothing
        raise KioskConfigError(f"{where}: every filter needs a value or a list of values.")
    try:
        return Filters.of(raw)
    except FilterError as error:
        raise KioskConfigError(f"{where}: {error}") from None


def default_config_path() -> Path:
    from fashion_desktop.resources import user_data_dir

    return user_data_dir() / CONFIG_FILE_NAME


def load_kiosk_config(path: Path | None = None) -> KioskConfig:
    """``path`` (which must exist), else ``kiosk.json`` in the user data folder, else defaults."""
    explicit = path is not None
    path = Path(path).expanduser() if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise KioskConfigError(f"The kiosk configuration {path} does not exist.") from None
        return KioskConfig()
    except OSError as error:
        raise KioskConfigError(f"Cannot read the kiosk configuration {path}: {error}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise KioskConfigError(
            f"{path} is not valid JSON (line {error.lineno}: {error.msg})."
        ) from None
    return KioskConfig.from_json(data, path)
