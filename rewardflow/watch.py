"""Follow a flow run from the terminal: its phases (task runs) as they start and its log lines.

`prefect deployment run --watch` prints only state changes; the training runs in the deployment
runner, whose output goes to its log file. The run's logs and task runs are on the Prefect API, so the
terminal can show them while the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.client.schemas.sorting import LogSort, TaskRunSort

INFO = 20
LAST_BATCH_SECONDS = 3.0  # Prefect sends run logs to the API every 2 s (PREFECT_LOGGING_TO_API_BATCH_INTERVAL)


@dataclass
class Follower:
    """What has been shown of one flow run: how many log lines, which task runs and the last state."""

    flow_run_id: UUID
    shown_logs: int = 0
    shown_tasks: set[UUID] = field(default_factory=set)
    state: str | None = None

    def new_lines(self, client: Any) -> list[str]:
        """Lines for what happened since the last call: new phases, new log lines, a new state."""
        lines = []
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[self.flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
        for task_run in task_runs:
            if task_run.id not in self.shown_tasks and task_run.state_name != "Pending":
                self.shown_tasks.add(task_run.id)
                lines.append(f"-- {phase(task_run.name)}")
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[self.flow_run_id])),
            sort=LogSort.TIMESTAMP_ASC,
            offset=self.shown_logs,
        )
        self.shown_logs += len(logs)
        lines += [f"   {log.message}" for log in logs if log.level >= INFO and not _routine(log)]
        run = client.read_flow_run(self.flow_run_id)
        if run.state_name != self.state:
            self.state = run.state_name
            lines.append(f"== {run.state_name}")
        return lines


def _routine(log: Any) -> bool:
    """Prefect's "Finished in state Completed()" line of each task and of the flow: the phase and state
    lines already say so (other end states are shown: they say what went wrong)."""
    return log.message.startswith("Finished in state Completed")


def phase(task_run_name: str) -> str:
    """`tokenize-pairs-3a1` -> `tokenize-pairs`: the task's name without Prefect's run suffix."""
    head, _, tail = task_run_name.rpartition("-")
    return head if head and tail.isalnum() and len(tail) <= 4 else task_run_name


def follow(
    client: Any, flow_run_id: UUID, timeout: float, show: Callable[[str], None] = print, every: float = 2.0
) -> Any:
    """Show the run's phases and logs until it ends; returns the final flow run (TimeoutError after `timeout`)."""
    follower = Follower(flow_run_id)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for line in follower.new_lines(client):
            show(f"[{time.monotonic() - start:5.0f}s] {line}")
        run = client.read_flow_run(flow_run_id)
        if run.state and run.state.is_final():
            time.sleep(max(every, LAST_BATCH_SECONDS))  # the last log lines arrive in one more batch
            for line in follower.new_lines(client):
                show(f"[{time.monotonic() - start:5.0f}s] {line}")
            return run
        time.sleep(every)
    raise TimeoutError(f"flow run {flow_run_id} still {follower.state} after {timeout:.0f}s")
