"""Fetch and load a reward model: a folder, or any MLflow URI resolved in one given store.

Every door that needs a registered or logged model comes here: evaluation, the ingest health check, the
champion gate and the reward server; scoring pairs with the loaded model is `tasks.registry.scorers`.
MLflow resolves `models:/NAME/VERSION` through the *process-wide* registry, and a version made from a
Logged Model has the source `models:/m-...`, which it resolves there again; outside a flow that is
`./mlflow.db` in the working folder. So every URI kind is resolved here with a client on the given store,
down to the concrete artifact location, and only that is downloaded.

A fetched folder is checked before it is loaded: a champion whose artifacts are gone fails naming the
model, the version, what is missing and the command that fixes it, not a transformers error about a
temporary folder.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore import load_reward_model
from rmcore.models.loading import TOKENIZER_FILES, WEIGHT_FILES, model_folder_in
from tasks.tracking.logged_model import logged_model_id
from tasks.tracking.store import client

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


class ModelUnavailableError(FileNotFoundError):
    """A model that cannot be fetched or loaded; the message names it, what is missing and what to do."""


@dataclass(frozen=True)
class ModelLocation:
    """Where the files of a model URI are: the concrete artifact URI, and the registered version if any."""

    uri: str
    artifacts: str
    name: str | None = None
    version: str | None = None
    tracking_uri: str = ""

    def describe(self) -> str:
        if self.name is None:
            return self.uri
        return f"{self.name!r} version {self.version} ({self.uri})"

    def fix(self) -> str:
        """The command that gets the loop going again: move `champion` off this version."""
        if self.name is None:
            return "log the model again, or give another URI"
        where = registry_flags(self.tracking_uri)
        return (
            f"run `rewardflow rollback {where} --reason '...'` to move `champion` back to the previous version, "
            f"or `rewardflow promote VERSION {where} --reason '...'` (list them: `rewardflow models {where}`)"
        )


def registry_flags(tracking_uri: str) -> str:
    """`--home H` for a home's own SQLite store, else `--tracking_uri URI`: how the registry commands find it."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        if db.name == "mlflow.db" and db.parent.name == "mlflow":
            return f"--home {db.parent.parent}"
    return f"--tracking_uri {tracking_uri}"


def is_mlflow_uri(uri_or_dir: str | Path) -> bool:
    return str(uri_or_dir).startswith(MLFLOW_SCHEMES)


def run_artifacts(mlflow_client: Any, runs_uri: str) -> str:
    """`runs:/RUN_ID/path` as the run's concrete artifact URI plus the path."""
    run_id, _, path = runs_uri.removeprefix("runs:/").partition("/")
    root = mlflow_client.get_run(run_id).info.artifact_uri.rstrip("/")
    return f"{root}/{path.strip('/')}" if path.strip("/") else root


def version_artifacts(mlflow_client: Any, model_version: Any) -> str:
    """The concrete artifact URI of a registered version: its Logged Model's location, or its source."""
    source = str(model_version.source or "")
    model_id = getattr(model_version, "model_id", None) or logged_model_id(source)
    if model_id:
        return mlflow_client.get_logged_model(model_id).artifact_location
    if source.startswith("runs:/"):
        return run_artifacts(mlflow_client, source)
    return source


def registered_version(mlflow_client: Any, rest: str) -> Any:
    """The ModelVersion of `NAME@ALIAS` or `NAME/VERSION` (the part after `models:/`)."""
    head, _, _ = rest.partition("/")
    if "@" in head:
        name, alias = head.split("@", 1)
        return mlflow_client.get_model_version_by_alias(name, alias)
    name, _, version = rest.partition("/")
    if not name or not version.strip("/"):
        raise ValueError(f"models:/{rest}: give models:/NAME@ALIAS, models:/NAME/VERSION or models:/m-<id>")
    return mlflow_client.get_model_version(name, version.strip("/"))


