"""Processes in their own session: spawn, is it alive, stop its whole group. Linux (/proc), no psutil.

`rewardflow up` starts servers this way so they outlive the command; `rewardflow down` stops each group
(a server and the workers it forked) with SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a port in TIME_WAIT is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def is_alive(pid: int) -> bool:
    """Alive and not a zombie (a reaped-later child still answers kill(pid, 0))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the process group (children of a server included)?"""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_ = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields_[2]) == pgid and fields_[0] != "Z":
            return True
    return False


def spawn(argv: list[str], env: dict[str, str], log: str, cwd: str) -> int:
    """Start a process in its own session, output appended to `log`; returns its pid (= its process group)."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_file:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def log_tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_group(pgid: int, timeout: float) -> str:
    """SIGTERM the process group, SIGKILL what is left after `timeout`; returns what happened."""
    if not group_alive(pgid):
        return "already gone"
    try:
        if os.getpgid(pgid) != pgid:
            return "not ours (pid reused)"
    except ProcessLookupError:
        pass  # the leader is gone but its children are still in the group
    return _kill_group(pgid, timeout)


def _kill_group(pgid: int, timeout: float) -> str:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "already gone"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return "stopped"
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + 5.0  # SIGKILL is not instant: wait until the kernel has removed them
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return "killed"
