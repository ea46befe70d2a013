"""Inbox helpers: which dropped files are ready, and moving handled ones aside."""

from __future__ import annotations

import os

from deployments.inbox import move_all, ready_files


def test_only_settled_visible_complete_files_are_ready(tmp_path):
    for name in ("a.jsonl", "b.jsonl.part", ".hidden.jsonl", "c.jsonl"):
        (tmp_path / name).write_text("{}\n")
    os.utime(tmp_path / "c.jsonl", (1000.0, 1000.0))
    os.utime(tmp_path / "a.jsonl", (1000.0, 1000.0))
    (tmp_path / "sub").mkdir()
    assert [p.name for p in ready_files(tmp_path, now=1001.0, settle_seconds=2.0)] == []
    assert [p.name for p in ready_files(tmp_path, now=1010.0, settle_seconds=2.0)] == ["a.jsonl", "c.jsonl"]
    assert ready_files(tmp_path / "missing", now=0.0) == []


def test_move_all_never_overwrites(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "a.jsonl").write_text("old")
    (tmp_path / "a.jsonl").write_text("new")
    move_all([tmp_path / "a.jsonl"], done)
    assert not (tmp_path / "a.jsonl").exists()
    assert sorted(p.read_text() for p in done.iterdir()) == ["new", "old"]


def test_a_symlink_out_of_the_inbox_is_not_picked_up(tmp_path):
    """A link dropped into the inbox that points elsewhere would let the sensor read any file."""
    from deployments.inbox import ready_files

    inbox, outside = tmp_path / "inbox", tmp_path / "secret.jsonl"
    inbox.mkdir()
    outside.write_text('{"chosen": "a", "rejected": "b"}\n')
    (inbox / "link.jsonl").symlink_to(outside)
    (inbox / "real.jsonl").write_text('{"chosen": "c", "rejected": "d"}\n')
    assert [p.name for p in ready_files(inbox, now=1e12)] == ["real.jsonl"]
