"""Shared helpers for the tracking, evaluation and registry tests: one MLflow SQLite store per session,
tiny reward models whose accuracy on synthetic pairs is known to be high or low, and logged candidates.

A fresh SQLite store pays MLflow's migrations once (~seconds), so every test module shares the same
file under pytest's session base temp, with distinct experiment and registered model names per test.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import BertForSequenceClassification

from tasks.tracking.logged_model import self_contained
from tasks.tracking.runs import ensure_experiment, start_run
from tasks.tracking.store import client, use_tracking
from tests.tiny_models import tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Two disjoint vocabularies: a random model tells them apart consistently, so a model and its
# negation (score head times -1) have accuracies far from 0.5 and on opposite sides of it.
CHOSEN_WORDS = "sun happy bright garden music friend smile warm gentle light".split()
REJECTED_WORDS = "rain angry dark prison noise enemy frown cold harsh shadow".split()


def synthetic_pairs(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """n pairs whose chosen and rejected replies are drawn from different words."""
    rng = random.Random(seed)
    prompt = [f"Human: question {i}?\n\nAssistant: " for i in range(n)]
    chosen = [" ".join(rng.choices(CHOSEN_WORDS, k=rng.randint(3, 12))) for _ in range(n)]
    rejected = [" ".join(rng.choices(REJECTED_WORDS, k=rng.randint(3, 12))) for _ in range(n)]
    return pd.DataFrame({"prompt": prompt, "chosen": chosen, "rejected": rejected})


def tiny_reward_model(seed: int = 0) -> tuple[BertForSequenceClassification, object]:
    """A 1-layer, 16-wide BERT with num_labels=1 and MiniLM's tokenizer (about 0.5M parameters)."""
    model, tokenizer = tiny_bert(seed, hidden=16, initializer_range=1.0)  # wide: rewards differ beyond bf16
    return model.eval(), tokenizer


def negated(model: BertForSequenceClassification) -> BertForSequenceClassification:
    """The same model with every reward multiplied by -1: its wins are the original's losses."""
    flipped = copy.deepcopy(model)
    with torch.no_grad():
        flipped.classifier.weight.neg_()
        flipped.classifier.bias.neg_()
    return flipped


def save(model, tokenizer, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """'good' and 'bad' model folders: a tiny random model and its negation, the better one named good."""
    from tasks.evaluate import pair_metrics
    from tasks.registry.scorers import score_pairs

    root = tmp_path_factory.mktemp("models")
    model, tokenizer = tiny_reward_model(seed=0)
    flipped = negated(model)
    pairs = synthetic_pairs()
    accuracy = pair_metrics(score_pairs(model, tokenizer, pairs))["accuracy"]
    good, bad = (model, flipped) if accuracy > 0.5 else (flipped, model)
    return {"good": save(good, tokenizer, root / "good"), "bad": save(bad, tokenizer, root / "bad")}


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory) -> Path:
    """A pipeline home whose `mlflow/mlflow.db` is shared by every test module of the session."""
    home = tmp_path_factory.getbasetemp() / "shared-mlflow-home"
    home.mkdir(exist_ok=True)
    return home


@pytest.fixture
def tracking_uri(mlflow_home: Path) -> str:
    """Point MLflow at the shared store for this test (another test may have pointed it elsewhere)."""
    from tasks.tracking.store import default_tracking_uri

    uri = use_tracking(default_tracking_uri(mlflow_home))
    client().search_experiments(max_results=1)  # runs the migrations on first use
    return uri


def log_candidate(home: Path, experiment: str, model_dir: Path) -> str:
    """A finished MLflow run holding the model folder under `model`; returns its run id."""
    experiment_id = ensure_experiment(experiment, home)
    run_id = start_run(experiment_id, run_name=model_dir.name)
    log_model_dir(run_id, model_dir, "model")
    client().set_terminated(run_id)
    return run_id


def log_model_dir(
    run_id: str,
    model_dir: str | Path,
    artifact_path: str = "model",
    trust_remote_code: bool = False,
) -> str:
    """Log a saved reward model folder as plain run artifacts (LoRA adapters merged first), as runs logged
    models before they were MLflow pyfunc models; the registry must still fetch and score those. Returns the path."""
    with self_contained(model_dir, trust_remote_code) as folder:
        client().log_artifacts(run_id, str(folder), artifact_path)
    return artifact_path
