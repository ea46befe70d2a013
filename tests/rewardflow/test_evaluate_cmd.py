"""`rewardflow evaluate` on a saved folder and on a registered `models:/NAME@champion` URI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rewardflow import cli, evaluate_cmd
from rmcore.checks.compare import PromotionRule
from rmcore.models.loading import default_model_path
from tests.tiny_models import save_tiny_bert, save_tiny_remote_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    rows = [
        {"prompt": f"Human: q{i}?\n\nAssistant: ", "chosen": "sun happy warm " * (i % 4 + 1), "rejected": "rain cold"}
        for i in range(12)
    ]
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 1-layer 16-wide BERT reward model with MiniLM's tokenizer, saved with safetensors."""
    return save_tiny_bert(tmp_path_factory.mktemp("model") / "tiny", hidden=16, initializer_range=1.0)


def run_json(argv: list[str], capsys) -> dict:
    assert cli.main(["evaluate", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1, out
    return json.loads(out)


def test_json_on_the_saved_minilm_folder(pairs_file, capsys):
    result = run_json(["--model", default_model_path(), "--data", str(pairs_file), "--batch_size", "4"], capsys)
    assert result["n_pairs"] == 12 and result["truncated"] == 0
    assert 0.0 <= result["accuracy"] <= 1.0
    assert {"mean_margin", "chosen_mean", "chosen_std", "rejected_mean", "rejected_std"} <= set(result)
    slices = {row["name"]: row for row in result["slices"]}
    assert sum(slices[f"length=q{q}"]["n"] for q in range(1, 5) if f"length=q{q}" in slices) == 12
    assert {"ece", "brier"} <= set(result["calibration"]) and "spearman_reward_length" in result["length_bias"]
    assert {"mean", "std", "p50"} <= set(result["reward_stats"])


def test_max_length_counts_truncated_pairs(tiny_model_dir, pairs_file, capsys):
    result = run_json(["--model", str(tiny_model_dir), "--data", str(pairs_file), "--max_length", "8"], capsys)
    assert result["truncated"] == 12  # the prompt alone is longer than 8 tokens


def test_a_model_with_its_own_code_needs_trust_remote_code(pairs_file, tmp_path, capsys):
    folder = str(save_tiny_remote_bert(tmp_path / "remote", hidden=16))
    assert cli.main(["evaluate", "--model", folder, "--data", str(pairs_file)]) == 1
    assert "custom code" in capsys.readouterr().err

    result = run_json(["--model", folder, "--data", str(pairs_file), "--trust_remote_code"], capsys)

    assert result["n_pairs"] == 12


def test_models_uri_of_the_champion_scores_like_the_folder(tiny_model_dir, pairs_file, tmp_path, capsys):
    from tasks.registry.gate import gate_and_promote
    from tasks.registry.register import register_candidate
    from tasks.tracking.runs import ensure_experiment, start_run
    from tasks.tracking.store import default_tracking_uri, use_tracking
    from tests.tasks.mlflow_fixtures import log_model_dir

    uri = use_tracking(default_tracking_uri(tmp_path))
    run_id = start_run(ensure_experiment("cli", tmp_path))
    log_model_dir(run_id, tiny_model_dir)
    version = register_candidate(run_id, "model", "rm-cli")
    lock = tmp_path / "registry.lock"
    assert gate_and_promote(
        "rm-cli", version, [1.0, 0.0], lambda _: None, PromotionRule(first_champion_floor=None), lock
    ).promote

    from_dir = run_json(["--model", str(tiny_model_dir), "--data", str(pairs_file)], capsys)
    from_uri = run_json(
        ["--model", "models:/rm-cli@champion", "--data", str(pairs_file), "--tracking_uri", uri], capsys
    )
    assert from_uri.pop("model") == "models:/rm-cli@champion"
    from_dir.pop("model")
    assert from_uri == from_dir

    assert (
        cli.main(["evaluate", "--model", "models:/rm-cli@nobody", "--data", str(pairs_file), "--tracking_uri", uri])
        == 1
    )
    assert "models:/rm-cli@nobody" in capsys.readouterr().err


def test_models_uri_resolves_in_the_home_store_and_writes_nothing_outside_it(tiny_model_dir, pairs_file, tmp_path):
    """`--model models:/NAME@champion --home DIR`, run from another folder: the home's SQLite store answers,
    and no `mlflow.db` (MLflow's default store) appears in the working folder."""
    from tasks.registry.gate import gate_and_promote
    from tasks.registry.register import register_candidate
    from tasks.tracking.runs import ensure_experiment, start_run
    from tasks.tracking.store import default_tracking_uri, use_tracking
    from tests.tasks.mlflow_fixtures import log_model_dir

    home, cwd = tmp_path / "home", tmp_path / "elsewhere"
    cwd.mkdir()
    use_tracking(default_tracking_uri(home))
    run_id = start_run(ensure_experiment("cli-home", home))
    log_model_dir(run_id, tiny_model_dir)
    version = register_candidate(run_id, "model", "rm-home")
    assert gate_and_promote(
        "rm-home", version, [1.0], lambda _: None, PromotionRule(first_champion_floor=None), home / "registry.lock"
    ).promote
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = str(ROOT)
    argv = ["evaluate", "--model", "models:/rm-home@champion", "--data", str(pairs_file), "--home", str(home), "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["n_pairs"] == 12
    assert list(cwd.iterdir()) == [], "nothing is written outside the home"


def test_table_output_without_json(tiny_model_dir, pairs_file, capsys):
    assert evaluate_cmd.main(["--model", str(tiny_model_dir), "--data", str(pairs_file)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "n_pairs" in out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"chosen": "a", "answer": "b"}\n', ":1: required_fields: `rejected` is missing or null"),
        ("this is not json\n", ":1: json_parse"),
        ('{"chosen": "a", "rejected": "a"}\n', ":1: chosen_ne_rejected"),
    ],
)
def test_bad_data_fails_naming_the_file(tiny_model_dir, tmp_path, capsys, content, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert evaluate_cmd.main(["--model", str(tiny_model_dir), "--data", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and words in err


def test_missing_files_and_bad_flags_fail(tiny_model_dir, pairs_file, tmp_path, capsys):
    assert evaluate_cmd.main(["--model", str(tiny_model_dir), "--data", str(tmp_path / "none.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert evaluate_cmd.main(["--model", str(tmp_path / "nomodel"), "--data", str(pairs_file)]) == 1
    assert "no such model folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cmd.main(["--model", "x", "--data", "y", "--batch_size", "0"])
    assert exit_info.value.code == 2


def test_console_command_prints_exactly_one_json_object(tiny_model_dir, pairs_file, tmp_path):
    parquet = tmp_path / "pairs.parquet"
    pd.read_json(pairs_file, lines=True).to_parquet(parquet)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rewardflow.cli",
            "evaluate",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(parquet),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["n_pairs"] == 12
