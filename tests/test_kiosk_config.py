"""The kiosk's configuration file (Qt-free): idle timeout, fixed filters, index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashion_desktop.core.filters import Filters
from fashion_desktop.core.kiosk_config import KioskConfigError, load_kiosk_config


def test_kiosk_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FASHION_DESKTOP_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "kiosk.json"
    path.write_text(json.dumps({"idle_timeout_s": 30, "filters": {"gender": "Women"}}))
    config = load_kiosk_config(path)
    assert config.idle_timeout_s == 30 and config.filters == Filters.of({"gender": ["Women"]})
    assert load_kiosk_config(None).idle_timeout_s == 60  # no file: defaults
    for bad in ('{"idle_timeout_s": 0}', '{"filters": {"gender": []}}', '{"colour": 1}', "[1"):
        path.write_text(bad)
        with pytest.raises(KioskConfigError):
            load_kiosk_config(path)
    with pytest.raises(KioskConfigError, match="does not exist"):
        load_kiosk_config(tmp_path / "missing.json")


@pytest.mark.parametrize("filters", ['{"gender": [1]}', '{"gender": {"a": "b"}}', '["Women"]'])
def test_a_bad_filter_names_the_file(tmp_path: Path, filters: str):
    path = tmp_path / "kiosk.json"
    path.write_text(f'{{"filters": {filters}}}')
    with pytest.raises(KioskConfigError, match=r"kiosk\.json") as error:
        load_kiosk_config(path)
    assert "filter" in str(error.value)


def test_command_line_filters_add_to_the_file(tmp_path: Path):
    path = tmp_path / "kiosk.json"
    path.write_text('{"filters": {"gender": ["Women"]}}')
    config = load_kiosk_config(path).with_filters(Filters.parse(["gender=Unisex", "usage=Casual"]))
    assert config.filters.to_dict() == {"gender": ["Women", "Unisex"], "usage": ["Casual"]}
