"""What the MLflow UI shows a person: a readable run name, the logit table as a table, the gate
decision on the version page, and links by URL.

A JSON file is just a file in the UI; `log_table` makes it a table the UI renders and compares across
runs. (The experiment's model-training tag is set where experiments are made, `ensure_experiment`.)
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore.compare import Decision
from tasks.tracking.runs import client

LOGIT_TABLE_ARTIFACT = "eval/logit_table.json"


def run_name(experiment: str, when: datetime.datetime | None = None) -> str:
    """`reward-model 2026-12-01 02:00`: the experiment and the local start time, to the minute."""
    when = when or datetime.datetime.now()
    return f"{experiment} {when:%Y-%m-%d %H:%M}"


def with_version(name: str, version: str | None) -> str:
    """The run name once registration gave the model a version: `... v3`."""
    return f"{name} v{version}" if version else name


def name_run(run_id: str, name: str, tracking_uri: str | None = None) -> None:
    client(tracking_uri).update_run(run_id, name=name)


def logit_table_frame(path: str | Path) -> pd.DataFrame:
    """The rows `rmcore.report.write_logit_table` wrote, as a frame."""
    return pd.DataFrame(json.loads(Path(path).read_text()))


def log_logit_table(run_id: str, paths: list[str], tracking_uri: str | None = None) -> str | None:
    """Log the first `*logit_table.json` among `paths` with `log_table`. Returns its artifact file."""
    tables = [Path(p) for p in paths if Path(p).name.endswith("logit_table.json") and Path(p).is_file()]
    if not tables:
        return None
    client(tracking_uri).log_table(run_id, data=logit_table_frame(tables[0]), artifact_file=LOGIT_TABLE_ARTIFACT)
    return LOGIT_TABLE_ARTIFACT


def decision_description(decision: Decision, version: str, run_link: str = "") -> str:
    """The version page's description: the decision, both accuracies, the interval and why."""
    figures = decision.figures

    def fmt(key: str) -> str:
        value = figures.get(key)
        return "n/a" if value is None or value != value else f"{value:.4f}"

    champion = figures.get("champion_version")
    champion = "none" if champion is None or champion != champion else f"v{int(champion)}"
    verdict = "Promoted to champion" if decision.promote else "Not promoted"
    lines = [
        f"{verdict}: {decision.reason}",
        "",
        f"Challenger v{version}: accuracy {fmt('challenger_accuracy')}. "
        f"Champion {champion}: accuracy {fmt('champion_accuracy')}.",
        f"Accuracy difference {fmt('diff')}, interval [{fmt('diff_low')}, {fmt('diff_high')}] "
        f"on {int(figures.get('n_pairs', 0))} held-out pairs.",
    ]
    if run_link:
        lines += ["", f"Training run: {run_link}"]
    return "\n".join(lines)


def describe_version(name: str, version: str, description: str, tracking_uri: str | None = None) -> None:
    client(tracking_uri).update_model_version(name, version, description=description)


def version_url(tracking_uri: str, name: str, version: str) -> str | None:
    """The MLflow UI page of a model version, for a server; None for a local store (no UI to link)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}"


@task(name="show-decision", cache_policy=NO_CACHE)
def show_decision(run_id: str, title: str, name: str, version: str, decision: Decision, run_link: str = "") -> None:
    """Name the run after its version and write the gate's decision into the version's description."""
    name_run(run_id, title)
    describe_version(name, version, decision_description(decision, version, run_link))
