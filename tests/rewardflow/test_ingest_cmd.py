"""`rewardflow ingest --json`: the report with the batch's health; a batch of much longer replies is held; a batch
whose event cannot be emitted is not stored."""

from __future__ import annotations

import json
import random

from rewardflow import cli
from tasks.data.store import read_store, store_ids


def write_batch(path, start: int, n: int, stretch: int = 1):
    rng = random.Random(start)
    rows = []
    for i in range(start, start + n):
        words = rng.randint(5, 40)
        prompt = f"\n\nHuman: question {i:05d}?\n\nAssistant:"
        rows.append({"chosen": prompt + " yes" * words * stretch, "rejected": prompt + " no" * words * stretch})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def ingest_json(capsys, *argv) -> dict:
    assert cli.main(["ingest", *argv, "--registered_model_name", "none", "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1, out
    return json.loads(out)


def test_a_batch_three_times_longer_is_held_and_released(tmp_path, capsys):
    home = str(tmp_path / "home")
    first = ingest_json(capsys, write_batch(tmp_path / "a.jsonl", 0, 400), "--home", home)
    assert first["good"] == 400 and first["status"] == "ok"
    like = ingest_json(capsys, write_batch(tmp_path / "b.jsonl", 1000, 100), "--home", home)
    assert like["status"] == "ok", like["health"]["reasons"]

    long = ingest_json(capsys, write_batch(tmp_path / "c.jsonl", 2000, 100, stretch=3), "--home", home)
    assert long["status"] == "hold"
    checks = {c["name"]: c for c in long["health"]["checks"]}
    assert checks["chosen_length_psi"]["status"] == "hold" and checks["chosen_length_psi"]["value"] > 0.25
    assert any("rewardflow release" in note and "no event" in note for note in long["notes"])
    assert len(read_store(tmp_path / "home" / "store")) == 500

    assert cli.main(["release", long["batch_id"], "--home", home]) == 0
    assert len(read_store(tmp_path / "home" / "store")) == 600


def test_a_batch_whose_event_cannot_be_emitted_is_not_stored_and_the_line_says_to_rerun(tmp_path, capsys, monkeypatch):
    home, url = tmp_path / "home", "http://127.0.0.1:9/api"  # port 9: nothing listens, as when the server is down
    monkeypatch.setenv("PREFECT_API_URL", url)  # this home's server, as `rewardflow up` would name it
    argv = ["ingest", write_batch(tmp_path / "a.jsonl", 0, 50), "--home", str(home), "--registered_model_name", "none"]
    assert cli.main(argv) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"event rewardflow.data.arrived could not be emitted to {url} (" in line
    assert "so the batch was not stored" in line
    assert f"rerun `rewardflow ingest` once the Prefect server answers (`rewardflow status --home {home}`)" in line
    assert store_ids(home / "store").empty  # stored and announced, or neither
