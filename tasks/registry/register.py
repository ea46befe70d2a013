"""Registry: register a candidate as `challenger`, and take it back; the champion gate is `tasks.registry.gate`.

The gate's read-compare-write runs under the file lock made here (`<home>/registry.lock`), and moving
`challenger` waits for it. Every step that changes the registry has a compensation, so a failure leaves
it as it was: the new version is deleted (which drops its aliases) and the previous `challenger` alias
is put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock
from mlflow.exceptions import MlflowException

from rmcore.data.chat import chat_template_hash
from rmcore.models.loading import load_tokenizer
from tasks.registry.idempotency import IDEMPOTENCY_TAG
from tasks.registry.lookup import OWNER_TAG, PREVIOUS_CHALLENGER_TAG, find_version, is_abandoned, owner_tag
from tasks.tracking.logged_model import logged_model_id
from tasks.tracking.runs import client, public_tags

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass
class RegistryConfig:
    """Where models are registered and how the gate is guarded."""

    name: str = field(default="reward-model", metadata={"help": "Registered model name in the MLflow model registry."})
    lock_path: str | None = field(
        default=None,
        metadata={"help": "File lock around the gate's read-compare-write. None = <home>/registry.lock."},
    )
    lock_timeout: float = field(
        default=1800.0,
        metadata={
            "help": "Seconds to wait for another run's gate (which scores the champion) before failing. "
            "-1 = wait forever."
        },
    )

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "@" in self.name:
            raise ValueError(f"RegistryConfig.name must be non-empty without '/' or '@', got {self.name!r}")
        if self.lock_timeout < 0 and self.lock_timeout != -1:
            raise ValueError(f"RegistryConfig.lock_timeout must be >= 0 or -1, got {self.lock_timeout}")

    def resolved_lock_path(self, home: str | Path) -> str:
        return self.lock_path or str(Path(home) / "registry.lock")


class RegistryUnavailableError(RuntimeError):
    """The MLflow registry could not be written (server down, store locked); says what state it was left in."""


def registry_lock(lock_path: str | Path | None, timeout: float = -1) -> FileLock:
    """The gate's lock; a missing folder is created so the first run of a fresh home works."""
    if lock_path is None:
        raise ValueError("lock_path is required: the gate never runs unlocked")
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_path), timeout=timeout)


def aliases(name: str) -> dict[str, str]:
    """alias -> version of a registered model ({} if it does not exist yet)."""
    try:
        return {alias: str(version) for alias, version in client().get_registered_model(name).aliases.items()}
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise


def ensure_registered_model(name: str) -> None:
    try:
        client().create_registered_model(name, description="Pairwise reward models trained by rewardflow.")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


CHAT_TEMPLATE_TAG = "chat_template_hash"


def chat_template_tags(model_dir: str | Path) -> dict[str, str]:
    """The version tag that records how the model saw conversations: sha256 of its chat template, or "none"
    (conversations rendered as hh-rlhf text). A server renders with the template whose hash matches."""
    return {CHAT_TEMPLATE_TAG: chat_template_hash(load_tokenizer(str(model_dir))) or "none"}


def _create_version(run_id: str, model_artifact_path: str, name: str, tags: Mapping[str, Any]) -> str:
    mlflow_client = client()
    model_id = logged_model_id(model_artifact_path)
    if model_id is not None:  # a Logged Model (`models:/m-...`): the version links to it
        source = model_artifact_path
    else:
        # The run's concrete artifact URI, not runs:/: `mlflow.register_model` on runs:/ looks for an
        # MLflow-flavoured LoggedModel and refuses a plain folder of safetensors and tokenizer files.
        source = f"{mlflow_client.get_run(run_id).info.artifact_uri.rstrip('/')}/{model_artifact_path.strip('/')}"
    version = mlflow_client.create_model_version(
        name, source=source, run_id=run_id, tags=public_tags(tags), model_id=model_id
    )
    return str(version.version)


