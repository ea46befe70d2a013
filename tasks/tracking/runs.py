"""MLflow tracking: one run per flow run holding the settings, metrics, data and reports.

Everything takes an explicit `run_id` and goes through `MlflowClient`, never the fluent "active run":
Prefect may run tasks in worker threads, and a run id is a reference the flow can pass between them.

Everything here writes to the process-wide store its entry point opened (`tasks.tracking.store`) through
`client()`; nothing takes a URI only to fall back to another. The model folder is logged by
`tasks.tracking.logged_model`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tracking.store import client

# Old tracking servers refuse param values over 500 characters (3.x allows 6000): stay under both.
MAX_PARAM_LENGTH = 500
# MLflow accepts at most 100 params per log_batch call.
PARAM_BATCH = 100
SECRET_NAMES = re.compile(r"token|password|secret|auth|api_key|credential", re.IGNORECASE)
# The password of a URL's user part (https://user:PASSWORD@host): a store or server URL may carry one.
URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]+):[^/@\s]+@")
# MLflow 3's UI lists an experiment under model training, not GenAI, by this tag.
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def ensure_experiment(name: str, home: str | Path) -> str:
    """The id of experiment `name` in the process-wide store, created if missing with artifacts under
    `<home>/mlflow/artifacts`, and tagged as model training.

    A server keeps its own artifact root, so the location is only set for a local (SQLite/file) store.
    """
    uri = mlflow.get_tracking_uri()
    mlflow_client = client()
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
            mlflow_client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        return found.experiment_id
    location = None
    if not uri.startswith(("http://", "https://", "databricks")):
        folder = Path(home).resolve() / "mlflow" / "artifacts" / name
        location = folder.as_uri()
    try:
        tags = {EXPERIMENT_KIND_TAG: MODEL_TRAINING}
        return mlflow_client.create_experiment(name, artifact_location=location, tags=tags)
    except mlflow.exceptions.MlflowException:
        found = mlflow_client.get_experiment_by_name(name)  # another run created it meanwhile
        if found is None:
            raise
        return found.experiment_id


def is_secret(name: str) -> bool:
    """Names that may hold credentials (hub_token, MLFLOW_TRACKING_PASSWORD, ...) are never logged."""
    return bool(SECRET_NAMES.search(name))


def redact(value: Any) -> Any:
    """`value` with every secret-named key of nested dicts masked (e.g. flow param `training={'hub_token': ...}`)
    and the password of every URL masked (e.g. `tracking_uri='https://me:PASSWORD@mlflow.example'`)."""
    if isinstance(value, Mapping):
        return {k: "***" if is_secret(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return URL_PASSWORD.sub(r"\1:***@", value)
    return value


def _stringify(value: Any) -> str:
    text = str(value.value if isinstance(value, Enum) else redact(value))
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 1] + "…"


def config_params(config: Any, prefix: str = "") -> dict[str, str]:
    """Every field of a config dataclass as a string param, secrets dropped, long values cut to 500 chars."""
    params = {}
    for spec in dataclasses.fields(config):
        if is_secret(spec.name) or spec.name.startswith("_"):
            continue
        params[f"{prefix}{spec.name}"] = _stringify(getattr(config, spec.name))
    return params


def public_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags as strings, without any whose name looks like a secret."""
    return {k: str(v) for k, v in tags.items() if not is_secret(k) and v is not None}


