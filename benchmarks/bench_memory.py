"""Peak memory of `rewardflow ingest` (chunked load, validate, quarantine, store) at 1x, 10x and 100x the shared data.

The 1,800 hh-rlhf pairs are repeated with a variation per copy (a numbered suffix on both replies, and
every 10th row of a copy made bad in one of four ways), so no copy duplicates another and every
validation path runs. Each scale is ingested in a fresh subprocess, which reports its peak RSS
(`ru_maxrss`) and its RSS after the imports; flat chunked peaks mean memory does not grow with the data.
`--whole` adds a run with one chunk (everything in memory, as before chunking) for comparison.

    .venv/bin/python benchmarks/bench_memory.py              # 1x, 10x, 100x with 10,000-row chunks
    .venv/bin/python benchmarks/bench_memory.py --scales 1 10 --whole
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
BAD_ROWS = ('{"chosen": "same", "rejected": "same"}', '{"chosen": "only one side"}', "{not json", '["a", "b"]')


def varied_lines(base: list[dict], copies: int) -> Iterator[str]:
    """`copies` variants of the base pairs: copy k appends ` [k]` to both replies; every 10th row of a copy is bad."""
    for k in range(copies):
        for i, pair in enumerate(base):
            if k and i % 10 == 0:
                yield BAD_ROWS[(i // 10 + k) % len(BAD_ROWS)]
                continue
            suffix = f" [{k}]" if k else ""
            yield json.dumps({"chosen": pair["chosen"] + suffix, "rejected": pair["rejected"] + suffix})


def synthesise(base: list[dict], copies: int, folder: Path) -> Path:
    """Write the variants line by line (never all in memory) to a JSONL file."""
    path = folder / f"pairs-x{copies}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for line in varied_lines(base, copies):
            handle.write(line + "\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(source: str, home: str, chunk_rows: int) -> None:
    """Run in the subprocess: import, note the RSS, ingest, print one JSON line."""
    from tasks.data.config import DataConfig
    from tasks.data.ingest import ingest_files

    after_imports = current_rss_mb()
    start = time.perf_counter()
    report = ingest_files([source], Path(home), DataConfig(chunk_rows=chunk_rows, min_good_fraction=0.5))
    seconds = time.perf_counter() - start
    counts = {key: getattr(report, key) for key in ("read", "good", "quarantined", "chunks")}
    rss = {"rss_after_imports_mb": round(after_imports, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}
    print(json.dumps({**counts, "seconds": round(seconds, 1), **rss}))


def measure(source: Path, chunk_rows: int, work: Path) -> dict:
    """Ingest `source` into a fresh home in a subprocess; its JSON report."""
    home = tempfile.mkdtemp(dir=work, prefix="home-")
    cmd = [sys.executable, __file__, "--child", str(source), home, str(chunk_rows)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--chunk_rows", type=int, default=10_000)
    parser.add_argument("--whole", action="store_true", help="Also ingest each scale as one chunk.")
    args = parser.parse_args(argv)
    if not SHARED.is_file():
        print(f"skipped: shared pairs not found at {SHARED}")
        return 0
    with gzip.open(SHARED, "rt", encoding="utf-8") as handle:
        base = [json.loads(line) for line in handle if line.strip()]
    print(f"{'scale':>6} {'chunk_rows':>10} {'MB file':>8} {'read':>8} {'good':>8} {'chunks':>6} "
          f"{'s':>6} {'RSS imports':>11} {'peak RSS':>9} {'peak-imports':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        for scale in args.scales:
            source = synthesise(base, scale, work)
            size = source.stat().st_size / 2**20
            for chunk_rows in [args.chunk_rows] + ([10**9] if args.whole else []):
                r = measure(source, chunk_rows, work)
                label = "whole" if chunk_rows == 10**9 else str(chunk_rows)
                print(f"{scale:>5}x {label:>10} {size:>8.1f} {r['read']:>8} {r['good']:>8} {r['chunks']:>6} "
                      f"{r['seconds']:>6.1f} {r['rss_after_imports_mb']:>9.1f}MB {r['peak_rss_mb']:>7.1f}MB "
                      f"{r['peak_rss_mb'] - r['rss_after_imports_mb']:>10.1f}MB", flush=True)  # fmt: skip
            source.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
