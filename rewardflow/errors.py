"""One clear last line per failure: what failed, what was left unchanged, what to do.

`run_command` runs a subcommand's `main`, sends the logs and any traceback to `HOME/logs/rewardflow.log`
(see `rewardflow.logs`) and turns the exception into that line. The rules look at the whole exception
chain, since a library usually wraps the cause (MLflow wraps SQLite's "readonly database", Prefect
re-raises the task's error).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rewardflow import logs
from tasks.defaults import DEFAULT_HOME, DEMO_HOME

# What a failed command leaves as it was, by command: each command only changes things at its end.
UNCHANGED = {
    "run": "the model registry and its champion are unchanged",
    "demo": "the model registry and its champion are unchanged",
    "train": "no model was saved to the output folder",
    "ingest": "the data store is unchanged",
    "evaluate": "nothing was written",
    "validate": "nothing was written",
    "benchmark": "no benchmark was pinned or removed",
}
DEFAULT_HOMES = {"demo": DEMO_HOME}
INTERRUPTED = 130  # 128 + SIGINT, what shells expect after Ctrl-C


@dataclass
class Failure:
    """The parts of the last line, and the exit status."""

    what: str
    unchanged: str
    todo: str
    code: int = 1

    def line(self, command: str) -> str:
        parts = [f"rewardflow {command}: {self.what}"]
        parts += [p for p in (self.unchanged, self.todo) if p]
        return "; ".join(parts)


def chain(err: BaseException) -> Iterator[BaseException]:
    """`err` and its causes and contexts, outermost first (each once)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _matches(err: BaseException, *needles: str) -> bool:
    text = str(err).lower()
    return any(needle in text for needle in needles)


def store_failure(err: BaseException, unchanged: str) -> Failure | None:
    """A read-only, locked or unreachable MLflow store."""
    for cause in chain(err):
        if _matches(cause, "readonly database", "read-only file system") or (
            isinstance(cause, PermissionError) and "mlflow" in str(cause)
        ):
            return Failure(
                "the MLflow store is read-only",
                unchanged,
                "make the store file and its folder writable (chmod u+w), or pass --tracking_uri",
            )
        if _matches(cause, "database is locked", "database table is locked"):
            return Failure(
                "the MLflow store stayed locked by another process",
                unchanged,
                "rerun when the other run has finished (it resumes where this one stopped)",
            )
        if isinstance(cause, ConnectionError) or _matches(
            cause, "connection refused", "max retries exceeded", "failed to establish a new connection"
        ):
            return Failure(
                f"the MLflow server is unreachable ({first_line(cause)[:160]})",
                unchanged,
                "start it with `rewardflow up --home HOME`, or pass another --tracking_uri",
            )
    return None


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC anywhere in the chain, also as text: safetensors' Rust writer says `(os error 28)`."""
    return any(
        (isinstance(cause, OSError) and cause.errno == errno.ENOSPC)
        or _matches(cause, "no space left on device", "os error 28", "storagefull")
        for cause in chain(err)
    )


def last_complete_checkpoint(argv: list[str], command: str) -> Path | None:
    """The newest complete checkpoint the failed command can resume from: under `--output_dir` for `train`,
    under `HOME/runs/*/train` for `run` and `demo`; None when there is none."""
    from tasks.training.checkpoints import newest_complete_checkpoint

    if command == "train":
        folders = [Path(logs.flag_value(argv, "--output_dir", ".")).expanduser()]
    elif command in ("run", "demo"):
        home = Path(logs.flag_value(argv, "--home", DEFAULT_HOMES.get(command, DEFAULT_HOME))).expanduser()
        folders = [run / "train" for run in (home / "runs").glob("*")]
    else:
        return None
    found = [c for folder in folders if (c := newest_complete_checkpoint(folder)) is not None]
    return max(found, key=lambda c: c.stat().st_mtime) if found else None


def disk_failure(err: BaseException, unchanged: str, checkpoint: Path | None = None) -> Failure | None:
    """A full disk: say what to do, and the checkpoint a rerun resumes from (`last_complete_checkpoint`)."""
    if not is_disk_full(err):
        return None
    resume = (
        f"it resumes from the last complete checkpoint, {checkpoint}"
        if checkpoint is not None
        else "no complete checkpoint was saved, so it starts over"
    )
    todo = f"free some space (see `df -h`) and rerun the same command: {resume}"
    return Failure("the disk is full (No space left on device)", unchanged, todo)


def interrupted(err: BaseException, command: str) -> Failure | None:
    if not isinstance(err, KeyboardInterrupt):
        return None
    checkpoint = getattr(err, "checkpoint", None)
    if checkpoint is None:
        return Failure("stopped by Ctrl-C", UNCHANGED.get(command, ""), "rerun the same command", INTERRUPTED)
    resume = (
        f"resume with the same command plus --resume_from_checkpoint {checkpoint}"
        if command == "train"
        else "rerun the same command: it resumes from that checkpoint"
    )
    return Failure(first_line(err), UNCHANGED.get(command, ""), resume, INTERRUPTED)


def explain(err: BaseException, command: str, argv: list[str] | None = None) -> Failure:
    """The one-line account of `err` raised by `rewardflow command` run with `argv` (where its checkpoints are)."""
    from deployments.events import NotAnnounced  # imports Prefect: only once a command has failed

    unchanged = UNCHANGED.get(command, "")
    if isinstance(err, NotAnnounced):  # names the Prefect server and what to do; its refused connection is not MLflow's
        return Failure(first_line(err), unchanged, "")
    checkpoint = last_complete_checkpoint(argv, command) if argv is not None and is_disk_full(err) else None
    disk = disk_failure(err, unchanged, checkpoint)
    for rule in (interrupted(err, command), disk, store_failure(err, unchanged)):
        if rule is not None:
            return rule
    if isinstance(err, sqlite3.Error):
        return Failure(f"the MLflow store failed ({first_line(err)})", unchanged, "see the log file")
    # Our own checks raise ValueError/FileNotFoundError/LookupError whose message already says what to do.
    return Failure(first_line(err), unchanged, "")


def failure_logger(handler: logging.Handler | None) -> logging.Logger:
    """A logger that writes only to the log file (the terminal gets the one line)."""
    logger = logging.getLogger("rewardflow.failure")
    logger.propagate = False
    logger.handlers = [handler] if handler is not None else []
    return logger


def run_command(main: Callable[[list[str]], int], argv: list[str], command: str) -> int:
    """`main(argv)`, with logs and tracebacks in the log file and one last line per failure."""
    flag = "--output_dir" if command == "train" else "--home"  # `train` has no home: its output folder
    path = logs.log_path(argv, DEFAULT_HOMES.get(command, DEFAULT_HOME), flag)
    # Both configure their loggers on import (`import prefect` alone defers it): let them, then add ours.
    import mlflow  # noqa: F401
    import prefect.main  # noqa: F401

    handler = logs.send_to_file(path)
    if handler is None:  # a read-only home: the traceback still goes to a file, not the terminal
        path = Path(tempfile.gettempdir()) / "rewardflow-logs" / logs.LOG_NAME
        handler = logs.send_to_file(path)
    try:
        return int(main(argv) or 0)
    except SystemExit:
        raise
    except BaseException as err:
        failure = explain(err, command, argv)
        failure_logger(handler).error("rewardflow %s %s failed", command, " ".join(argv), exc_info=err)
        where = f" (details: {path})" if handler is not None else ""
        print(failure.line(command) + where, file=sys.stderr, flush=True)
        if handler is None:
            raise
        return failure.code
    finally:
        logs.close(handler)
