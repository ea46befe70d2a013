"""The trained model as an MLflow 3 Logged Model: listed under the experiment's "Models", linked to the
run that trained it, and the source of the registered version (`models:/<model_id>`).

The folder is saved by `save_pretrained` (safetensors and tokenizer), not an MLflow flavour; the
Logged Model holds those files as they are, so any `from_pretrained` reads a downloaded copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.entities import LoggedModelOutput

from rmcore.models import check_model_folder
from tasks.tracking.runs import client, merge_adapter

MODEL_TYPE = "reward-model"


def log_logged_model(run_id: str, model_dir: str, name: str = "reward-model", tracking_uri: str | None = None) -> str:
    """Store the model folder (LoRA adapters merged first) as a Logged Model of the run. Returns `models:/<id>`."""
    folder = Path(check_model_folder(str(model_dir), weights=True))
    mlflow_client = client(tracking_uri)
    experiment_id = mlflow_client.get_run(run_id).info.experiment_id
    model = mlflow_client.create_logged_model(experiment_id, name=name, source_run_id=run_id, model_type=MODEL_TYPE)
    try:
        with tempfile.TemporaryDirectory() as staging:
            if (folder / "adapter_config.json").is_file():
                folder = merge_adapter(folder, staging)
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
