"""What the MLflow UI shows a person: a readable run name, the logit table as a table, the gate
decision on the version page, and links by URL.

A JSON file is just a file in the UI; `log_table` makes it a table the UI renders and compares across
runs. (The experiment's model-training tag is set where experiments are made, `ensure_experiment`.)
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import mlflow
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore.checks.compare import Decision
from rmcore.checks.gate import slice_summary
from tasks.tracking.runs import MLFLOW_UI_ENV, NOTE_TAG, link_logged_model
from tasks.tracking.store import client

LOGIT_TABLE_ARTIFACT = "eval/logit_table.json"
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
CHALLENGER = "challenger"


def run_name(experiment: str, when: datetime.datetime | None = None) -> str:
    """`reward-model 2026-12-01 02:00`: the experiment and the local start time, to the minute."""
    when = when or datetime.datetime.now()
    return f"{experiment} {when:%Y-%m-%d %H:%M}"


def with_version(name: str, version: str | None) -> str:
    """The run name once registration gave the model a version, the version before the date:
    `reward-model v3 2026-12-01 02:00`. The MLflow runs table cuts long names from the right, so a
    version after the date was the part that went missing."""
    if not version:
        return name
    head, _, rest = name.rpartition(" ")
    head, _, day = head.rpartition(" ")
    if head and DATE.fullmatch(f"{day} {rest}"):
        return f"{head} v{version} {day} {rest}"
    return f"v{version} {name}"


def name_run(run_id: str, name: str) -> None:
    client().update_run(run_id, name=name)


def logit_table_frame(path: str | Path) -> pd.DataFrame:
    """The rows `rmcore.evaluation.report.write_logit_table` wrote, as a frame."""
    return pd.DataFrame(json.loads(Path(path).read_text()))


def log_logit_table(run_id: str, paths: list[str]) -> str | None:
    """Log the first `*logit_table.json` among `paths` with `log_table`. Returns its artifact file."""
    tables = [Path(p) for p in paths if Path(p).name.endswith("logit_table.json") and Path(p).is_file()]
    if not tables:
        return None
    client().log_table(run_id, data=logit_table_frame(tables[0]), artifact_file=LOGIT_TABLE_ARTIFACT)
    return LOGIT_TABLE_ARTIFACT


def fmt_figure(figures: dict, key: str) -> str:
    value = figures.get(key)
    return "n/a" if value is None or value != value else f"{value:.4f}"


def champion_label(figures: dict) -> str:
    champion = figures.get("champion_version")
    return "none" if champion is None or champion != champion else f"v{int(champion)}"


def markdown_link(text: str, url: str | None) -> str:
    """`[text](url)` for a URL a browser opens, else the text with the reference in code."""
    if url and url.startswith(("http://", "https://")):
        return f"[{text}]({url})"
    return f"{text} (`{url}`)" if url and url != text else text


def decision_description(decision: Decision, version: str, run_link: str = "", flow_run_url: str | None = None) -> str:
    """The version page's description (markdown): the decision, both accuracies, the interval, the slice
    checks in one line, and links to the training run and the Prefect flow run."""
    figures = decision.figures
    verdict = "Promoted to champion" if decision.promote else "Not promoted"
    lines = [
        f"**{verdict}**: {decision.reason}",
        "",
        f"Challenger v{version}: accuracy {fmt_figure(figures, 'challenger_accuracy')}. "
        f"Champion {champion_label(figures)}: accuracy {fmt_figure(figures, 'champion_accuracy')}.",
        f"Accuracy difference {fmt_figure(figures, 'diff')}, interval [{fmt_figure(figures, 'diff_low')}, "
        f"{fmt_figure(figures, 'diff_high')}] on {int(figures.get('n_pairs', 0))} held-out pairs.",
        f"Slices: {slice_summary(decision)} (figures on the training run).",
    ]
    if run_link:
        lines += ["", f"Training run: {markdown_link(run_link, run_link)}"]
    if flow_run_url:
        lines += ["", f"Prefect flow run: {markdown_link(flow_run_url, flow_run_url)}"]
    return "\n".join(lines)


def describe_version(name: str, version: str, description: str) -> None:
    client().update_model_version(name, version, description=description)


def ui_server(tracking_uri: str) -> str | None:
    """The MLflow UI that shows this store: the tracking server itself, or the one `rewardflow up` names
    for the store file its runner writes (MLFLOW_UI_ENV); None for a store no UI serves."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    server = os.environ.get(MLFLOW_UI_ENV)
    return server.rstrip("/") if server else None


