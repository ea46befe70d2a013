"""One-GPU check: rmcore (packed + prefix-shared) against TRL (padded) on a ~0.5B decoder, bf16.

Assumes: a CUDA GPU, `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo, and TRL
installed (`pip install -e ".[bench]"`); without TRL only rmcore runs. Never run by CI. Run through
`benchmarks/gpu_check.sh` (8-minute limit), or `python benchmarks/gpu_check.py --help`.
`--size tiny --device cpu --n-pairs 16` is the CPU smoke test the test suite runs.

The model is Qwen2.5-0.5B's shape built from a config (random weights, 0.49B parameters), text is
tokenized with MiniLM's WordPiece tokenizer (no decoder tokenizer ships offline). Both trainers
start from the same weights and train one epoch on the same pairs and batch size; reported per
system: pairs/s, peak GPU memory, MFU (model FLOPs on real tokens, 6N + attention, against a bf16
matmul peak measured in the same run), and, before training, the largest difference between the
rewards of rmcore's padding-free path and of padded batches on the same batches.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.flops import training_flops  # noqa: E402
from benchmarks.runs import DATA  # noqa: E402

# Qwen2 shapes: (hidden, layers, heads, kv heads, intermediate, vocab). "0.5b" is Qwen2.5-0.5B's.
SIZES = {"0.5b": (896, 24, 14, 2, 4864, 151936), "tiny": (64, 2, 4, 2, 128, 30522)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="0.5b", help="Model shape, see SIZES.")
    parser.add_argument("--device", default="cuda", help="Torch device; cpu only for the smoke test.")
    parser.add_argument("--n-pairs", type=int, default=512, help="Train on the first N pairs of the file.")
    parser.add_argument("--batch-size", type=int, default=16, help="Pairs per optimizer step.")
    parser.add_argument("--max-length", type=int, default=1024, help="Tokens per sequence (rmcore truncates left).")
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    return parser.parse_args(argv)


def build_model(size: str, pad_token_id: int, seed: int = 0) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    hidden, layers, heads, kv_heads, intermediate, vocab = SIZES[size]
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=intermediate,
        max_position_embeddings=4096,
        num_labels=1,
        pad_token_id=pad_token_id,
        use_sliding_window=False,
    )
    return Qwen2ForSequenceClassification(config)


def matmul_peak(device: str, dtype: torch.dtype = torch.bfloat16) -> float:
    """Best GFLOP/s of square matmuls on the device (8192 on GPUs, 1024 on CPUs)."""
    size = 8192 if device.startswith("cuda") else 1024
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    best = 0.0
    for _ in range(5):
        sync()
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        sync()
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def reward_gap(model, tokenizer, rows: list[dict], batch_size: int, max_length: int, device: str) -> float:
    """Largest |reward| difference, padding-free (shared prompts) vs padded batches, same weights, no grad."""
    from rmcore.data.tokenization import tokenize_pairs
    from rmcore.forward.reward_forward import padding_free_pair_rewards
    from rmcore.forward.rewards import pair_rewards
    from rmcore.training.collator import RewardDataCollatorWithPadding

    columns = tokenize_pairs(
        {"chosen": [r["chosen"] for r in rows], "rejected": [r["rejected"] for r in rows]}, tokenizer, max_length
    )
    features = [{k: columns[k][i] for k in columns} for i in range(len(rows))]
    collate = RewardDataCollatorWithPadding(tokenizer)
    gap = 0.0
    with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        for start in range(0, len(features), batch_size):
            batch = {
                k: v.to(device) if torch.is_tensor(v) else v
                for k, v in collate(features[start : start + batch_size]).items()
            }
            free = torch.cat(padding_free_pair_rewards(model, batch, share_prefix=True)[:2]).float()
            padded = torch.cat(pair_rewards(model, batch, tokenizer.pad_token_id)).float()
            gap = max(gap, float((free - padded).abs().max()))
    return gap


def train(system: str, model, tokenizer, rows: list[dict], args: argparse.Namespace, out_dir: str) -> dict:
    """One epoch of rmcore's or TRL's RewardTrainer; pairs/s, peak memory and real sequence lengths."""
    from datasets import Dataset

    common = {
        "output_dir": out_dir,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "no",
        "per_device_train_batch_size": args.batch_size,
        "num_train_epochs": 1,
        "learning_rate": 1e-5,
        "seed": 0,
        "bf16": True,
        "use_cpu": args.device == "cpu",
    }
    if system == "rmcore":
        from rmcore import RewardConfig, RewardTrainer

        config = RewardConfig(max_length=args.max_length, prefix_sharing="auto", **common)
        dataset = Dataset.from_list(rows)
    else:
        from trl import RewardConfig, RewardTrainer

        config = RewardConfig(max_length=args.max_length, gradient_checkpointing=False, **common)
        dataset = Dataset.from_list(
            [{s: tokenizer(r[s.split("_")[0]])["input_ids"] for s in ("chosen_ids", "rejected_ids")} for r in rows]
        )
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    lengths = [
        min(len(x), args.max_length)
        for r in rows
        for x in (tokenizer(r["chosen"])["input_ids"], tokenizer(r["rejected"])["input_ids"])
    ]
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
    return {"system": system, "seconds": seconds, "pairs_per_s": len(trainer.train_dataset) / seconds,
            "pairs": len(trainer.train_dataset), "peak_gib": peak, "flops": training_flops(model, lengths)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: shared pairs not found at {DATA}")
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("skipped: no CUDA GPU here (use --size tiny --device cpu for the smoke test)")
        return 0
    from transformers import AutoTokenizer

    from rmcore.models.loading import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    with gzip.open(DATA, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(args.n_pairs), lines, strict=False)]
    initial = build_model(args.size, tokenizer.pad_token_id)
    params = sum(p.numel() for p in initial.parameters()) / 1e9
    peak = matmul_peak(args.device)
    gap = reward_gap(
        copy.deepcopy(initial).to(args.device), tokenizer, rows[:64], args.batch_size, args.max_length, args.device
    )
    try:
        import trl  # noqa: F401

        systems = ["rmcore", "trl"]
    except ImportError:
        systems = ["rmcore"]
        print("TRL is not installed: rmcore only")
    print(f"{params:.2f}B-parameter Qwen2 ({args.size}), {len(rows)} pairs, batches of {args.batch_size}, bf16, "
          f"{args.device}; bf16 matmul peak {peak / 1000:.1f} TFLOP/s")  # fmt: skip
    print(f"rewards, padding-free (packed, shared prompts) vs padded, before training: max |diff| {gap:.2e}")
    results = []
    for system in systems:
        with tempfile.TemporaryDirectory() as out_dir:
            result = train(system, copy.deepcopy(initial).to(args.device), tokenizer, rows, args, out_dir)
        result["mfu"] = result["flops"] / result["seconds"] / (peak * 1e9)
        results.append(result)
        print(f"{system:<7} {result['pairs_per_s']:8.2f} pairs/s  peak {result['peak_gib']:6.2f} GiB  "
              f"MFU {100 * result['mfu']:5.1f}%  ({result['pairs']} pairs, {result['seconds']:.1f} s)")  # fmt: skip
    if len(results) == 2:
        ours, trl_run = results
        print(f"rmcore / trl: speed x{ours['pairs_per_s'] / trl_run['pairs_per_s']:.2f}, "
              f"peak memory x{ours['peak_gib'] / trl_run['peak_gib']:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"reward_gap": gap, "matmul_peak_gflops": peak, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
