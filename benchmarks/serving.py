"""What the reward-server benchmarks share: the hh-rlhf texts, one saved MiniLM model, a server process.

Used by `bench_serve.py` (throughput against a one-request-at-a-time server), `bench_serve_fairness.py`
(a one-text request's latency while a maximal request runs) and `bench_serve_precision.py` (bf16 against
fp32 rewards). A server runs as its own process on 127.0.0.1, so the clients' threads and the server's
event loop do not share one interpreter lock: `running(argv, port, log)` starts it, waits until its
`/health` answers (the model is loaded) and stops it on the way out, even when the measurement fails.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def load_texts(path: Path, n: int) -> list[str]:
    """The first `n` hh-rlhf rows of `path`, each as the text a reward model scores: prompt + chosen reply."""
    with gzip.open(path, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(n), lines, strict=False)]
    return [row.get("prompt", "") + row["chosen"] for row in rows]


def save_model(folder: Path) -> Path:
    """MiniLM with a seeded reward head, saved once so every server of a run loads identical weights."""
    import torch

    from rmcore import load_reward_model
    from rmcore.models.loading import default_model_path

    torch.manual_seed(0)
    model, tokenizer = load_reward_model(default_model_path())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_argv(home: str, model_dir: Path, port: int, precision: str, *extra: str) -> list[str]:
    """The `rewardflow serve` command for the model folder `model_dir`; `extra` adds more of its flags."""
    argv = [sys.executable, "-m", "rewardflow.cli", "serve", "--home", home, "--model", str(model_dir)]
    return argv + ["--port", str(port), "--precision", precision, *extra]


@contextlib.contextmanager
def running(argv: list[str], port: int, log: Path, timeout: float = 300.0) -> Iterator[str]:
    """Run the server `argv` (listening on `port`, output to `log`) and yield its URL once `/health` answers."""
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {log}:\n{log.read_text()[-2000:]}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"server on port {port} did not load its model within {timeout:.0f}s; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
