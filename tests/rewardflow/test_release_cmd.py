"""`rewardflow release`: lists held batches and releases one, so training reads it again."""

from __future__ import annotations

import json

import pandas as pd

from rewardflow import cli
from tasks.data.holds import hold_batch, read_holds
from tasks.data.store import append_to_store, pair_id, read_store


def test_release_lists_then_releases_a_held_batch(tmp_path, capsys):
    store = tmp_path / "store"
    df = pd.DataFrame({"chosen": ["long " * 50], "rejected": ["no"], "prompt": [""]})
    df["pair_id"] = [pair_id("long " * 50, "no")]
    path = append_to_store(store, df)
    hold_batch(store, "a1b2c3d4", [str(path)], ["chosen_length_psi: PSI 4.2"], ["night.jsonl"])
    assert read_store(store).empty

    assert cli.main(["release", "--home", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["held"]["a1b2c3d4"]["reasons"] == ["chosen_length_psi: PSI 4.2"]

    assert cli.main(["release", "a1b2", "--home", str(tmp_path)]) == 0
    assert "Released batch a1b2c3d4" in capsys.readouterr().out
    assert read_holds(store) == {} and len(read_store(store)) == 1


def test_release_of_an_unknown_batch_fails_naming_it(tmp_path, capsys):
    assert cli.main(["release", "nope", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rewardflow release: error: 'nope' is not a held batch")
