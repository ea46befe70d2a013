"""Shared pieces of the fault tests: a tiny BERT reward model on disk, learnable pairs, weight loading.

The model is random and 1-layer (about 0.4M parameters) with MiniLM's tokenizer, so a training step
takes milliseconds and a whole fault test stays within seconds on two CPU cores.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "train_child.py"
CHOSEN_WORDS = "sun happy bright garden music friend smile warm gentle light".split()
REJECTED_WORDS = "rain angry dark prison noise enemy frown cold harsh shadow".split()


def pair_rows(n: int = 64, seed: int = 0) -> list[dict[str, str]]:
    """n pairs whose chosen and rejected replies come from different words: learnable in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = f"\n\nHuman: question {i}?\n\nAssistant:"
        rows.append(
            {
                "chosen": f"{prompt} " + " ".join(rng.choices(CHOSEN_WORDS, k=rng.randint(3, 12))),
                "rejected": f"{prompt} " + " ".join(rng.choices(REJECTED_WORDS, k=rng.randint(3, 12))),
            }
        )
    return rows


def save_tiny_model(folder: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """A 1-layer, 32-wide BERT classifier with num_labels=1 and MiniLM's tokenizer, saved as safetensors.

    A wider `initializer_range` (0.2) makes rewards differ beyond bf16 ties, for models judged untrained.
    """
    from tests.tiny_models import save_tiny_bert

    return save_tiny_bert(folder, seed=seed, initializer_range=initializer_range)


def weights(model_dir: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(model_dir) / "model.safetensors"))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a training child: offline, one thread (same float order in every run)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def start_child(model_dir: Path, output_dir: Path, max_steps: int, **extra_env: str) -> subprocess.Popen:
    """`train_child.py` in its own process: trains the tiny model, checkpointing every 2 steps."""
    argv = [sys.executable, str(CHILD), str(model_dir), str(output_dir), str(max_steps)]
    return subprocess.Popen(
        argv, cwd=REPO_ROOT, env=child_env(**extra_env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_store(home: Path) -> str:
    """A real MLflow SQLite store under `home`, made the process-wide tracking and registry URI."""
    from tasks.tracking.store import default_tracking_uri, use_tracking

    return use_tracking(default_tracking_uri(home))


def logged_candidate(home: Path, experiment: str, model_dir: Path) -> str:
    """A finished MLflow run holding `model_dir` under artifact path `model`; returns the run id."""
    from tasks.tracking.runs import ensure_experiment, start_run
    from tasks.tracking.store import client
    from tests.tasks.mlflow_fixtures import log_model_dir

    run_id = start_run(ensure_experiment(experiment, home), run_name=model_dir.name)
    log_model_dir(run_id, model_dir, "model")
    client().set_terminated(run_id)
    return run_id


def registry_state(name: str) -> tuple[list[str], dict[str, str]]:
    """(versions, aliases) of a registered model in the current store; ([], {}) if it does not exist."""
    from tasks.registry.register import aliases
    from tasks.tracking.store import client

    versions = sorted(str(v.version) for v in client().search_model_versions(f"name='{name}'"))
    return versions, aliases(name)
