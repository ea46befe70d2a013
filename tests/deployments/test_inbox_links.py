"""The inbox sensor refuses links that lead out of the inbox by name: never read, moved aside as links."""

from __future__ import annotations

import json
import logging
import os

from deployments.inbox import escaping_links, inbox_sensor, refuse_links

PAIRS = "".join(json.dumps({"chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n" for i in range(4))


def test_links_out_are_found_and_moved_as_links(tmp_path, caplog):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "passwd.jsonl").symlink_to("/etc/passwd")
    (inbox / "real.jsonl").write_text(PAIRS)
    (inbox / "inside.jsonl").symlink_to("real.jsonl")
    links = escaping_links(inbox)
    assert [p.name for p in links] == ["passwd.jsonl"]
    with caplog.at_level(logging.ERROR):
        reasons = refuse_links(links, inbox, logging.getLogger("test"))
    assert reasons == [f"passwd.jsonl: a link to /etc/passwd, outside the inbox {inbox}; not read"]
    moved = inbox / "failed" / "passwd.jsonl"
    assert moved.is_symlink() and os.readlink(moved) == "/etc/passwd"
    assert "outside the inbox" in caplog.text


def test_sensor_ingests_what_is_inside_and_names_the_link(prefect_harness, tmp_path):
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "passwd.jsonl").symlink_to("/etc/passwd")
    (inbox / "night.jsonl").write_text(PAIRS)
    os.utime(inbox / "night.jsonl", (1.0, 1.0))
    result = inbox_sensor(home=str(home))
    assert result["files"] == 1 and result["new_pairs"] == 4
    assert result["refused"] == [f"passwd.jsonl: a link to /etc/passwd, outside the inbox {inbox}; not read"]
    assert (inbox / "failed" / "passwd.jsonl").is_symlink()
    assert "root:x:0" not in "".join(p.read_text() for p in (home / "quarantine").glob("*.jsonl"))


def test_a_batch_whose_event_cannot_be_emitted_is_not_stored_and_its_files_wait(prefect_harness, tmp_path, monkeypatch):
    import deployments.events as events_module
    from tasks.data.store import store_ids

    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "night.jsonl").write_text(PAIRS)
    os.utime(inbox / "night.jsonl", (1.0, 1.0))

    async def refused(event):  # the server drops the event: the flow run itself still reports to the API
        raise ConnectionRefusedError("the events endpoint refused the connection")

    monkeypatch.setattr(events_module, "send_confirmed", refused)
    result = inbox_sensor(home=str(home))
    assert not result["emitted"] and "could not be emitted" in result["error"]
    assert (inbox / "night.jsonl").is_file() and not (inbox / "done").exists()  # left for the next run
    assert store_ids(home / "store").empty  # stored and announced, or neither

    monkeypatch.undo()  # the API answers again: the next run stores and announces the same files
    result = inbox_sensor(home=str(home))
    assert result["emitted"] and result["new_pairs"] == 4
    assert (inbox / "done" / "night.jsonl").is_file() and len(store_ids(home / "store")) == 4