def register_candidate(
    run_id: str,
    model_artifact_path: str,
    name: str,
    tags: Mapping[str, Any] | None = None,
    lock_path: str | Path | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Create a version from the run's logged model folder and point `challenger` at it. Returns the version.

    With `idempotency_key`, a version already registered for the same work is returned instead of a
    second one (a retried or rerun flow registers exactly once). The previous challenger is remembered
    on the version (`gate.previous_challenger`) so a later failure can put it back, and so is this process
    (`rewardflow.owner`), so that a version left ungated by a killed run is cleared by the next one. With
    `lock_path`, the alias move waits for any gate in progress.

    Raises:
        RegistryUnavailableError: the registry could not be written; it names the store and the state left.
    """
    version = None
    try:
        ensure_registered_model(name)
        with registry_lock(lock_path) if lock_path else contextlib.nullcontext():
            if idempotency_key and (existing := find_version(name, idempotency_key)) is not None:
                client().set_model_version_tag(name, existing, OWNER_TAG, owner_tag())  # ours to gate now
                return existing
            clear_abandoned(name)
            previous = aliases(name).get(CHALLENGER, "")
            tags = {**(tags or {}), PREVIOUS_CHALLENGER_TAG: previous, OWNER_TAG: owner_tag()}
            if idempotency_key:
                tags[IDEMPOTENCY_TAG] = idempotency_key
            version = _create_version(run_id, model_artifact_path, name, tags)
            client().set_registered_model_alias(name, CHALLENGER, version)
        return version
    except MlflowException as err:
        raise RegistryUnavailableError(_failure_message(name, run_id, version, idempotency_key, err)) from err
    except BaseException:
        if version is not None:
            rollback_candidate(name, version)
        raise


def _failure_message(name: str, run_id: str, version: str | None, key: str | None, err: Exception) -> str:
    """Roll back what was created and say, for a person, what failed and what the registry holds now."""
    state = "the registry is unchanged"
    if version is not None:
        try:
            rollback_candidate(name, version)
        except Exception:  # the store went away mid-way: the version stays, tagged, and a retry adopts it
            state = f"version {version} may remain as an orphan; a retry adopts it instead of adding another"
    first_line = str(getattr(err, "message", err)).strip().splitlines()[0][:300]
    retry = f" (idempotency key {key}, so it registers exactly once)" if key else ""
    return (
        f"could not register run {run_id} as a version of {name!r} in the MLflow registry at "
        f"{mlflow.get_registry_uri()}: {first_line}. {state[0].upper()}{state[1:]}; retry or rerun the flow "
        f"when the store is reachable{retry}."
    )


def rollback_candidate(name: str, version: str) -> None:
    """Undo `register_candidate`: delete the version and put the previous challenger back.

    Deleting a version drops every alias on it, so a `champion` alias moved onto it goes too; the
    gate restores the previous champion itself before calling this.
    """
    mlflow_client = client()
    try:
        previous = mlflow_client.get_model_version(name, version).tags.get(PREVIOUS_CHALLENGER_TAG, "")
    except MlflowException:
        return  # never created or already gone
    mlflow_client.delete_model_version(name, version)
    if previous:
        try:
            mlflow_client.set_registered_model_alias(name, CHALLENGER, previous)
        except MlflowException:
            pass  # the previous challenger was deleted meanwhile: leave the alias unset


def clear_abandoned(name: str) -> list[str]:
    """Delete the versions left ungated by a run that died between registering and gating.

    The caller holds the registry lock, after `find_version` (a rerun of the same work adopts its own
    version and gates it). Each goes as the dead run's rollback would have taken it: `rollback_candidate`
    puts the previous challenger back. Returns the versions deleted.
    """
    found = client().search_model_versions(f"name='{name}'")
    cleared = []
    for version in sorted(found, key=lambda v: -int(v.version)):
        if is_abandoned(version.tags):
            rollback_candidate(name, str(version.version))
            cleared.append(str(version.version))
    return cleared
