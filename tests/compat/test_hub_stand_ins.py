"""The hub stand-ins of hub.py have the schema TRL's generating scripts give the real datasets.

`hub_schemas.json` is what `record_hub_schemas.py` recorded by running TRL's scripts (its header says
which revision of which script); a stand-in that drifts from it, say a toolcall dataset without tool
calls, fails here rather than letting the ported tests pass on data no user has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compat.hub import build_dataset
from tests.compat.record_hub_schemas import describe

RECORDED = json.loads((Path(__file__).parent / "hub_schemas.json").read_text())
CASES = [(dataset, config) for dataset, entry in RECORDED.items() for config in entry["configs"]]


@pytest.mark.parametrize(("dataset", "config"), CASES)
def test_stand_in_schema_is_the_scripts(dataset, config):
    recorded = RECORDED[dataset]["configs"][config]
    stand_in = json.loads(json.dumps(describe(build_dataset(dataset, config)), sort_keys=True))
    assert sorted(stand_in["features"]) == sorted(recorded["features"]), "column names"
    assert stand_in["features"] == recorded["features"], "message keys, nesting and types"
    assert stand_in["first_row_message_keys"] == recorded["first_row_message_keys"]
    assert stand_in["num_rows"] == recorded["num_rows"]


def test_toolcall_stand_in_holds_tool_calls_and_results_as_the_hub_does():
    row = build_dataset("trl-internal-testing/toolcall", "preference")["train"][0]
    call, result, reply = row["chosen"]
    assert call["content"] is None and call["tool_calls"][0]["function"]["name"] == "start_timer"
    assert call["tool_calls"][0]["function"]["arguments"]["duration"] == 600
    assert call["tool_calls"][0]["function"]["arguments"]["city"] is None  # Arrow's fill for other rows' keys
    assert result == {"role": "tool", "name": "start_timer", "content": "600", "tool_calls": None}
    assert isinstance(row["tools"], str) and json.loads(row["tools"])[0]["function"]["name"] == "start_timer"
    assert reply["content"] and reply["tool_calls"] is None


def test_every_recorded_script_run_is_named():
    for entry in RECORDED.values():
        assert entry["script"].startswith("scripts/generate_") and len(entry["commit"]) == 40
