"""One training run in a fresh process: rmcore or TRL on the first N shared pairs, scored on the last M.

Used by `bench_vs_trl.py` (speed and accuracy against TRL) and `sweep_defaults.py` (which defaults
give the best held-out accuracy). A fresh interpreter per run makes peak memory that run's own.
`spawn(job)` runs `python benchmarks/runs.py --worker JOB` and reads its JSON answer. A job is a dict:
system ("rmcore", "rmcore-padded", "trl", "trl-matched"), data, n_train, n_eval, common (arguments both
trainers take), and optionally rmcore_args (more RewardConfig fields), head_init ("default" | "zero") and
bf16 (the precision of rmcore and trl-matched; default: bf16 where the CPU has it natively).
"""

from __future__ import annotations

import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def pick(flag: str, value: str, choices) -> list[str]:
    """The comma-separated names of a --flag, each one of `choices`; exits with the valid names otherwise."""
    names = [name for name in value.split(",") if name]
    unknown = set(names) - set(choices)
    if unknown:
        raise SystemExit(f"{flag}: unknown {sorted(unknown)}; choose from {list(choices)}")
    return names


def load_rows(path: Path, n_train: int, n_eval: int) -> tuple[list[dict], list[dict]]:
    """First n_train pairs to train on, last n_eval pairs held out; refuses overlapping splits."""
    rows = [json.loads(line) for line in gzip.open(path, "rt")]
    if n_train + n_eval > len(rows):
        raise ValueError(f"{path}: {len(rows)} pairs, fewer than --n-train {n_train} + --n-eval {n_eval}")
    return rows[:n_train], rows[len(rows) - n_eval :]


class CountingCollator:
    """Wraps a collator to count the pairs it batches and the real and padded tokens TRL computes."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.pairs = 0
        self.real = 0
        self.computed = 0
        self.lengths: list[int] = []

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collator(features)
        self.pairs += len(features)
        masks = [batch[k] for k in ("attention_mask", "attention_mask_chosen", "attention_mask_rejected") if k in batch]
        for mask in masks:
            self.real += int(mask.sum())
            self.computed += mask.numel()
            self.lengths.extend(mask.sum(-1).tolist())
        return batch


def _rmcore_trainer(model, tokenizer, train_rows, job: dict, out_dir: str):
    from datasets import Dataset

    from rmcore import RewardConfig, RewardTrainer

    extra = {"padding_free": False} if job["system"] == "rmcore-padded" else {}
    args = RewardConfig(
        output_dir=out_dir,
        report_to="none",
        disable_tqdm=True,
        logging_steps=1,
        eval_plots=False,
        **job["common"],
        **extra,
        **job.get("rmcore_args", {}),
        **({"bf16": job["bf16"]} if "bf16" in job else {}),
    )
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(train_rows), processing_class=tokenizer
    )
    return trainer, args.bf16


def _trl_trainer(model, tokenizer, train_rows, job: dict, out_dir: str, matched: bool):
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from rmcore.forward.precision import bf16_supported

    # BERT tokenizers have no EOS, which TRL's text path appends; TRL's own tokenization of text is
    # tokenizer(text)["input_ids"], so give it exactly that.
    rows = [
        {side: tokenizer(r[side.split("_")[0]])["input_ids"] for side in ("chosen_ids", "rejected_ids")}
        for r in train_rows
    ]
    precision = {"bf16": job.get("bf16", bf16_supported())} if matched else {}
    args = RewardConfig(
        output_dir=out_dir,
        report_to="none",
        disable_tqdm=True,
        logging_steps=10**6,
        use_cpu=True,
        max_length=tokenizer.model_max_length,  # TRL's 1024 would overflow MiniLM's 512 positions
        **({"gradient_checkpointing": False} if matched else {}),
        **precision,
        **job["common"],
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    return trainer, args.bf16


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): steadier than wall time on a machine shared with other jobs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(job: dict) -> dict:
    """Train one system for one round and score the held-out pairs. Runs in a fresh process."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback, set_seed

    from benchmarks.flops import training_flops
    from rmcore import score_texts
    from rmcore.models.loading import default_model_path

    train_rows, eval_rows = load_rows(Path(job["data"]), job["n_train"], job["n_eval"])
    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_seed(job["common"]["seed"])  # the same score-head initialisation for every system in a round
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    if job.get("head_init") == "zero":  # every pair starts at reward 0 and the same gradient direction
        torch.nn.init.zeros_(model.classifier.weight)
        torch.nn.init.zeros_(model.classifier.bias)
    with tempfile.TemporaryDirectory() as out_dir:
        if job["system"].startswith("rmcore"):
            trainer, bf16 = _rmcore_trainer(model, tokenizer, train_rows, job, out_dir)
        else:
            trainer, bf16 = _trl_trainer(model, tokenizer, train_rows, job, out_dir, job["system"] == "trl-matched")
        counter = CountingCollator(trainer.data_collator)
        trainer.data_collator = counter
        efficiencies: list[float] = []

        class PaddingLog(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "padding_efficiency" in logs:
                    efficiencies.append(logs["padding_efficiency"])

        trainer.add_callback(PaddingLog())
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        trainer.train()
        seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    model = trainer.model
    scores_c = score_texts(model, tokenizer, [r["chosen"] for r in eval_rows])
    scores_r = score_texts(model, tokenizer, [r["rejected"] for r in eval_rows])
    limit = tokenizer.model_max_length
    too_long = sum(max(len(tokenizer(r[s])["input_ids"]) for s in ("chosen", "rejected")) > limit for r in eval_rows)
    return {
        "system": job["system"],
        "precision": "bf16" if bf16 else "fp32",
        "seconds": seconds,
        "pairs": counter.pairs,
        "pairs_per_s": counter.pairs / seconds,
        "pairs_per_cpu_s": counter.pairs / cpu_seconds,
        "padding_efficiency": statistics.mean(efficiencies) if efficiencies else counter.real / counter.computed,
        "model_flops": training_flops(model, [min(n, limit) for n in counter.lengths]),
        "accuracy": sum(c > r for c, r in zip(scores_c, scores_r, strict=True)) / len(eval_rows),
        "dropped_train": len(train_rows) - len(trainer.train_dataset),
        "dropped_eval": 0 if job["system"].startswith("rmcore") else too_long,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def spawn(job: dict) -> dict:
    """Run `run_one` in a fresh interpreter and read its JSON answer from the last line of stdout."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{job['system']} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1:2] != ["--worker"] or len(sys.argv) != 3:
        raise SystemExit("usage: python benchmarks/runs.py --worker JOB_JSON (bench_vs_trl.py calls it)")
    print(json.dumps(run_one(json.loads(sys.argv[2]))))
