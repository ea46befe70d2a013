"""Kill what a command started when the command itself is killed (kill -9) and cannot clean up.

`rewardflow run` starts Prefect's temporary API server (a uvicorn process) and, with `--num_processes`,
training workers. Killed with SIGKILL, it runs no `atexit` and they would live on, reparented to PID 1.
`python -m rewardflow.watchdog PID` runs beside it in its own session (so Ctrl-C in the terminal does
not reach it): every half second it notes PID's descendants; once PID is gone it sends them SIGTERM,
then SIGKILL to any left after a few seconds, and exits. A command that ends normally stops it first.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psutil

POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0


def start_watchdog() -> subprocess.Popen:
    """A watchdog over this process, in its own session; `.terminate()` it when this process ends normally."""
    return subprocess.Popen(
        [sys.executable, "-m", "rewardflow.watchdog", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def gone(process: psutil.Process) -> bool:
    """Ended, or a zombie waiting to be reaped (a process killed with SIGKILL is one for a moment)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def watch(pid: int, poll_seconds: float = POLL_SECONDS, grace_seconds: float = GRACE_SECONDS) -> list[int]:
    """Wait for `pid` to end, then end the descendants it left behind. Returns their pids."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    me = os.getpid()
    left: list[psutil.Process] = []
    while not gone(parent):
        try:
            left = [p for p in parent.children(recursive=True) if p.pid != me]
        except psutil.Error:
            break
        time.sleep(poll_seconds)
    alive = [p for p in left if not gone(p)]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, stubborn = psutil.wait_procs(alive, timeout=grace_seconds)
    for process in stubborn:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return [p.pid for p in alive]


def main(argv: list[str]) -> int:
    ended = watch(int(argv[0]))
    if ended:
        print(f"rewardflow watchdog: process {argv[0]} died; ended what it left running: {ended}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