def version_url(tracking_uri: str, name: str, version: str) -> str | None:
    """The MLflow UI page of a model version; None where no UI serves the store."""
    server = ui_server(tracking_uri)
    return f"{server}/#/models/{name}/versions/{version}" if server else None


def version_reference(tracking_uri: str, name: str, version: str) -> str:
    """The version's UI page, else its `models:/` URI and store: something a person can open or load."""
    return version_url(tracking_uri, name, version) or f"models:/{name}/{version} (store {tracking_uri})"


def outcome_line(decision: Decision, name: str, version: str, reference: str) -> str:
    """The run's last log line: decision, both accuracies, the interval, and where the version is.

    `reward-model v3 promoted to champion: accuracy 0.6200 vs champion v2 0.5800, difference +0.0400
    [-0.0100, +0.0900] on 43 pairs; http://127.0.0.1:5000/#/models/reward-model/versions/3`
    """
    figures = decision.figures
    verdict = "promoted to champion" if decision.promote else "not promoted"
    blocked = f" (blocked by {', '.join(decision.blocked_by)})" if decision.blocked_by else ""
    if "champion_accuracy" not in figures and "accuracy_low" in figures:  # the first model, against the floor
        floor = figures.get("first_champion_floor")
        against = "no floor" if floor is None else f"the first-champion floor {floor:g}"
        return (
            f"{name} v{version} {verdict}{blocked}: accuracy {fmt_figure(figures, 'challenger_accuracy')} "
            f"[{figures['accuracy_low']:.4f}, {figures['accuracy_high']:.4f}] on {int(figures.get('n_pairs', 0))} "
            f"pairs, no champion yet, against {against}; {reference}"
        )
    diff = figures.get("diff")
    diff_text = "n/a" if diff is None or diff != diff else f"{diff:+.4f}"
    low, high = figures.get("diff_low"), figures.get("diff_high")
    interval = "" if low is None or low != low else f" [{low:+.4f}, {high:+.4f}]"
    return (
        f"{name} v{version} {verdict}{blocked}: accuracy {fmt_figure(figures, 'challenger_accuracy')} vs champion "
        f"{champion_label(figures)} {fmt_figure(figures, 'champion_accuracy')}, difference {diff_text}{interval} "
        f"on {int(figures.get('n_pairs', 0))} pairs; {reference}"
    )


def run_description(
    title: str, decision: Decision, name: str, version: str, version_ref: str, flow_run_url: str | None
) -> str:
    """The MLflow run's Description (markdown): the outcome, with links to the version and the flow run."""
    verdict = "promoted to champion" if decision.promote else "not promoted"
    lines = [f"**{title}**: {verdict}. {decision.reason}", ""]
    lines.append(f"- Model version: {markdown_link(f'{name} v{version}', version_ref)}")
    if flow_run_url:
        lines.append(f"- Prefect flow run: {markdown_link(flow_run_url, flow_run_url)}")
    lines.append(f"- Slices: {slice_summary(decision)}; table `gate/checks.json`, metrics `gate_slice.*`")
    return "\n".join(lines)


def withdraw_challenger(name: str, version: str) -> bool:
    """Take `challenger` off a version the gate rejected: the alias names a version awaiting or passing
    the gate, never one known to be worse. Returns whether it was moved."""
    mlflow_client = client()
    if str(mlflow_client.get_registered_model(name).aliases.get(CHALLENGER)) != str(version):
        return False
    mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    return True


@task(name="show-decision", cache_policy=NO_CACHE)
def show_decision(
    run_id: str,
    title: str,
    name: str,
    version: str,
    decision: Decision,
    run_link: str = "",
) -> str:
    """Put the outcome where people look; returns the line the flow's log ends with.

    The run is named after its version, the version's description states the decision, the run's
    description links the version and the Prefect flow run, the Logged Model gets its metrics, params
    and version, and a rejected version loses `challenger`.
    """
    mlflow_client = client()
    flow_run_url = mlflow_client.get_run(run_id).data.tags.get("prefect.flow_run_url")
    name_run(run_id, title)
    described = decision_description(decision, version, run_link, flow_run_url)
    describe_version(name, version, described)
    reference = version_reference(mlflow.get_tracking_uri(), name, version)
    mlflow_client.set_tag(run_id, NOTE_TAG, run_description(title, decision, name, version, reference, flow_run_url))
    link_logged_model(run_id, name, version, description=described)
    if not decision.promote:
        withdraw_challenger(name, version)
    return outcome_line(decision, name, version, reference)
