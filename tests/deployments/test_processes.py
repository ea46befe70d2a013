"""Process groups: spawned in their own session, seen alive, stopped whole (children included)."""

from __future__ import annotations

import os
import socket
import sys
import time

from deployments.processes import group_alive, is_alive, log_tail, port_is_free, spawn, stop_group


def test_stop_kills_the_whole_process_group(tmp_path):
    # A leader that starts a child in its own group, as `mlflow server` starts uvicorn.
    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    pid = spawn([sys.executable, "-c", code], {}, str(tmp_path / "toy.log"), str(tmp_path))
    time.sleep(0.5)
    assert is_alive(pid) and group_alive(pid)
    assert stop_group(pid, timeout=5) == "stopped"
    assert not group_alive(pid) and not is_alive(pid)
    assert stop_group(pid, timeout=5) == "already gone"


def test_spawn_sends_output_to_the_log_and_a_dead_pid_is_not_alive(tmp_path):
    log = tmp_path / "logs" / "echo.log"
    pid = spawn([sys.executable, "-c", "print('hello from the child')"], {}, str(log), str(tmp_path))
    os.waitpid(pid, 0)  # our own child: reap it, as init does for the servers of `rewardflow up`
    assert not is_alive(pid) and log_tail(str(log)) == "hello from the child"
    assert log_tail(str(tmp_path / "missing.log")) == "(no log)"


def test_a_bound_port_is_not_free():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free("127.0.0.1", sock.getsockname()[1])
