"""Follow a registry alias: when `champion` moves, load the new version in the background and swap it in.

A background thread asks MLflow which version the alias points at every `poll_seconds`. A new version
is downloaded and loaded off the request path, then swapped into the slot in one step. A version that
fails to load is logged once and skipped (until the alias moves again); the old model keeps serving.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException

from deployments.serving.model_slot import LoadedModel, ModelSlot, load_folder
from tasks.registry.models import fetch_model, is_mlflow_uri
from tasks.registry.register import aliases
from tasks.tracking.store import client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """What `--model` names: a registered alias to follow, one pinned version, or a local folder."""

    name: str | None = None
    alias: str | None = None
    version: str | None = None
    folder: str | None = None

    @property
    def follows(self) -> bool:
        return self.alias is not None


def parse_source(text: str) -> ModelSource:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION` or a folder; fails naming the flag and its value."""
    if not is_mlflow_uri(text):
        if not Path(text).is_dir():
            raise ValueError(f"--model {text!r}: no such folder (or give models:/NAME@ALIAS or models:/NAME/VERSION)")
        return ModelSource(folder=str(Path(text).resolve()))
    rest = text.removeprefix("models:/") if text.startswith("models:/") else None
    if rest and "@" in rest and "/" not in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return ModelSource(name=name, alias=alias)
    if rest and rest.count("/") == 1:
        name, version = rest.split("/")
        if name and version.isdigit():
            return ModelSource(name=name, version=version)
    raise ValueError(f"--model {text!r}: give models:/NAME@ALIAS, models:/NAME/VERSION or a model folder")


def registry_info(name: str, version: str) -> dict:
    """Run id and base model of a registered version, for `/info`."""
    model_version = client().get_model_version(name, version)
    info = {"registered_name": name, "run_id": model_version.run_id}
    if model_version.run_id:
        params = client().get_run(model_version.run_id).data.params
        base = params.get("flow.model_name_or_path")
        info["base_model"] = None if base in (None, "None") else base
    return info


def load_registered(
    name: str,
    version: str,
    cache_dir: str | Path,
    alias: str | None,
    max_length: int | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Download `models:/NAME/VERSION` into the cache (replacing an older download) and load it."""
    target = Path(cache_dir) / f"{name}-v{version}"
    shutil.rmtree(target, ignore_errors=True)
    folder = fetch_model(f"models:/{name}/{version}", target)
    info = {**registry_info(name, version), "alias": alias}
    return load_folder(folder, version, info, max_length, trust_remote_code)


Loader = Callable[[str, str], LoadedModel]  # (name, version) -> loaded model


class AliasFollower:
    """Keeps the slot on the version behind `name@alias`; `poll_once` is one look, `start` polls forever."""

    def __init__(self, slot: ModelSlot, name: str, alias: str, loader: Loader, poll_seconds: float = 30.0) -> None:
        self.slot, self.name, self.alias, self.loader = slot, name, alias, loader
        self.poll_seconds = poll_seconds
        self.failed: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def target_version(self) -> str | None:
        return aliases(self.name).get(self.alias)

    def poll_once(self) -> str | None:
        """Load and swap in the alias's version if it changed; returns the version served afterwards."""
        current = self.slot.current
        try:
            version = self.target_version()
        except MlflowException as err:
            logger.warning("could not read %s@%s from the registry: %s", self.name, self.alias, err)
            return current.version if current else None
        if version is None:
            if current is None:
                self.slot.set_reason(f"no version of {self.name!r} has alias {self.alias!r} yet")
            return current.version if current else None
        if (current is not None and current.version == version) or version in self.failed:
            return current.version if current else None
        return self._load(version, current)

    def _load(self, version: str, current: LoadedModel | None) -> str | None:
        logger.info("loading %s version %s (%s@%s)", self.name, version, self.name, self.alias)
        if current is None:
            self.slot.set_reason(f"loading {self.name} version {version}")
        try:
            loaded = self.loader(self.name, version)
        except Exception as err:  # any load failure: keep serving what we have
            self.failed.add(version)
            served = f"still serving version {current.version}" if current else "no model is served"
            logger.error("version %s of %s failed to load (%s): %s", version, self.name, served, err, exc_info=True)
            if current is None:
                self.slot.set_reason(f"version {version} of {self.name!r} failed to load: {err}")
            return current.version if current else None
        self.slot.swap(loaded)
        logger.info("now serving %s version %s", self.name, version)
        return version

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rewardflow-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # never let the follower die: the next poll tries again
                logger.exception("polling %s@%s failed", self.name, self.alias)
            self._stop.wait(self.poll_seconds)
