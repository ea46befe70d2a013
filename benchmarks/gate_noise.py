"""How noisy are the gate's slice and length-bias checks? Models of equal quality, compared with each other.

Trains MiniLM with the default RewardConfig (one epoch, lr 1e-4) on the first 1,440 shared hh-rlhf pairs
at several seeds, scores the last 360, and compares every two seeds as champion and challenger with
`rmcore.checks.gate`. Two seeds of the same recipe are equally good, so any slice the gate would call a
regression is a false block: the defaults of `GateChecks` must give none here. Printed: per slice the
paired accuracy difference and its interval, and the false-block count at several tolerances; and the
seed-to-seed spread of Spearman(reward, reply length) against the `max_length_bias_increase` default.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/gate_noise.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TOLERANCES = (0.0, 0.01, 0.02, 0.03, 0.05)


def train_and_score(
    seed: int, train_rows: list[dict], eval_rows: list[dict], max_steps: int, max_length: int
) -> pd.DataFrame:
    """One seed's model: rewards of the eval pairs as a scored frame (reward_chosen, reward_rejected)."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from rmcore import RewardConfig, RewardTrainer, ScoringConfig, score_texts
    from rmcore.models.loading import default_model_path

    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    with tempfile.TemporaryDirectory() as out_dir:
        args = RewardConfig(
            output_dir=out_dir,
            report_to="none",
            disable_tqdm=True,
            seed=seed,
            eval_plots=False,
            max_steps=max_steps,
            max_length=max_length,
        )
        trainer = RewardTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(train_rows), processing_class=tokenizer
        )
        trainer.train()
    chosen = score_texts(
        trainer.model, tokenizer, [r["chosen"] for r in eval_rows], ScoringConfig(max_length=max_length)
    )
    rejected = score_texts(
        trainer.model, tokenizer, [r["rejected"] for r in eval_rows], ScoringConfig(max_length=max_length)
    )
    return pd.DataFrame({"reward_chosen": chosen, "reward_rejected": rejected})


def compare_seeds(scored: dict[int, pd.DataFrame], eval_rows: list[dict], n_resamples: int) -> dict:
    """Every ordered pair of seeds through the gate checks; the false blocks at each tolerance."""
    from rmcore.checks.compare import PromotionRule
    from rmcore.checks.gate import GateChecks, decide_with_checks
    from rmcore.evaluation.length_bias import length_bias_figures, pair_lengths
    from rmcore.evaluation.slices import slice_labels

    lengths = pair_lengths([r["chosen"] for r in eval_rows], [r["rejected"] for r in eval_rows])
    labels = slice_labels(pd.DataFrame(index=range(len(eval_rows))), lengths)
    rule, defaults = PromotionRule(n_resamples=n_resamples), GateChecks()
    rows, blocks = [], {t: 0 for t in TOLERANCES}
    for a, b in itertools.permutations(sorted(scored), 2):
        decision = decide_with_checks(scored[a], scored[b], labels, lengths, rule, GateChecks(slice_tolerance=0.0))
        for check in decision.checks:
            if check["check"] == "slice":
                rows.append({"challenger": a, "champion": b, **check})
                for t in TOLERANCES:
                    blocks[t] += bool(check["checked"] and check["high"] < -t)
    bias = {s: length_bias_figures(df["reward_chosen"], df["reward_rejected"], lengths) for s, df in scored.items()}
    rho = {s: f["spearman_reward_length"] for s, f in bias.items()}
    rises = [rho[a] - rho[b] for a, b in itertools.permutations(rho, 2)]
    return {
        "slices": rows,
        "false_blocks": blocks,
        "comparisons": len(rows),
        "spearman": rho,
        "max_spearman_rise": max(rises) if rises else float("nan"),
        "defaults": {"slice_tolerance": defaults.slice_tolerance, "max_increase": defaults.max_length_bias_increase},
        "accuracy": {s: float((df["reward_chosen"] > df["reward_rejected"]).mean()) for s, df in scored.items()},
    }


def print_result(result: dict) -> None:
    print(f"held-out accuracy by seed: {result['accuracy']}")
    print(f"{'challenger':>10} {'champion':>8} {'slice':<20} {'n':>4} {'diff':>7} {'low':>7} {'high':>7}")
    for row in result["slices"]:
        print(
            f"{row['challenger']:>10} {row['champion']:>8} {row['name']:<20} {row['n']:>4} "
            f"{row['diff']:+.3f} {row['low']:+.3f} {row['high']:+.3f}"
        )
    widths = [row["high"] - row["low"] for row in result["slices"]]
    print(f"slice interval width: median {np.median(widths):.3f}, max {max(widths):.3f}")
    n = result["comparisons"]
    for t, count in result["false_blocks"].items():
        print(f"slice_tolerance {t:.2f}: {count} of {n} equal-quality slice comparisons would block ({count / n:.1%})")
    print(f"Spearman(reward, length) by seed: { {s: round(v, 3) for s, v in result['spearman'].items()} }")
    rise, allowed = result["max_spearman_rise"], result["defaults"]["max_increase"]
    print(f"largest seed-to-seed rise {rise:+.3f} vs max_length_bias_increase {allowed} ({rise / allowed:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="Comma-separated training seeds (>= 2).")
    parser.add_argument("--n-train", type=int, default=1440, help="First pairs trained on.")
    parser.add_argument("--n-eval", type=int, default=360, help="Last pairs scored and compared.")
    parser.add_argument("--max-steps", type=int, default=-1, help="Training steps; -1 = one epoch.")
    parser.add_argument("--max-length", type=int, default=512, help="Tokens per text in training and scoring.")
    parser.add_argument("--n-resamples", type=int, default=2000, help="Bootstrap resamples per check.")
    parser.add_argument("--out", default=None, help="Also write the figures as JSON here.")
    args = parser.parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: shared pairs not found at {DATA}")
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if len(seeds) < 2:
        parser.error(f"--seeds needs at least two seeds, got {args.seeds!r}")
    rows = [json.loads(line) for line in gzip.open(DATA, "rt")]
    train_rows, eval_rows = rows[: args.n_train], rows[len(rows) - args.n_eval :]
    scored = {}
    for seed in seeds:
        scored[seed] = train_and_score(seed, train_rows, eval_rows, args.max_steps, args.max_length)
        print(f"seed {seed}: trained and scored", flush=True)
    result = compare_seeds(scored, eval_rows, args.n_resamples)
    print_result(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
