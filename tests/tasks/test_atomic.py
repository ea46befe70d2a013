"""tasks/atomic.py: text, bytes and writer callables land whole or not at all."""

from __future__ import annotations

import pytest

from tasks.atomic import write_atomic


def test_text_bytes_and_writers_replace_the_target(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "old")
    assert write_atomic(target, "néw") == target and target.read_text(encoding="utf-8") == "néw"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    folder = tmp_path / "cache"
    write_atomic(folder, lambda temp: (temp.mkdir(), (temp / "a").write_text("x")))
    assert (folder / "a").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.json"]  # no temporary left


def test_a_failing_writer_leaves_the_old_target_and_no_temporary(tmp_path):
    target = tmp_path / "store.parquet"
    target.write_text("old")

    def half_then_fail(temp):
        temp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["store.parquet"]
