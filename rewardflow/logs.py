"""Where a command's logs go: everything, tracebacks included, to `HOME/logs/rewardflow.log`; the terminal
gets the messages without tracebacks, and none of the libraries' internal error chatter.

A failing MLflow store call logs "SQLAlchemy database error" with a full traceback for every attempt,
and Prefect logs the traceback of every failed task run: dozens of screens before the one line that
matters. The log file keeps all of it for whoever debugs; the terminal shows what happened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_NAME = "rewardflow.log"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Loggers whose errors are internal detail: the command reports the failure itself, once.
FILE_ONLY_LOGGERS = ("mlflow.store.db", "sqlalchemy", "alembic", "urllib3.connectionpool")
# Loggers that set propagate=False and keep their own terminal handler.
OWN_HANDLER_LOGGERS = ("mlflow", "prefect", "prefect.flow_runs", "prefect.task_runs", "uvicorn", "fastapi")


def flag_value(argv: list[str], flag: str, default: str) -> str:
    """The value of `flag` in `argv` (`--flag X` or `--flag=X`, in either spelling: `--output_dir`,
    `--output-dir`), else `default`."""
    from deployments.flags import flag_names

    spellings = flag_names(flag.removeprefix("--"))
    for i, arg in enumerate(argv):
        if arg in spellings and i + 1 < len(argv):
            return argv[i + 1]
        name, equals, value = arg.partition("=")
        if equals and name in spellings:
            return value
    return default


def log_path(argv: list[str], default_home: str, flag: str = "--home") -> Path:
    """`HOME/logs/rewardflow.log` for the folder named by `flag` (the pipeline home, or train's output)."""
    return Path(flag_value(argv, flag, default_home)).expanduser() / "logs" / LOG_NAME


class WithoutTraceback(logging.Formatter):
    """Format with another formatter, leaving out the traceback (it is in the log file)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


class NotInternal(logging.Filter):
    """Keep the libraries' internal error records off the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(FILE_ONLY_LOGGERS)


def is_terminal(handler: logging.Handler) -> bool:
    """A handler that writes to a console stream (Prefect's, MLflow's, logging's), not to a file."""
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def quiet_terminal(logger: logging.Logger) -> None:
    """Terminal handlers of `logger`: no tracebacks, no internal records (idempotent)."""
    for handler in logger.handlers:
        if is_terminal(handler) and not isinstance(handler.formatter, WithoutTraceback):
            handler.setFormatter(WithoutTraceback(handler.formatter))
            handler.addFilter(NotInternal())


class FolderMakingFileHandler(logging.FileHandler):
    """Creates the log folder and file on the first record only: a command that logs nothing (a bad flag)
    leaves no trace in the folder it was pointed at."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def writable(folder: Path) -> bool:
    """Whether `folder`, or the nearest existing folder above it, can be written."""
    folder = folder.resolve()
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK)


def send_to_file(path: Path) -> logging.Handler | None:
    """Log what reaches the root logger (Prefect's run logs at INFO, anyone's warnings), with
    tracebacks, to `path`; quiet the terminal handlers.

    Call after the libraries configured their logging (importing Prefect and MLflow does), so their
    handlers exist. Returns the file handler, or None when the folder cannot be written (then the
    terminal keeps the tracebacks: they would be lost otherwise).
    """
    if not writable(path.parent):
        return None
    handler = FolderMakingFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    quiet_terminal(root)
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        if not logger.propagate:
            logger.addHandler(handler)
        quiet_terminal(logger)
    return handler


def close(handler: logging.Handler | None) -> None:
    """Detach and close the file handler (tests run several commands in one process)."""
    if handler is None:
        return
    for name in (None, *OWN_HANDLER_LOGGERS):
        logging.getLogger(name).removeHandler(handler)
    handler.close()
