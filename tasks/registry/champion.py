"""What an operator does to the registry by hand: list the versions, move `champion`, clear abandoned candidates.

`promote` and `rollback` move the alias under the registry's file lock (the gate's own), so they never
interleave with a gate's read-compare-write, and they record who moved it and why as tags on the version
they point it at. A version is made champion by hand only if its files are there: a promotion that the
next run would fail on is refused before anything changes.

A run killed between registering and gating leaves a version with no `gate.decision`; `rewardflow models`
shows it as `ungated (abandoned)` until the next registration clears it (`register.clear_abandoned`).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasks.registry.lookup import is_abandoned
from tasks.registry.models import ModelUnavailableError, fetch_model
from tasks.registry.register import CHALLENGER, CHAMPION, aliases, registry_lock
from tasks.tracking.store import client

REASON_TAG = "rewardflow.champion_reason"
MOVED_TAG = "rewardflow.champion_moved"  # "promote|rollback <UTC time>; was <previous champion>"
ROLLED_BACK_TAG = "rewardflow.rolled_back"


@dataclass
class VersionRow:
    """One line of `rewardflow models`."""

    version: str
    created: str
    aliases: list[str]
    decision: str  # promoted, rejected, or "ungated" / "ungated (abandoned)"
    accuracy: float | None
    champion_accuracy: float | None
    reason: str
    run_id: str
    benchmarks: dict[str, str] = field(default_factory=dict)  # name -> "accuracy [low, high] n=N"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BENCHMARK_TAG = "benchmark."  # one tag per pinned benchmark (`tasks.benchmark_scores.benchmark_tags`)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def version_rows(name: str) -> list[VersionRow]:
    """Every version of `name`, newest first, with its aliases, gate decision, accuracy and date."""
    mlflow_client = client()
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases(name).items():
        by_version.setdefault(version, []).append(alias)
    rows = []
    for version in sorted(mlflow_client.search_model_versions(f"name='{name}'"), key=lambda v: -int(v.version)):
        tags, names = version.tags, sorted(by_version.get(str(version.version), []))
        decision = tags.get("gate.decision") or ("ungated (abandoned)" if is_abandoned(tags) else "ungated")
        if MOVED_TAG in tags:  # "promote <time>; was N" or "rollback <time>; was N"
            decision += f", {tags[MOVED_TAG].split()[0]}d by hand"
        created = datetime.fromtimestamp(version.creation_timestamp / 1000, tz=timezone.utc)
        rows.append(
            VersionRow(
                version=str(version.version),
                created=created.isoformat(timespec="seconds"),
                aliases=names,
                decision=decision,
                accuracy=_float(tags.get("gate.challenger_accuracy")),
                champion_accuracy=_float(tags.get("gate.champion_accuracy")),
                reason=version_reason(tags, CHAMPION in names),
                run_id=str(version.run_id or ""),
                benchmarks={k.removeprefix(BENCHMARK_TAG): v for k, v in tags.items() if k.startswith(BENCHMARK_TAG)},
            )
        )
    return rows


def version_reason(tags: dict[str, str], is_champion: bool) -> str:
    """Why the version stands where it does: rolled back from, made champion by hand, or the gate's reason."""
    if ROLLED_BACK_TAG in tags and not is_champion:
        return f"rolled back: {tags[ROLLED_BACK_TAG]}"
    return tags.get(REASON_TAG) or tags.get("gate.reason", "")


def check_loadable(name: str, version: str) -> None:
    """Fetch the version's files into a temporary folder; raises `ModelUnavailableError` naming what is missing."""
    with tempfile.TemporaryDirectory(prefix="rewardflow-check-") as tmp:
        fetch_model(f"models:/{name}/{version}", Path(tmp))


def _stamp(action: str, previous: str | None) -> str:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"{action} {now}; was {previous or 'none'}"


def promote_version(name: str, version: str, reason: str, lock_path: str | Path) -> str | None:
    """Make `version` the champion by hand (its files checked first); returns the previous champion.

    Raises:
        ModelUnavailableError: the version does not exist or its files are missing (nothing changed).
    """
    with registry_lock(lock_path):
        previous = aliases(name).get(CHAMPION)
        check_loadable(name, version)
        mlflow_client = client()
        mlflow_client.set_model_version_tag(name, version, REASON_TAG, reason)
        mlflow_client.set_model_version_tag(name, version, MOVED_TAG, _stamp("promote", previous))
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
        if aliases(name).get(CHALLENGER) == version:
            mlflow_client.delete_registered_model_alias(name, CHALLENGER)
        return previous


def _was_champion(tags: dict[str, str]) -> bool:
    return tags.get("gate.decision") == "promoted" or MOVED_TAG in tags


def rollback_champion(name: str, reason: str, lock_path: str | Path) -> tuple[str | None, str | None]:
    """Move `champion` back to the newest earlier version that was champion and whose files load.

    With none left, the alias is removed: the next run's model is promoted as the first one. The
    version rolled back from is tagged `rewardflow.rolled_back` with the reason. Returns (from, to).

    Raises:
        LookupError: there is no champion to roll back.
    """
    with registry_lock(lock_path):
        current = aliases(name).get(CHAMPION)
        if current is None:
            raise LookupError(f"{name!r} has no champion to roll back; promote one with `rewardflow promote VERSION`")
        mlflow_client = client()
        earlier = [v for v in mlflow_client.search_model_versions(f"name='{name}'") if int(v.version) < int(current)]
        target = None
        for candidate in sorted(earlier, key=lambda v: -int(v.version)):
            if not _was_champion(candidate.tags):
                continue
            try:
                check_loadable(name, str(candidate.version))
            except ModelUnavailableError:
                continue  # its files are gone too: look further back
            target = str(candidate.version)
            break
        mlflow_client.set_model_version_tag(name, current, ROLLED_BACK_TAG, f"{reason} ({_stamp('rollback', None)})")
        if target is None:
            mlflow_client.delete_registered_model_alias(name, CHAMPION)
            return current, None
        mlflow_client.set_model_version_tag(name, target, REASON_TAG, reason)
        mlflow_client.set_model_version_tag(name, target, MOVED_TAG, _stamp("rollback", current))
        mlflow_client.set_registered_model_alias(name, CHAMPION, target)
        return current, target
