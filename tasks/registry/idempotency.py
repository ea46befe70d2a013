"""The identity of one piece of work: data hash + config hash + code version, as one short key.

A retried or rerun flow computes the same key for the same work, so it finds its own run folder
(and resumes training there) and its own registered version (and does not register a second one).
Anything that can change the model goes into the key; where things are stored does not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
IDEMPOTENCY_TAG = "rewardflow.idempotency_key"
# Parameters that say where results go or how failures are retried, not what is computed.
NON_WORK_PARAMS = ("home", "tracking_uri", "experiment_name", "data_root", "register_retries", "register_retry_delay")


def stable_hash(value: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of `value` (sorted keys), cut to `length` hex digits."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def config_hash(params: Mapping[str, Any]) -> str:
    """Hash of the settings that shape the model (flow parameters, training overrides), locations left out."""
    return stable_hash({k: v for k, v in params.items() if k not in NON_WORK_PARAMS})


def git_sha(root: Path = REPO_ROOT) -> str | None:
    """HEAD of the checkout this code runs from, `+dirty` with local changes; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """`rewardflow==X.Y.Z` plus the git sha when available; computed once per process so it stays stable."""
    try:
        version = metadata.version("rewardflow")
    except metadata.PackageNotFoundError:
        version = "unknown"
    sha = git_sha()
    return f"rewardflow=={version}" + (f"@{sha}" if sha else "")


def work_key(data_hash: str, cfg_hash: str, code: str | None = None) -> str:
    """The idempotency key: 20 hex digits naming (data, config, code)."""
    return stable_hash({"data": data_hash, "config": cfg_hash, "code": code or code_version()}, length=20)
