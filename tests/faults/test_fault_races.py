"""Races: two runs finish and gate at the same moment; eight processes write runs to one SQLite store at once.

Checks: exactly one `champion` afterwards and it is the better model, whatever the order; all eight
writers finish, every run and value is stored, and no "database is locked" error escapes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import fault_helpers as fh
import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from rmcore.checks.compare import PromotionRule
from tasks.registry.gate import gate_and_promote
from tasks.registry.register import CHAMPION, register_candidate
from tasks.registry.scorers import score_model
from tasks.tracking.store import client

WRITERS = 8
WRITER = Path(__file__).with_name("mlflow_writer.py")


def correct_vector(source: str, pairs: pd.DataFrame) -> np.ndarray:
    """Per-pair outcomes (1 = chosen scored higher) of a model folder or URI."""
    return score_model(source, pairs)["correct"].to_numpy(dtype=float)


def good_and_bad(folder: Path, pairs: pd.DataFrame) -> dict[str, Path]:
    """A tiny random model and its negation (score head x -1), named by which scores the pairs better."""
    model_dir = fh.save_tiny_model(folder / "a", initializer_range=0.2)
    model = BertForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.classifier.weight.neg_()
        model.classifier.bias.neg_()
    model.save_pretrained(folder / "b")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(folder / "b")
    a, b = (correct_vector(str(folder / n), pairs).mean() for n in "ab")
    assert abs(a - b) > 0.3, f"the two models must differ clearly, got accuracies {a:.2f} and {b:.2f}"
    return {"good": folder / ("a" if a > b else "b"), "bad": folder / ("b" if a > b else "a")}


def test_two_runs_gating_together_leave_one_champion_the_better(tmp_path):
    """Inject: two threads register and gate a better and a worse model at once. Check one champion, the better."""
    pairs = pd.DataFrame(fh.pair_rows(60)).assign(prompt="")
    home, name = tmp_path, "rm-race"
    fh.sqlite_store(home)
    models = good_and_bad(tmp_path / "models", pairs)
    runs = {kind: fh.logged_candidate(home, "exp-race", folder) for kind, folder in models.items()}
    lock = home / "registry.lock"
    start, results, errors = threading.Barrier(2), {}, []

    def finish(kind: str) -> None:
        try:
            correct = correct_vector(str(models[kind]), pairs)
            start.wait(30)
            version = register_candidate(runs[kind], "model", name, {"kind": kind}, lock, idempotency_key=kind)
            scorer = lambda uri: score_model(uri, pairs)  # noqa: E731
            results[kind] = (version, gate_and_promote(name, version, correct, scorer, PromotionRule(), lock))
        except BaseException as err:  # surfaced below with the kind that failed
            errors.append((kind, err))

    threads = [threading.Thread(target=finish, args=(kind,)) for kind in ("good", "bad")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    aliases = {a: str(v) for a, v in client().get_registered_model(name).aliases.items()}
    assert aliases[CHAMPION] == results["good"][0], (aliases, results)
    versions = [str(v.version) for v in client().search_model_versions(f"name='{name}'")]
    champions = [v for v in versions if CHAMPION in client().get_model_version(name, v).aliases]
    assert sorted(versions) == sorted(v for v, _ in results.values()) and champions == [results["good"][0]]
    assert results["good"][1].promote, results["good"][1].reason


def test_eight_processes_write_runs_to_one_sqlite_store(tmp_path):
    """Inject: 8 processes create the store, an experiment and a run each at the same second. Check all stored."""
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(tmp_path), str(i), str(WRITERS)],
            cwd=fh.REPO_ROOT,
            env=fh.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(WRITERS)
    ]
    outputs = [w.communicate(timeout=180)[0] for w in writers]
    for worker, (writer, output) in enumerate(zip(writers, outputs, strict=True)):
        assert "database is locked" not in output, output
        assert writer.returncode == 0 and f"writer {worker} ok" in output, output
    fh.sqlite_store(tmp_path)
    experiment = client().get_experiment_by_name("race")
    runs = client().search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.info.run_name for r in runs) == sorted(f"writer-{i}" for i in range(WRITERS))
    for run in runs:
        worker = int(run.data.tags["worker"])
        assert run.info.status == "FINISHED" and run.data.tags["phase"] == "done"
        assert len(run.data.params) == 30 and run.data.params["p29"] == str(29 * worker)
        assert run.data.metrics["worker"] == float(worker)
        assert np.isclose(run.data.metrics["loss"], 0.2)  # the last of five steps
