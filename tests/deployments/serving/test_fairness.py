"""Over real HTTP: a one-text request is answered within a few idle latencies while a maximal request runs."""

from __future__ import annotations

import statistics
import threading
import time

import httpx

from tests.deployments.serving.serve_helpers import running, wait_for
from tests.tasks import mlflow_fixtures as fx

model_dirs = fx.model_dirs
ONE = {"query": ["Human: hi\n\nAssistant: sun happy bright"]}
MAX_TEXTS, MAX_LENGTH = 512, 128  # the tiny model's position limit: every long text is cut to 128 tokens
# Few enough that the shared 2-core machine stays quick; the maximal request is still ~60 slices long.
LIMITS = {"max_texts": MAX_TEXTS, "max_chars": 4000, "max_tokens": MAX_TEXTS * MAX_LENGTH}


def latency(http: httpx.Client, url: str) -> float:
    sent = time.perf_counter()
    response = http.post(f"{url}/get_reward", json=ONE)
    assert response.status_code == 200, response.text
    return time.perf_counter() - sent


def waiting_texts(http: httpx.Client, url: str) -> int:
    return http.get(f"{url}/health").json()["waiting"]["texts"]


def test_a_one_text_request_is_not_held_behind_a_maximal_one(model_dirs, tmp_path):
    maximal = {"query": [f"question {i} " + "sun rain warm cold " * 100 for i in range(MAX_TEXTS)]}
    with running(tmp_path, model=str(model_dirs["good"]), **LIMITS) as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health").status_code == 200, 60, "the model to load")
        with httpx.Client(timeout=120) as http:
            for _ in range(3):  # warm-up
                latency(http, srv.url)
            idle = statistics.median(latency(http, srv.url) for _ in range(9))

            big: dict[str, float] = {}

            def send_maximal() -> None:
                response = httpx.post(f"{srv.url}/get_reward", json=maximal, timeout=300)
                assert response.status_code == 200 and len(response.json()["rewards"]) == MAX_TEXTS
                big["done"] = time.perf_counter()

            big["sent"] = time.perf_counter()
            thread = threading.Thread(target=send_maximal)
            thread.start()
            # Back to back until the maximal request is answered: /health until it shows the maximal request's
            # texts waiting (tokenized, in the scorer), then one-text requests, each sent while it was scored.
            # Polled without pause, the scoring phase (dozens of slices) cannot slip between two looks.
            reached_scorer = False
            during = []
            while "done" not in big and time.perf_counter() - big["sent"] < 120:
                if not reached_scorer:
                    reached_scorer = waiting_texts(http, srv.url) > 0
                    continue
                took = latency(http, srv.url)
                if "done" not in big:  # answered before the maximal request: it competed with it
                    during.append(took)
            thread.join(300)

    assert "done" in big, "the maximal request was not answered"
    assert len(during) >= 5, f"only {len(during)} one-text requests were answered while the maximal one ran"
    ratio = statistics.median(during) / idle
    total = big["done"] - big["sent"]
    print(
        f"one-text latency while a maximal request runs: {ratio:.1f}x the idle latency ({idle * 1e3:.0f} ms); "
        f"the maximal request took {total / idle:.0f}x ({len(during)} one-text requests answered meanwhile)"
    )
    assert ratio < 10, f"one-text requests took {ratio:.1f}x their idle latency while a maximal request ran"
