"""Record the schema of each hub dataset TRL's tests read, as TRL's own generating script builds it.

Run against a TRL checkout; writes `hub_schemas.json` beside this file, which `test_hub_stand_ins.py`
compares the stand-ins of `hub.py` with. Nothing is pushed: `push_to_hub` is caught and each config's
`DatasetDict` recorded instead (its features, split sizes and the first train row's message keys).

    python tests/compat/record_hub_schemas.py /path/to/trl

The toolcall dataset is recorded at the script revision that last pushed its `preference` config (tools
as JSON text, as TRL's `test_train_toolcall_data_as_json` reads them) and at the current script (tools as
a list, messages in datasets' `Json` type), since data in both shapes reaches users.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import datasets

HERE = Path(__file__).parent
OUT = HERE / "hub_schemas.json"
# (hub dataset, TRL script, TRL revision, the configs TRL's reward-trainer tests read)
SCRIPTS = [
    (
        "trl-internal-testing/zen",
        "scripts/generate_zen_dataset.py",
        "v1.9.0",
        [
            "standard_preference",
            "standard_implicit_prompt_preference",
            "conversational_preference",
            "conversational_implicit_prompt_preference",
        ],
    ),
    ("trl-internal-testing/toolcall", "scripts/generate_toolcall_dataset.py", "f8181886c", ["preference"]),
    ("trl-internal-testing/toolcall@json", "scripts/generate_toolcall_dataset.py", "v1.9.0", ["preference"]),
]


def message_keys(row: dict) -> dict[str, list[list[str]]]:
    """The keys of every message of each message-list column of a row, as Arrow hands them back."""
    out = {}
    for column, value in row.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
            out[column] = [sorted(message) for message in value]
    return out


def describe(data: datasets.DatasetDict) -> dict:
    train = data["train"]
    return {
        "features": train.features.to_dict(),
        "num_rows": {split: len(part) for split, part in data.items()},
        "first_row_message_keys": message_keys(train[0]),
    }


def run_script(trl: Path, script: str, revision: str) -> tuple[dict[str, datasets.DatasetDict], str]:
    """Every config the script would push, by name, and the sha256 of the script text."""
    text = subprocess.run(
        ["git", "-C", str(trl), "show", f"{revision}:{script}"], check=True, capture_output=True, text=True
    ).stdout
    pushed: dict[str, datasets.DatasetDict] = {}

    def push(self, repo_id, config_name="default", **kwargs):
        pushed[config_name] = self

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(script).name
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with mock.patch.object(datasets.DatasetDict, "push_to_hub", push):
            module.main(0.1, True, "unused")
    return pushed, hashlib.sha256(text.encode()).hexdigest()


def main(trl: Path) -> None:
    record = {}
    for dataset, script, revision, configs in SCRIPTS:
        pushed, digest = run_script(trl, script, revision)
        commit = subprocess.run(
            ["git", "-C", str(trl), "rev-parse", revision], check=True, capture_output=True, text=True
        ).stdout.strip()
        record[dataset] = {
            "script": script,
            "revision": revision,
            "commit": commit,
            "script_sha256": digest,
            "datasets_version": datasets.__version__,
            "configs": {name: describe(pushed[name]) for name in configs},
        }
    OUT.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
