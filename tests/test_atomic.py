"""Atomic writes: a reader sees the old version or the new one, never half of either."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_desktop.core.atomic import (
    atomic_file,
    replace_directory,
    write_bytes_atomic,
    write_text_atomic,
)


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    write_text_atomic(target, "été\n")
    assert target.read_bytes() == "été\n".encode()
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_the_old_file(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(type(error)), atomic_file(target, "w") as handle:
        handle.write("half of the new")
        raise error
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_replace_directory_swaps_and_removes_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "index"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    staging = tmp_path / ".index.staging"
    staging.mkdir()
    (staging / "new.txt").write_text("new", encoding="utf-8")
    replace_directory(staging, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_replace_directory_into_a_new_place(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a").write_text("a", encoding="utf-8")
    replace_directory(staging, tmp_path / "out")
    assert (tmp_path / "out" / "a").read_text(encoding="utf-8") == "a"
    assert not staging.exists()