def start_run(
    experiment_id: str,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Create a run and return its id; the run stays RUNNING until `end_run`."""
    run = client().create_run(experiment_id, run_name=run_name, tags=public_tags(tags or {}))
    return run.info.run_id


def end_run(run_id: str, status: str = "FINISHED") -> None:
    """Close the run as FINISHED, FAILED or KILLED."""
    client().set_terminated(run_id, status=status)


def log_params(run_id: str, params: Mapping[str, Any]) -> int:
    """Log params in batches of 100, secrets dropped. Returns how many were logged."""
    items = [Param(k, _stringify(v)) for k, v in params.items() if not is_secret(k)]
    mlflow_client = client()
    for start in range(0, len(items), PARAM_BATCH):
        mlflow_client.log_batch(run_id, params=items[start : start + PARAM_BATCH])
    return len(items)


def log_config(run_id: str, config: Any, prefix: str = "") -> int:
    """All values of a config dataclass (e.g. `RewardConfig`) as params."""
    return log_params(run_id, config_params(config, prefix))


def set_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    items = [RunTag(k, v) for k, v in public_tags(tags).items()]
    if items:
        client().log_batch(run_id, tags=items)


def log_metrics(run_id: str, metrics: Mapping[str, Any], prefix: str = "", step: int = 0) -> dict[str, float]:
    """Log the numeric entries (NaN included, so a broken eval shows); others are skipped. Returns what was logged."""
    numeric = {
        f"{prefix}{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    mlflow_client = client()
    for key, value in numeric.items():
        mlflow_client.log_metric(run_id, key, value, step=step)
    return numeric


def data_digest(df: pd.DataFrame) -> str:
    """A content hash of the pairs (row order included), stable across processes and pandas versions."""
    hasher = hashlib.sha256()
    hasher.update(",".join(map(str, df.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return hasher.hexdigest()[:16]


def log_dataset(
    run_id: str,
    df: pd.DataFrame,
    name: str,
    source: str,
    context: str = "train",
    digest: str | None = None,
) -> str:
    """Record the pairs as an MLflow dataset input (schema, profile, source, digest). Returns the digest."""
    digest = digest or data_digest(df)
    with warnings.catch_warnings():
        # MLflow registers the local source twice and warns about its own ambiguity.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(df, source=str(source), name=name, digest=digest)
    entry = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])
    client().log_inputs(run_id, datasets=[entry])
    return digest


def log_files(run_id: str, paths: Iterable[str | Path], artifact_path: str | None = None) -> list[str]:
    """Log existing files (plots, logit tables, ...) under `artifact_path`; missing ones are skipped."""
    logged = []
    mlflow_client = client()
    for path in map(Path, paths):
        if path.is_file():
            mlflow_client.log_artifact(run_id, str(path), artifact_path)
            logged.append(path.name)
    return logged


def log_json(run_id: str, data: Mapping[str, Any], artifact_file: str) -> None:
    """Log a dict as a JSON artifact, e.g. the quarantine summary."""
    client().log_dict(run_id, dict(data), artifact_file)


def log_text(run_id: str, text: str, artifact_file: str) -> None:
    client().log_text(run_id, text, artifact_file)


# Set by `rewardflow up` for its deployment runner, which writes the store file directly: the URL of the
# MLflow server reading that same file, so the links a run writes open in the UI.
MLFLOW_UI_ENV = "REWARDFLOW_MLFLOW_UI"


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A link a person can open: the MLflow UI page for a server (the tracking server, or the one named by
    MLFLOW_UI_ENV), else the `runs:/` URI and store."""
    server = tracking_uri if tracking_uri.startswith(("http://", "https://")) else os.environ.get(MLFLOW_UI_ENV)
    if server:
        return f"{server.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"runs:/{run_id} (store {tracking_uri})"


def prefect_tags() -> dict[str, str]:
    """The Prefect flow run id and name, and its UI page when a Prefect server serves one, inside a flow run.

    The id alone is plain text in the MLflow UI; the URL tag is a link a person can follow.
    """
    from prefect.runtime import flow_run
    from prefect.utilities.urls import url_for

    run_id = flow_run.get_id()
    if not run_id:
        return {}
    tags = {"prefect.flow_run_id": run_id, "prefect.flow_run_name": flow_run.get_name()}
    url = url_for("flow-run", obj_id=run_id)
    return {**tags, "prefect.flow_run_url": url} if url else tags


# Run metrics that describe the model itself, copied to its Logged Model page; settings likewise.
MODEL_METRIC_PREFIXES = ("eval_", "gate_challenger_accuracy")
MODEL_PARAMS = ("learning_rate", "max_steps", "num_train_epochs", "per_device_train_batch_size", "max_length", "seed")
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # what the Logged Model page reads to show "Registered versions"
NOTE_TAG = "mlflow.note.content"  # the Description of a run or a Logged Model in the MLflow UI (markdown)


def link_logged_model(run_id: str, name: str, version: str, description: str = "") -> str | None:
    """Give the version's Logged Model what its page shows: the run's eval metrics, its main settings,
    the registered version and a description. Returns the model id (None when the version has none).

    `create_model_version(model_id=...)` links the version to the model but not back; the fluent
    `mlflow.register_model` writes the `mlflow.modelVersions` tag, so we write it the same way.
    """
    mlflow_client = client()
    registered = mlflow_client.get_model_version(name, version)
    # A SQLite store returns no `model_id` on versions; their source `models:/m-...` names the model.
    source_id = registered.source.removeprefix("models:/") if registered.source.startswith("models:/m-") else None
    model_id = registered.model_id or source_id
    if not model_id:
        return None
    run, model = mlflow_client.get_run(run_id), mlflow_client.get_logged_model(model_id)
    now = int(time.time() * 1000)
    if not model.metrics:  # once: a retried or rerun decision adds no second point
        metrics = [
            Metric(key, value, now, 0, model_id=model_id)
            for key, value in run.data.metrics.items()
            if key.startswith(MODEL_METRIC_PREFIXES)
        ]
        if metrics:
            mlflow_client.log_batch(run_id, metrics=metrics)
    params = {k: run.data.params[k] for k in MODEL_PARAMS if k in run.data.params and k not in model.params}
    if params:
        mlflow_client.log_model_params(model_id, params)
    listed = json.loads(model.tags.get(MODEL_VERSIONS_TAG, "[]"))
    entry = {"name": name, "version": str(version)}
    tags = {MODEL_VERSIONS_TAG: json.dumps(listed if entry in listed else [*listed, entry])}
    mlflow_client.set_logged_model_tags(model_id, {**tags, **({NOTE_TAG: description} if description else {})})
    return model_id


@task(name="start-tracking-run", cache_policy=NO_CACHE)
def start_tracking_run(home: str, experiment: str, run_name: str | None = None, tags: dict | None = None) -> str:
    """Create the flow run's MLflow run in the process-wide store, tagged with the Prefect flow run id."""
    experiment_id = ensure_experiment(experiment, home)
    return start_run(experiment_id, run_name, {**prefect_tags(), **(tags or {})})


@task(name="end-tracking-run", cache_policy=NO_CACHE)
def end_tracking_run(run_id: str, status: str = "FINISHED") -> None:
    end_run(run_id, status)


@contextmanager
def tracking_run(home: str, experiment: str, run_name: str | None = None, tags: dict | None = None) -> Iterator[str]:
    """The flow run's MLflow run for the `with` block: FINISHED when the block ends, FAILED when it raises."""
    run_id = start_tracking_run(home, experiment, run_name, tags)
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    finally:
        end_tracking_run(run_id, status)
