"""The trained model folder in MLflow: an MLflow 3 Logged Model (listed under the experiment's "Models",
linked to the run that trained it, and the source of the registered version, `models:/<model_id>`), or
plainly a run artifact.

The folder is saved by `save_pretrained` (safetensors and tokenizer), not an MLflow flavour; MLflow holds
those files as they are, so any `from_pretrained` reads a downloaded copy. A LoRA adapter is merged into
its base first: it names its base by path or hub id, and a logged model must load offline elsewhere.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import LoggedModelOutput

from rmcore.models import check_model_folder, is_adapter_dir
from tasks.tracking.runs import client

MODEL_TYPE = "reward-model"


def merge_adapter(model_dir: str | Path, out_dir: str | Path, trust_remote_code: bool = False) -> Path:
    """Merge a LoRA adapter folder into its base and save plain weights + tokenizer to `out_dir`.

    `trust_remote_code` runs the base's own model code (config.json `auto_map`), as training did.
    """
    from rmcore import load_reward_model

    model, tokenizer = load_reward_model(model_dir, trust_remote_code)
    merged = model.merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


@contextmanager
def self_contained(model_dir: str | Path, trust_remote_code: bool = False) -> Iterator[Path]:
    """The checked model folder to log: as it is, or (an adapter) merged into a temporary folder."""
    folder = Path(check_model_folder(str(model_dir), weights=True))
    if not is_adapter_dir(folder):
        yield folder
        return
    with tempfile.TemporaryDirectory() as staging:
        yield merge_adapter(folder, staging, trust_remote_code)


def log_model_dir(
    run_id: str,
    model_dir: str | Path,
    artifact_path: str = "model",
    tracking_uri: str | None = None,
    trust_remote_code: bool = False,
) -> str:
    """Log a saved reward model folder as run artifacts (LoRA adapters merged first). Returns the artifact path."""
    with self_contained(model_dir, trust_remote_code) as folder:
        client(tracking_uri).log_artifacts(run_id, str(folder), artifact_path)
    return artifact_path


def log_logged_model(
    run_id: str,
    model_dir: str,
    name: str = "reward-model",
    tracking_uri: str | None = None,
    trust_remote_code: bool = False,
) -> str:
    """Store the model folder (LoRA adapters merged first) as a Logged Model of the run. Returns `models:/<id>`."""
    with self_contained(model_dir, trust_remote_code) as folder:
        mlflow_client = client(tracking_uri)
        experiment_id = mlflow_client.get_run(run_id).info.experiment_id
        model = mlflow_client.create_logged_model(experiment_id, name=name, source_run_id=run_id, model_type=MODEL_TYPE)
        try:
            mlflow_client.log_model_artifacts(model.model_id, str(folder))
        except BaseException:
            mlflow_client.finalize_logged_model(model.model_id, "FAILED")
            raise
    mlflow_client.finalize_logged_model(model.model_id, "READY")
    mlflow_client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    return f"models:/{model.model_id}"


def logged_model_id(uri: str) -> str | None:
    """`m-abc` for `models:/m-abc`; None for a registered-model URI (`models:/name/3`) or a path."""
    if not uri.startswith("models:/"):
        return None
    rest = uri.removeprefix("models:/")
    return rest if rest.startswith("m-") and "/" not in rest else None