def resolve_location(uri: str) -> ModelLocation:
    """Resolve `models:/NAME@ALIAS`, `models:/NAME/VERSION`, `models:/m-<id>` or `runs:/...` in the
    process-wide store (the one the entry point opened with `use_tracking`).

    Raises:
        ModelUnavailableError: the store has no such model, version, alias, Logged Model or run.
    """
    store = mlflow.get_tracking_uri()
    mlflow_client = client()
    try:
        if uri.startswith("runs:/"):
            return ModelLocation(uri, run_artifacts(mlflow_client, uri), tracking_uri=store)
        if not uri.startswith("models:/"):
            return ModelLocation(uri, uri, tracking_uri=store)
        model_id = logged_model_id(uri)
        if model_id is not None:
            return ModelLocation(uri, mlflow_client.get_logged_model(model_id).artifact_location, tracking_uri=store)
        model_version = registered_version(mlflow_client, uri.removeprefix("models:/"))
        artifacts = version_artifacts(mlflow_client, model_version)
        return ModelLocation(uri, artifacts, model_version.name, str(model_version.version), store)
    except MlflowException as err:  # an unknown alias is INVALID_PARAMETER_VALUE, the rest RESOURCE_DOES_NOT_EXIST
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise ModelUnavailableError(f"{uri}: not found in the MLflow store {store} ({err.message})") from err


def missing_model_files(folder: Path) -> list[str]:
    """What a saved reward model folder lacks: its config, safetensors weights, a tokenizer ([] = complete)."""
    if not folder.is_dir():
        return ["the whole folder"]
    missing = []
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES[:2]))
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json, vocab.txt, ...)")
    return missing


def model_folder_or_root(root: Path) -> Path:
    """The model folder inside a downloaded artifact (an MLflow model keeps it in `artifacts/model`), else the root."""
    try:
        return model_folder_in(root)
    except FileNotFoundError:
        return root


def fetch_model(uri: str, dst_dir: str | Path) -> Path:
    """Download a logged or registered model folder into `dst_dir`, resolved in the process-wide store, and check it.

    Raises:
        ModelUnavailableError: the model is not in the store, its artifacts cannot be read, or they are
            incomplete; the message names the model and version, what is missing and what to do.
    """
    location = resolve_location(uri)
    try:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=location.artifacts, dst_path=str(dst_dir), tracking_uri=location.tracking_uri
        )
    except (MlflowException, OSError) as err:
        detail = str(getattr(err, "message", err)).strip().splitlines()[0][:200]
        raise ModelUnavailableError(
            f"{location.describe()}: its artifacts at {location.artifacts} cannot be read ({detail}); {location.fix()}"
        ) from err
    missing = missing_model_files(model_folder_or_root(Path(path)))
    if missing:
        raise ModelUnavailableError(
            f"{location.describe()}: its artifacts at {location.artifacts} lack {', '.join(missing)}; {location.fix()}"
        )
    return Path(path)


def load_model(
    source: str | Path, trust_remote_code: bool = False, cache_dir: str | Path | None = None
) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Load a reward model from a local folder or an MLflow URI, offline.

    MLflow URIs are fetched to `cache_dir` (a temporary folder if None) and loaded from there; the weights
    are read into memory, so the temporary folder can go. `trust_remote_code` runs the model code saved
    in the folder (config.json `auto_map`), as training did.
    """
    text = str(source)
    if not is_mlflow_uri(text):
        if not Path(text).is_dir():
            raise FileNotFoundError(f"{text}: no such model folder (or give a models:/ or runs:/ URI)")
        return load_reward_model(text, trust_remote_code)
    if cache_dir is not None:
        return load_reward_model(fetch_model(text, cache_dir), trust_remote_code)
    with tempfile.TemporaryDirectory(prefix="rewardflow-model-") as tmp:
        return load_reward_model(fetch_model(text, tmp), trust_remote_code)
