"""What `rewardflow ingest` shows beyond its counts: the slow health-check phase as it runs, the batch's
MLflow run, and the flow run that its event started (or why none started).

Scoring the batch with the champion can take a minute on a CPU, and the training it triggers runs in
the deployment runner: without these lines the command is silent, then says "event emitted" and nothing
tells a person where the training is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deployments.servers import read_record

# How long `ingest` waits for the automation to start a flow run: Prefect's triggers act within seconds.
TRIGGER_WAIT_SECONDS = 30.0


def phased(scorer: Callable | None, show: Callable[[str], None]) -> Callable | None:
    """`scorer` (a `tasks.data.health.ChampionOnBatch`) with a line before and after it runs."""
    if scorer is None:
        return None

    def score(batch: Any) -> Any:
        show(f"Health check: the champion, if any, scores the {len(batch)} new pair(s) (about a minute on a CPU)...")
        start = time.monotonic()
        scored = scorer(batch)
        outcome = "no champion to score them" if scored is None else f"champion accuracy {scored[0].mean():.3f} on them"
        show(f"Health check: {outcome} ({time.monotonic() - start:.0f}s)")
        return scored

    return score


def batch_run_line(home: Path, report: Any) -> str | None:
    """Log the batch as an MLflow run `ingest <batch>` (health figures and table); say where it is.

    The run goes to the process-wide store `rewardflow ingest` opened, the one the health check's
    champion came from.
    """
    import mlflow

    from tasks.tracking.run_log import log_ingest_run
    from tasks.tracking.runs import run_url
    from tasks.tracking.store import client

    run_id = log_ingest_run(home, report)
    if run_id is None:
        return None
    tracking_uri = mlflow.get_tracking_uri()
    experiment_id = client().get_run(run_id).info.experiment_id
    ui = (read_record(home) or {}).get("mlflow_tracking_uri")  # the UI `rewardflow up` serves for this store
    shown = run_url(ui if ui and tracking_uri.startswith("sqlite:") else tracking_uri, experiment_id, run_id)
    return f"Health figures: MLflow run 'ingest {report.batch_id}': {shown}"


def listening_automations(client: Any, event: str) -> list[Any]:
    """The enabled automations whose trigger expects `event`."""
    return [a for a in client.read_automations() if a.enabled and event in (getattr(a.trigger, "expect", None) or ())]


def started_runs(client: Any, automation_ids: list[Any], since: datetime) -> list[Any]:
    """Flow runs those automations created after `since`, newest first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterCreatedBy
    from prefect.client.schemas.sorting import FlowRunSort

    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(created_by=FlowRunFilterCreatedBy(id_=automation_ids)),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=10,
    )
    return [r for r in runs if r.created and r.created >= since]


def triggered_run_line(api_url: str, event: str, since: datetime, wait: float = TRIGGER_WAIT_SECONDS) -> str:
    """The flow run the event started, with its UI page; or why none did."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ui = api_url.rstrip("/").removesuffix("/api")
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        automations = listening_automations(client, event)
        if not automations:
            return (
                f"No automation on {ui} listens for {event} (is the deployment runner of `rewardflow up` "
                "running?): no training starts now; the nightly run will train on these pairs."
            )
        deadline = time.monotonic() + wait
        while True:
            runs = started_runs(client, [a.id for a in automations], since)
            if runs or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
    if not runs:
        names = ", ".join(repr(a.name) for a in automations)
        return f"No flow run started within {wait:.0f}s although {names} listens for {event}; see {ui}/automations."
    run = runs[-1]  # the oldest since the event: the one it started
    return f"Training: flow run '{run.name}' ({run.state_name}), {ui}/runs/flow-run/{run.id}"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
