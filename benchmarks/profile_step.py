"""Where an rmcore training step spends its time: torch.profiler over a few steps of MiniLM on shared pairs.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo; without it, it says so and
exits 0. Run: `python benchmarks/profile_step.py` (fp32, 4 profiled steps of 16 pairs after 1 warm-up
step), `--bf16` for bf16 autocast, or `--help`. Prints the ops by self CPU time and the optimizer's share.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.runs import DATA  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="Profiled optimizer steps.")
    parser.add_argument("--batch-size", type=int, default=16, help="Pairs per step.")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32).")
    parser.add_argument("--rows", type=int, default=15, help="Ops to list.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: shared pairs not found at {DATA}")
        return 0
    import tempfile

    from datasets import Dataset
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

    from rmcore import RewardConfig, RewardTrainer
    from rmcore.models.loading import default_model_path

    n_pairs = args.batch_size * (args.steps + 1)
    with gzip.open(DATA, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(n_pairs), lines, strict=False)]
    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    prof = profile(
        activities=[ProfilerActivity.CPU],
        schedule=__import__("torch").profiler.schedule(wait=0, warmup=1, active=args.steps, repeat=1),
        acc_events=True,  # keep the active steps' events once the schedule's cycle ends
    )

    class Step(TrainerCallback):
        def on_step_end(self, *a, **k):
            prof.step()

    with tempfile.TemporaryDirectory() as out:
        config = RewardConfig(output_dir=out, report_to="none", disable_tqdm=True, save_strategy="no", bf16=args.bf16,
                              per_device_train_batch_size=args.batch_size, num_train_epochs=1)  # fmt: skip
        trainer = RewardTrainer(
            model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )
        trainer.add_callback(Step())
        with prof:
            trainer.train()
    averages = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in averages)
    optimizer = sum(e.cpu_time_total for e in averages if e.key.startswith("Optimizer.step"))
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(f"optimizer step: {100 * optimizer / total:.1f}% of self CPU time ({config.optim})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
