"""Registry: register a candidate as `challenger`, and take it back; the champion gate is `tasks.registry.gate`.

The gate's read-compare-write runs under the file lock made here (`<home>/registry.lock`), and moving
`challenger` waits for it. A candidate is taken back by one function, `withdraw_candidate`, whatever
failed: the registration itself, the gate, or anything later in the run (the flow's transaction). It
deletes the version (which drops its aliases), gives `champion` back to the version the gate replaced,
and puts the previous `challenger` back, so a run that fails leaves the registry as it was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock
from mlflow.exceptions import MlflowException

from rmcore.data.chat import chat_template_hash
from rmcore.models.loading import load_tokenizer
from tasks.defaults import REGISTERED_MODEL
from tasks.registry.idempotency import IDEMPOTENCY_TAG
from tasks.registry.lookup import OWNER_TAG, PREVIOUS_CHALLENGER_TAG, find_version, is_abandoned, owner_tag
from tasks.tracking.logged_model import logged_model_id
from tasks.tracking.runs import public_tags
from tasks.tracking.store import client

CHAMPION = "champion"
CHALLENGER = "challenger"
# The champion when the gate decided on a version ("none" for the first): the one it gives the alias back to.
CHAMPION_AT_GATE_TAG = "gate.champion_version"
UNCHANGED = "the registry is unchanged"

logger = logging.getLogger(__name__)


@dataclass
class RegistryConfig:
    """Where models are registered and how the gate is guarded."""

    name: str = field(
        default=REGISTERED_MODEL, metadata={"help": "Registered model name in the MLflow model registry."}
    )
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
    `lock_path`, the whole registration (and its undo, should it fail) waits for any gate in progress.

    Raises:
        RegistryUnavailableError: the registry could not be written; it names the store and the state left.
    """
    with registry_lock(lock_path) if lock_path else contextlib.nullcontext():
        version = None
        try:
            ensure_registered_model(name)
            if idempotency_key and (existing := find_version(name, idempotency_key)) is not None:
                client().set_model_version_tag(name, existing, OWNER_TAG, owner_tag())  # ours to gate now
                return existing
            clear_abandoned(name)
            version = _create_version(run_id, model_artifact_path, name, _candidate_tags(name, tags, idempotency_key))
            client().set_registered_model_alias(name, CHALLENGER, version)
            return version
        except BaseException as failure:
            state = UNCHANGED if version is None else _withdraw_after_failure(name, version)
            if isinstance(failure, MlflowException):
                message = _failure_message(name, run_id, idempotency_key, failure, state)
                raise RegistryUnavailableError(message) from failure
            raise


def _candidate_tags(name: str, tags: Mapping[str, Any] | None, idempotency_key: str | None) -> dict[str, Any]:
    """The caller's tags plus what an undo and a rerun need: the previous challenger, the owner, the work key."""
    candidate_tags = {
        **(tags or {}),
        PREVIOUS_CHALLENGER_TAG: aliases(name).get(CHALLENGER, ""),
        OWNER_TAG: owner_tag(),
    }
    if idempotency_key:
        candidate_tags[IDEMPOTENCY_TAG] = idempotency_key
    return candidate_tags


def _withdraw_after_failure(name: str, version: str) -> str:
    """Withdraw a version whose registration failed half-way; returns what the registry holds now.

    The store may be the thing that failed, so the undo can fail too: the version then stays, tagged with
    its work key and owner, and a retry adopts it (or the next registration clears it once we are gone).
    """
    try:
        withdraw_candidate(name, version)
    except Exception:
        logger.warning("could not withdraw version %s of %r after a failed registration", version, name, exc_info=True)
        return f"version {version} may remain as an orphan; a retry adopts it instead of adding another"
    return UNCHANGED


def _failure_message(name: str, run_id: str, key: str | None, err: MlflowException, state: str) -> str:
    """Say, for a person, what failed, what the registry holds now (`state`) and how to finish the job."""
    first_line = str(getattr(err, "message", err)).strip().splitlines()[0][:300]
    retry = f" (idempotency key {key}, so it registers exactly once)" if key else ""
    return (
        f"could not register run {run_id} as a version of {name!r} in the MLflow registry at "
        f"{mlflow.get_registry_uri()}: {first_line}. {state[0].upper()}{state[1:]}; retry or rerun the flow "
        f"when the store is reachable{retry}."
    )


def withdraw_candidate(name: str, version: str) -> None:
    """Take a candidate back out of the registry: the one undo of `register_candidate` and the gate.

    If the gate had moved `champion` onto the version, the champion it replaced (tagged on the version as
    `gate.champion_version`) gets the alias back. Then the version is deleted, which drops every alias on
    it, and the previous challenger gets `challenger` back. A version that is already gone is a no-op,
    so two undos of one failure (the gate's own, then the flow's transaction) are safe.

    The caller holds the registry lock, as every writer of the aliases does.
    """
    mlflow_client = client()
    try:
        tags = mlflow_client.get_model_version(name, version).tags
    except MlflowException:
        return  # never created or already gone
    if aliases(name).get(CHAMPION) == str(version) and CHAMPION_AT_GATE_TAG in tags:
        previous_champion = tags[CHAMPION_AT_GATE_TAG]
        _point_champion_at(name, None if previous_champion == "none" else previous_champion)
    mlflow_client.delete_model_version(name, version)
    previous_challenger = tags.get(PREVIOUS_CHALLENGER_TAG, "")
    if previous_challenger:
        try:
            mlflow_client.set_registered_model_alias(name, CHALLENGER, previous_challenger)
        except MlflowException:
            pass  # the previous challenger was deleted meanwhile: leave the alias unset


def _point_champion_at(name: str, version: str | None) -> None:
    """`champion` on `version`, or no champion at all when there was none before."""
    if version is not None:
        client().set_registered_model_alias(name, CHAMPION, version)
    elif CHAMPION in aliases(name):
        client().delete_registered_model_alias(name, CHAMPION)


@contextlib.contextmanager
def withdrawn_on_failure(name: str, version: str) -> Iterator[None]:
    """Run the block; if anything in it fails, withdraw the candidate (`withdraw_candidate`) and re-raise."""
    try:
        yield
    except BaseException:
        withdraw_candidate(name, version)
        raise


def clear_abandoned(name: str) -> list[str]:
    """Delete the versions left ungated by a run that died between registering and gating.

    The caller holds the registry lock, after `find_version` (a rerun of the same work adopts its own
    version and gates it). Each goes as the dead run's own undo would have taken it (`withdraw_candidate`),
    the previous challenger put back. Returns the versions deleted.
    """
    found = client().search_model_versions(f"name='{name}'")
    cleared = []
    for version in sorted(found, key=lambda v: -int(v.version)):
        if is_abandoned(version.tags):
            withdraw_candidate(name, str(version.version))
            cleared.append(str(version.version))
    return cleared
