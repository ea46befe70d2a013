"""One of the concurrent writers of the race test: log a whole run to a shared MLflow SQLite store.

Usage: python mlflow_writer.py HOME WORKER WRITERS
Imports first, then waits at a file barrier (HOME/ready/<worker>) until all WRITERS are ready, so that
they hit the store together.
Not a test module (no `test_` prefix).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tasks.tracking.runs import end_run, ensure_experiment, log_metrics, log_params, log_text, set_tags, start_run
from tasks.tracking.store import default_tracking_uri, use_tracking


def barrier(folder: Path, worker: int, writers: int, timeout: float = 120.0) -> None:
    """Mark this writer ready and wait until every writer is."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(worker)).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < writers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(folder.iterdir()))} of {writers} writers got ready")
        time.sleep(0.01)


def main(home: str, worker: int, writers: int) -> None:
    barrier(Path(home) / "ready", worker, writers)
    use_tracking(default_tracking_uri(home))  # a fresh store: the first writers race to create it
    experiment_id = ensure_experiment("race", home)
    run_id = start_run(experiment_id, run_name=f"writer-{worker}", tags={"worker": worker})
    log_params(run_id, {f"p{i}": i * worker for i in range(30)})
    for step in range(5):
        log_metrics(run_id, {"loss": 1.0 / (step + 1), "worker": float(worker)}, step=step)
    set_tags(run_id, {"phase": "done"})
    log_text(run_id, f"writer {worker}\n", "note.txt")
    end_run(run_id)
    print(f"writer {worker} ok {run_id}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
