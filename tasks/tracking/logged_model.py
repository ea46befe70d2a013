"""The trained model in MLflow: an MLflow 3 Logged Model (listed under the experiment's "Models", linked to
the run that trained it, and the source of the registered version, `models:/<model_id>`), or plainly a
run artifact.

A Logged Model is an MLflow pyfunc model (`tasks.tracking.reward_pyfunc`): `mlflow.pyfunc.load_model`,
`mlflow models serve` and batch scoring take it, and `predict(texts)` returns the rewards. Its layout:

    MLmodel, reward_pyfunc.py             the pyfunc: signature (list of strings -> rewards), model config
    input_example.json, serving_input_example.json
    requirements.txt, python_env.yaml, conda.yaml     the packages it needs (see `pip_requirements`)
    code/rmcore/                          the scoring code, as gated
    artifacts/model/                      the model folder: config.json, model.safetensors, tokenizer,
                                          chat template; `from_pretrained` loads it as it is

The weights are stored once, under `artifacts/model`. `rmcore.load_reward_model` (and so every door of
the pipeline) takes the downloaded root and finds that folder (`rmcore.models.loading.model_folder_in`). A LoRA
adapter is merged into its base first: it names its base by path or hub id, and a logged model must
load offline elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlflow.entities import LoggedModelOutput

from rmcore.models.loading import check_model_folder, is_adapter_dir
from tasks.defaults import REGISTERED_MODEL
from tasks.tracking.store import client
from tasks.training.train import RUN_FILES

MODEL_TYPE = "reward-model"
PYFUNC_CODE = Path(__file__).with_name("reward_pyfunc.py")
MODEL_ARTIFACT = "model"  # the pyfunc's artifact key, and the model folder's name under artifacts/
# What scoring imports (rmcore and its imports), pinned to the versions the model was evaluated and gated
# with: a newer tokenizer or kernel can move a reward. MLflow adds itself. Nothing of the pipeline (Prefect,
# the store, the server) is needed to score, and rmcore travels with the model, so rewardflow is not listed.
SCORING_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "peft",
    "accelerate",
    "datasets",
    "numpy",
    "pandas",
    "rich",
    "jinja2",
)
EXAMPLE_TEXTS = [
    "\n\nHuman: What is 2 + 2?\n\nAssistant: 4.",
    json.dumps([{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4."}]),
]


def pip_requirements() -> list[str]:
    """`name==version` of each scoring package installed here (local labels such as `+cpu` dropped)."""
    pins = []
    for name in SCORING_PACKAGES:
        try:
            pins.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            continue
    return pins


def is_model_file(path: Path) -> bool:
    """A file of the model itself: not a checkpoint or report folder, the pipeline's files or a hidden file."""
    name = path.name
    return path.is_file() and not name.startswith((".", "eval_")) and name not in RUN_FILES


def link_model_files(folder: Path, dest: Path) -> Path:
    """Hard-link (copy across file systems) the model's own files from `folder` into `dest`."""
    dest.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        if not is_model_file(path):
            continue
        try:
            os.link(path, dest / path.name)
        except OSError:
            shutil.copy2(path, dest / path.name)
    return dest


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
    """The checked model's files alone in a temporary folder named `model`: linked from the output folder
    (checkpoints, reports and the pipeline's files left out), or, for an adapter, merged into its base."""
    folder = Path(check_model_folder(str(model_dir), weights=True))
    with tempfile.TemporaryDirectory(prefix="rewardflow-model-") as staging:
        dest = Path(staging) / MODEL_ARTIFACT
        if is_adapter_dir(folder):
            yield merge_adapter(folder, dest, trust_remote_code)
        else:
            yield link_model_files(folder, dest)


def save_pyfunc(folder: Path, path: Path, trust_remote_code: bool, mlflow_model=None) -> Path:
    """Write the MLflow pyfunc model of a model folder to `path` (see the module doc for its layout)."""
    import mlflow

    import rmcore

    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=str(PYFUNC_CODE),
        artifacts={MODEL_ARTIFACT: str(folder)},
        code_paths=[str(Path(rmcore.__file__).parent)],
        model_config={"trust_remote_code": trust_remote_code},
        input_example=EXAMPLE_TEXTS,
        pip_requirements=pip_requirements(),
        mlflow_model=mlflow_model,
    )
    return path


def log_logged_model(
    run_id: str,
    model_dir: str,
    name: str = REGISTERED_MODEL,
    trust_remote_code: bool = False,
) -> str:
    """Store the model folder (LoRA adapters merged first) as the run's Logged Model, an MLflow pyfunc model.
    Returns `models:/<id>`."""
    from mlflow.models import Model

    with self_contained(model_dir, trust_remote_code) as folder:
        mlflow_client = client()
        experiment_id = mlflow_client.get_run(run_id).info.experiment_id
        model = mlflow_client.create_logged_model(experiment_id, name=name, source_run_id=run_id, model_type=MODEL_TYPE)
        try:
            described = Model(
                artifact_path=model.artifact_location, model_uuid=model.model_id, run_id=run_id, model_id=model.model_id
            )
            local = save_pyfunc(folder, folder.parent / "mlflow-model", trust_remote_code, described)
            mlflow_client.log_model_artifacts(model.model_id, str(local))
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
