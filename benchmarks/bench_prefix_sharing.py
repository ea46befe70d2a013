"""Prefix sharing on and off, both padding-free: tokens computed and training pairs/s of a random decoder on hh-rlhf.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo; without it, it says so and
exits 0. Run: `python benchmarks/bench_prefix_sharing.py` (defaults: 96 pairs, batches of 8, a 6-layer
36M-parameter Llama, 1 warm-up and 2 timed rounds), or `--help`. `--n-pairs 16 --rounds 1 --size tiny`
is a smoke test.

Both settings train copies of the same random model on the same batches (random order, seeded) with
the same optimizer; only the layout differs: "off" packs chosen and rejected end to end
(`rmcore.forward.packing.packed_pair_rewards`, the default it competes with), "on" lays each pair out as
`[prompt][chosen reply][rejected reply]`, pairs end to end (`rmcore.forward.prefix_sharing`). Settings
alternate within every round so machine noise hits both alike; speed is the median over rounds.
Text is tokenized with MiniLM's WordPiece tokenizer (vocab 30522): no decoder tokenizer ships offline.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rmcore.forward.packing import packed_pair_rewards  # noqa: E402
from rmcore.forward.precision import bf16_supported  # noqa: E402
from rmcore.forward.prefix_sharing import pack_shared_prefix, prefix_sharing_applies, shared_prefix_rewards  # noqa: E402
from rmcore.training.collator import RewardDataCollatorWithPadding  # noqa: E402
from rmcore.training.loss import pairwise_loss  # noqa: E402

# Llama shapes: (hidden, layers, heads, intermediate). "small" is ~36M parameters with a 30522 vocab.
SIZES = {"small": (512, 6, 8, 1376), "tiny": (64, 2, 2, 128)}
SETTINGS = ("off", "on")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-pairs", type=int, default=96, help="Train on the first N pairs of the file.")
    parser.add_argument("--batch-size", type=int, default=8, help="Pairs per optimizer step.")
    parser.add_argument("--max-length", type=int, default=512, help="Tokens per sequence (left-truncated).")
    parser.add_argument("--rounds", type=int, default=2, help="Timed rounds; each trains with sharing off and on.")
    parser.add_argument(
        "--warmup-rounds",
        type=int,
        default=1,
        help="Untimed rounds first: CPU kernels are built per new shape, so a first epoch times kernel setup.",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="Model shape, see SIZES.")
    parser.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa", help="Attention of the saved config.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the model and the batch order.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="Torch device.")
    parser.add_argument("--json", type=Path, help="Also write the summary to this file.")
    return parser.parse_args(argv)


# ----- pure helpers --------------------------------------------------------------------------------
def make_batches(rows: list[dict], tokenizer, batch_size: int, max_length: int, seed: int) -> list[dict]:
    """Tokenize the pairs and collate them into random (seeded) batches, the same for both settings."""
    from rmcore.data.tokenization import tokenize_pairs

    columns = tokenize_pairs(
        {"chosen": [r["chosen"] for r in rows], "rejected": [r["rejected"] for r in rows]}, tokenizer, max_length
    )
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    collate = RewardDataCollatorWithPadding(tokenizer)
    features = [{k: columns[k][i] for k in columns} for i in order]
    return [collate(features[i : i + batch_size]) for i in range(0, len(features), batch_size)]


def token_counts(batches: list[dict]) -> dict[str, int]:
    """Tokens the model computes per epoch with sharing off and on (both padding-free: all real)."""
    counts = {"computed_off": 0, "computed_on": 0}
    for batch in batches:
        packed = pack_shared_prefix(batch)
        counts["computed_off"] += packed.unshared_tokens
        counts["computed_on"] += packed.computed_tokens
    return counts


def summarize(timings: list[dict], counts: dict[str, int], n_pairs: int) -> dict[str, float]:
    """Median pairs/s per setting and the on/off ratios (target: on >= 1.3x the pairs/s of packing alone)."""
    speed = {s: statistics.median(n_pairs / t["seconds"] for t in timings if t["setting"] == s) for s in SETTINGS}
    # CPU time of this process: steadier than wall time on a machine shared with other jobs
    per_cpu = {s: statistics.median(n_pairs / t["cpu_seconds"] for t in timings if t["setting"] == s) for s in SETTINGS}
    return {
        "pairs_per_s_off": speed["off"],
        "pairs_per_s_on": speed["on"],
        "speedup": speed["on"] / speed["off"],
        "speedup_per_cpu_s": per_cpu["on"] / per_cpu["off"],
        **counts,
        "fewer_computed_tokens": 1 - counts["computed_on"] / counts["computed_off"],
    }


# ----- model and training --------------------------------------------------------------------------
def build_model(size: str, vocab_size: int, pad_token_id: int, attn: str, seed: int) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForSequenceClassification

    hidden, layers, heads, intermediate = SIZES[size]
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
        num_labels=1,
        pad_token_id=pad_token_id,
        attn_implementation=attn,
    )
    return LlamaForSequenceClassification(config)


def train_step(model, optimizer, batch: dict, share: bool, autocast: bool) -> float:
    """One optimizer step on a pair batch; returns the loss."""
    with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=autocast):
        if share:
            chosen, rejected = shared_prefix_rewards(model, pack_shared_prefix(batch))
        else:
            chosen, rejected, _ = packed_pair_rewards(model, batch)
        loss = pairwise_loss(chosen.float(), rejected.float())
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def run_epoch(initial, batches, share: bool, autocast: bool, device: str) -> dict:
    """Train a fresh copy of the initial model for one epoch; one untimed warm-up step first."""
    model = copy.deepcopy(initial).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)  # the trainer's default, adamw_torch_fused
    moved = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]
    train_step(model, optimizer, moved[0], share, autocast)
    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    sync()
    start, cpu_start = time.perf_counter(), time.process_time()
    losses = [train_step(model, optimizer, b, share, autocast) for b in moved]
    sync()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    setting = "on" if share else "off"
    return {"setting": setting, "seconds": seconds, "cpu_seconds": cpu_seconds, "first_loss": losses[0]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: shared pairs not found at {DATA}")
        return 0
    from transformers import AutoTokenizer

    from rmcore.models.loading import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    with gzip.open(DATA, "rt") as lines:
        rows = [json.loads(line) for _, line in zip(range(args.n_pairs), lines, strict=False)]
    batches = make_batches(rows, tokenizer, args.batch_size, args.max_length, args.seed)
    pad = tokenizer.pad_token_id
    model = build_model(args.size, len(tokenizer), pad, args.attn, args.seed)
    assert prefix_sharing_applies(model, "true")
    autocast = args.device == "cpu" and bf16_supported() or args.device.startswith("cuda")
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M-parameter Llama ({args.attn}), "
          f"{len(rows)} pairs in batches of {args.batch_size}, {'bf16 autocast' if autocast else 'fp32'}, "
          f"{args.device}, {torch.get_num_threads()} threads")  # fmt: skip
    timings = []
    for round_ in range(-args.warmup_rounds, args.rounds):
        for share in (round_ % 2 == 1, round_ % 2 == 0):  # alternate which setting goes first
            timing = run_epoch(model, batches, share, autocast, args.device)
            timings += [timing] if round_ >= 0 else []
            print(f"  round {round_:2}: sharing {timing['setting']:3} {timing['seconds']:7.2f} s "
                  f"({timing['cpu_seconds']:.1f} CPU-s), "
                  f"first loss {timing['first_loss']:.5f}{'' if round_ >= 0 else ' (warm-up)'}")  # fmt: skip
    summary = summarize(timings, token_counts(batches), len(rows))
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
