"""Peak RSS of one `reward-model` flow run with the store at 1x, 10x and 100x the shared pairs.

The flow reads the store's ids to split and hash, streams the train pairs into an on-disk Dataset,
tokenizes that once and trains `max_steps` steps; only the (capped) eval pairs are held in memory. So its
peak should stay flat as the store grows. Each scale gets a fresh home whose store holds k copies of the
1,800 hh-rlhf pairs (copy k appends ` [k]` to both replies, so no two copies share an id), and a fresh
subprocess runs the flow (same max_steps, max_eval_pairs and model) and reports its own peak RSS.

    .venv/bin/python benchmarks/bench_flow_memory.py                 # 1x, 10x, 100x
    .venv/bin/python benchmarks/bench_flow_memory.py --scales 1 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
TRAINING = {"max_steps": 4, "per_device_train_batch_size": 8, "max_length": 128, "disable_tqdm": True}


def build_store(home: Path, copies: int) -> int:
    """`copies` varied copies of the shared pairs as store files (written as ingest writes them)."""
    from tasks.data.config import DataConfig
    from tasks.data.files import read_valid_pairs
    from tasks.data.store import append_to_store, pair_id

    base = read_valid_pairs([str(SHARED)], DataConfig())
    for k in range(copies):
        suffix = f" [{k}]" if k else ""
        copy = base.assign(chosen=base["chosen"] + suffix, rejected=base["rejected"] + suffix)
        prompts = copy["prompt"] if "prompt" in copy else [""] * len(copy)
        ids = [pair_id(c, r, p) for c, r, p in zip(copy["chosen"], copy["rejected"], prompts, strict=True)]
        append_to_store(home / "store", copy.assign(pair_id=ids))
    return len(base) * copies


def child(home: str) -> None:
    """Run the flow once on `home` and print its peak RSS (this process only) as JSON."""
    from flows.params import RewardFlowParams
    from flows.reward_model import reward_model
    from rmcore.checks.compare import PromotionRule

    start = time.perf_counter()
    params = RewardFlowParams(
        home=home, training=TRAINING, max_eval_pairs=64, promotion=PromotionRule(n_resamples=200), seed=1
    )
    summary = reward_model(params)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak_mib, "n_train": summary["n_train"], "seconds": time.perf_counter() - start}))


def run_scale(copies: int, root: Path) -> dict:
    home = root / f"home-{copies}x"
    stored = build_store(home, copies)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home / "prefect")}
    env |= {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(home)], capture_output=True, text=True, env=env, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"{copies}x: the flow failed:\n{done.stderr[-3000:]}")
    return {"copies": copies, "stored": stored, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100], help="Copies of the shared pairs.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if not SHARED.is_file():
        print(f"shared pairs not found at {SHARED}", file=sys.stderr)
        return 1
    print(f"{'store':>8} {'pairs':>8} {'train':>8} {'peak RSS':>10} {'vs first':>9} {'seconds':>8}", flush=True)
    base = None
    with tempfile.TemporaryDirectory(prefix="bench-flow-memory-") as tmp:
        for copies in args.scales:  # each row as soon as its run ends: the 100x run takes a while
            row = run_scale(copies, Path(tmp))
            base = base or row["peak_mib"]
            print(
                f"{row['copies']:>7}x {row['stored']:>8} {row['n_train']:>8} {row['peak_mib']:>7.0f} MiB "
                f"{row['peak_mib'] / base:>8.2f}x {row['seconds']:>8.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
