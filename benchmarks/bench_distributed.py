"""Two processes (DDP over gloo on a CPU, NCCL on GPUs): padding-free batches against padded ones.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo; without it, it says so and
exits 0. Run from the repo root: `PYTHONPATH=$PWD python benchmarks/bench_distributed.py` (defaults: MiniLM,
the first 128 pairs, 8 pairs per process per step, 2 processes, 2 rounds), or `--help`.
`--n-pairs 16 --rounds 1` is a smoke test.

Each run is `rmcore.training.launch.run_distributed` of one `RewardTrainer.train()`: the same launcher
`rewardflow train --num_processes N` uses. Settings alternate within every round so machine noise hits
both alike; speed is the median `train_runtime` over rounds. Packed batches run through DDP's forward
(`rmcore.forward.reward_forward`), so both settings synchronise gradients the same way.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.runs import DATA  # noqa: E402

SETTINGS = {"packed": {}, "padded": {"padding_free": False, "prefix_sharing": "false"}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-pairs", type=int, default=128, help="Train on the first N pairs of the file.")
    parser.add_argument("--batch-size", type=int, default=8, help="Pairs per process per optimizer step.")
    parser.add_argument("--processes", type=int, default=2, help="Training processes.")
    parser.add_argument("--rounds", type=int, default=2, help="Timed rounds; each trains both settings.")
    parser.add_argument("--json", type=Path, help="Also write the summary to this file.")
    return parser.parse_args(argv)


def train_once(rows: list[dict], batch_size: int, settings: dict, out_dir: str) -> dict:
    """Run in every process: one epoch of RewardTrainer on MiniLM; rank 0's metrics come back."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rmcore import RewardConfig, RewardTrainer
    from rmcore.models.loading import default_model_path

    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    args = RewardConfig(
        output_dir=out_dir,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=1,
        per_device_train_batch_size=batch_size,
        num_train_epochs=1,
        seed=0,
        **settings,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    metrics = trainer.train().metrics
    efficiency = [e["padding_efficiency"] for e in trainer.state.log_history if "padding_efficiency" in e]
    return {"train_runtime": metrics["train_runtime"], "padding_efficiency": efficiency[-1] if efficiency else None}


def summarize(results: list[dict], n_pairs: int) -> dict[str, float]:
    """Median pairs/s of each setting and packed / padded."""
    speed = {s: statistics.median(n_pairs / r["train_runtime"] for r in results if r["setting"] == s) for s in SETTINGS}
    return {"pairs_per_s_packed": speed["packed"], "pairs_per_s_padded": speed["padded"], **{
        "speedup": speed["packed"] / speed["padded"]
    }}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: shared pairs not found at {DATA}")
        return 0
    from benchmarks.bench_distributed import train_once as worker  # by module name: the workers import it
    from rmcore.training.launch import LaunchArguments, run_distributed

    with gzip.open(DATA, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(args.n_pairs), lines, strict=False)]
    launch = LaunchArguments(num_processes=args.processes)
    results = []
    for round_ in range(args.rounds):
        names = list(SETTINGS) if round_ % 2 == 0 else list(SETTINGS)[::-1]
        for name in names:
            with tempfile.TemporaryDirectory() as work:
                job = (rows, args.batch_size, SETTINGS[name], str(Path(work) / "out"))
                result = run_distributed(worker, job, launch, work)
            results.append({"setting": name, **result})
            print(f"round {round_} {name:<6} {len(rows) / result['train_runtime']:.2f} pairs/s "
                  f"(padding efficiency {result['padding_efficiency']})", flush=True)  # fmt: skip
    summary = summarize(results, len(rows))
    print(json.dumps(summary, indent=2))
    print(f"{args.processes} processes: packed / padded x{summary['speedup']:.2f} pairs/s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
