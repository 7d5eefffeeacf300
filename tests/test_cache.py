"""The cache root and the one atomic write every saved artifact goes through."""

from __future__ import annotations

import pytest

from optical.cache import atomic_directory, atomic_write, cache_dir


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "root"))
    assert cache_dir("a", "b") == tmp_path / "root" / "a" / "b" and (tmp_path / "root" / "a" / "b").is_dir()


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "numbers.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["numbers.json"]
    with atomic_write(target, "wb") as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new" and oct(target.stat().st_mode & 0o077) != "0o0"


def test_atomic_directory_swaps_a_whole_folder(tmp_path) -> None:
    final = tmp_path / "built"
    with atomic_directory(final) as staging:
        (staging / "one.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(final) as staging:
        (staging / "two.txt").write_text("2")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in final.iterdir()) == ["one.txt"]
    with atomic_directory(final) as staging:
        (staging / "two.txt").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["two.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["built"]
