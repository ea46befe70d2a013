"""`rewardflow status --home DIR`: where the pipeline stands, then the processes `rewardflow up` started.

The pipeline's state is read from the home itself, so it is there with the servers down: the registry's
`champion` and `challenger` and the last training run with its gate decision, from the home's MLflow
store file; the batches the health check holds, from the data store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployments.flags import FlagParser
from deployments.servers import export_lines, read_record, server_status
from tasks.data.holds import read_holds
from tasks.defaults import EXPERIMENT, StoreArguments

RUN_KIND_TAG, INGEST_KIND = "rewardflow.run_kind", "ingest"  # as `tasks.tracking.run_log` tags ingest runs


@dataclass
class PipelineState:
    """What `status` reports besides the processes, as lines; each says "none yet" rather than nothing."""

    registry: list[str]
    last_run: list[str]
    held: list[str]

    def lines(self) -> list[str]:
        return [*self.registry, *self.last_run, *self.held]


def version_line(alias: str, name: str, version: Any | None) -> str:
    """`  champion    v3  accuracy 0.6200 on 43 held-out pairs (promoted)`, or `none yet`."""
    if version is None:  # a rejected challenger loses the alias: none then means none awaiting the gate
        return f"  {alias:<11} none" + (" yet" if alias == "champion" else " awaiting the gate")
    tags = version.tags
    accuracy = tags.get("gate.challenger_accuracy")
    figures = f"accuracy {float(accuracy):.4f}" if accuracy else "not gated yet"
    if accuracy and tags.get("gate.n_pairs"):
        figures += f" on {int(float(tags['gate.n_pairs']))} held-out pairs"
    decision = tags.get("gate.decision", "awaiting the gate")
    return f"  {alias:<11} v{version.version}  {figures} ({decision})  models:/{name}@{alias}"


def registry_lines(client: Any, name: str) -> list[str]:
    """The champion and challenger of registered model `name`."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        aliases = {}
    lines = [f"Registered model {name}:"]
    for alias in ("champion", "challenger"):
        version = client.get_model_version(name, str(aliases[alias])) if alias in aliases else None
        lines.append(version_line(alias, name, version))
    return lines


def last_run_lines(client: Any, experiment: str) -> list[str]:
    """The newest training run of `experiment` (ingest runs aside): name, state, gate decision, accuracy."""
    found = client.get_experiment_by_name(experiment)
    runs = [] if found is None else client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"])
    runs = [r for r in runs if r.data.tags.get(RUN_KIND_TAG) != INGEST_KIND]
    if not runs:
        return ["Last run: none yet"]
    run = runs[0]
    decision = run.data.tags.get("gate.decision")
    outcome = f"decision {decision}: {run.data.tags.get('gate.reason', '')}" if decision else "no gate decision"
    accuracy = run.data.metrics.get("eval_accuracy")
    scored = f", eval accuracy {accuracy:.4f}" if accuracy is not None else ""
    return [f"Last run: '{run.info.run_name}' {run.info.status}{scored}; {outcome} (run {run.info.run_id})"]


def held_lines(home: Path) -> list[str]:
    """The batches left out of training, each with how to release it."""
    holds = read_holds(home / "store")
    if not holds:
        return ["Held batches: none"]
    lines = ["Held batches (stored, not trained on):"]
    for batch, entry in sorted(holds.items()):
        reasons = "; ".join(entry.get("reasons", []))
        lines.append(f"  {batch}: {reasons}  (release: rewardflow release {batch} --home {home})")
    return lines


def pipeline_state(home: Path, name: str, experiment: str, uri: str) -> PipelineState:
    """Read the registry, the last run and the holds of `home` in the resolved store `uri`; an absent store
    file means nothing yet, and none is created."""
    from tasks.tracking.store import client, missing_store_file, use_tracking

    if (db := missing_store_file(uri)) is not None:
        registry = [
            f"Registered model {name}:",
            version_line("champion", name, None),
            version_line("challenger", name, None),
        ]
        return PipelineState(registry, [f"Last run: none yet (no MLflow store at {db})"], held_lines(home))
    use_tracking(uri)
    mlflow_client = client()
    registry, last_run = registry_lines(mlflow_client, name), last_run_lines(mlflow_client, experiment)
    return PipelineState(registry, last_run, held_lines(home))


def last_flow_run_line(api_url: str, deployment: str = "reward-model/nightly") -> str:
    """The newest run of the nightly deployment with its state message (a run may fail before it has an
    MLflow run, e.g. on an empty store); a line saying why not when the Prefect server does not answer."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(deployment)
            runs = client.read_flow_runs(  # started ones: the next scheduled night is not "the last run"
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False)),
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
    except Exception as err:  # a status report must not fail on a server that is down or half up
        return f"Last flow run of {deployment}: unknown ({type(err).__name__} from {api_url})"
    if not runs:
        return f"Last flow run of {deployment}: none yet"
    run = runs[0]
    message = f": {run.state.message}" if run.state and run.state.message else ""
    ui = api_url.rstrip("/").removesuffix("/api")
    return f"Last flow run of {deployment}: '{run.name}' {run.state_name}{message} ({ui}/runs/flow-run/{run.id})"


def server_lines(home: str) -> tuple[list[str], bool]:
    """The processes `up` recorded, alive or dead, and the exports; and whether all recorded ones are alive."""
    rows = server_status(home)
    if not rows:
        return [f"Servers: none running (start them with `rewardflow up --home {home}`)"], True
    lines = ["Servers:"]
    for row in rows:
        state = "alive" if row["alive"] else "DEAD"
        lines.append(f"  {row['name']:<8} pid {row['pid']:<8} {state:<6} {row['url']}  (log: {row['log']})")
    record = read_record(home) or {}
    if any(row["name"] == "prefect" and row["alive"] for row in rows):
        lines.insert(0, last_flow_run_line(record["prefect_api_url"]))
    lines += export_lines(record)
    return lines, all(row["alive"] for row in rows)


def build_parser() -> FlagParser:
    parser = FlagParser(StoreArguments, prog="rewardflow status", description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, help="Pipeline home given to `rewardflow up` or `rewardflow run`.")
    parser.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment of the training runs.")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    home = Path(args.home).expanduser().resolve()
    from tasks.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri, home)
    print("\n".join(pipeline_state(home, args.registered_model_name, args.experiment, uri).lines()))
    lines, alive = server_lines(str(home))
    print("\n".join(lines))
    return 0 if alive else 1
