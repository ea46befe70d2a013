"""Which RewardConfig defaults give the best held-out accuracy after one epoch.

Trains MiniLM with rmcore on the first --n-train shared pairs and scores the last --n-eval, for the
current defaults and for one change at a time (learning rate, warmup, head initialisation, dropout),
with several seeds. Settings alternate within each seed, and each change is compared with the
defaults of the same seed (a paired difference), since seeds alone move accuracy by a few points.
Skips cleanly without `../shared/data`. The defaults (1,440 / 360 pairs, 3 seeds, 7 settings) take
about 35 minutes on a 2-core CPU; `--n-train 64 --n-eval 32 --seeds 1 --settings defaults` is a smoke test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.runs import DATA, pick, spawn  # noqa: E402

# name -> (RewardConfig overrides, head initialisation)
SETTINGS: dict[str, tuple[dict, str]] = {
    "defaults": ({}, "default"),
    "lr 2e-5": ({"learning_rate": 2e-5}, "default"),
    "lr 1e-4": ({"learning_rate": 1e-4}, "default"),
    "lr 2e-4": ({"learning_rate": 2e-4}, "default"),
    "no warmup": ({"warmup_steps": 0}, "default"),
    "zero head": ({}, "zero"),
    "dropout on": ({"disable_dropout": False}, "default"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=1440, help="Train on the first N pairs of the file.")
    parser.add_argument("--n-eval", type=int, default=360, help="Hold out the last N pairs of the file.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0..N-1; every setting runs with each.")
    parser.add_argument("--batch-size", type=int, default=16, help="Pairs per optimizer step.")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"Comma-separated subset of {list(SETTINGS)}.")
    return parser.parse_args(argv)


def summarize(results: list[dict]) -> dict[str, dict[str, float]]:
    """Per setting: mean accuracy, its standard error over seeds, and the paired difference to the defaults."""
    by_setting: dict[str, dict[int, dict]] = {}
    for r in results:
        by_setting.setdefault(r["setting"], {})[r["seed"]] = r
    baseline = by_setting.get("defaults", {})
    summary = {}
    for setting, runs in by_setting.items():
        accuracies = [r["accuracy"] for r in runs.values()]
        deltas = [runs[s]["accuracy"] - baseline[s]["accuracy"] for s in runs if s in baseline]
        summary[setting] = {
            "accuracy": statistics.mean(accuracies),
            "stderr": _stderr(accuracies),
            "delta": statistics.mean(deltas) if deltas else float("nan"),
            "delta_stderr": _stderr(deltas) if deltas else float("nan"),
            "pairs_per_s": statistics.median(r["pairs_per_s"] for r in runs.values()),
            "seeds": len(runs),
        }
    return summary


def _stderr(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def format_report(summary: dict[str, dict[str, float]]) -> str:
    lines = [f"{'setting':<12} {'accuracy':>16} {'vs defaults (paired)':>22} {'pairs/s':>8} seeds"]
    for setting, s in summary.items():
        lines.append(
            f"{setting:<12} {s['accuracy']:>9.3f} ± {s['stderr']:.3f} "
            f"{100 * s['delta']:>+13.1f} ± {100 * s['delta_stderr']:.1f} pts {s['pairs_per_s']:>8.2f} {s['seeds']:>5}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent: the sweep needs the shared hh-rlhf pairs")
        return 0
    chosen = pick("--settings", args.settings, SETTINGS)
    results = []
    for seed in range(args.seeds):
        order = chosen[seed % len(chosen) :] + chosen[: seed % len(chosen)]
        for setting in order:
            overrides, head_init = SETTINGS[setting]
            job = {
                "system": "rmcore",
                "data": str(DATA),
                "n_train": args.n_train,
                "n_eval": args.n_eval,
                "common": {"per_device_train_batch_size": args.batch_size, "seed": seed, "num_train_epochs": 1},
                "rmcore_args": overrides,
                "head_init": head_init,
            }
            result = {**spawn(job), "setting": setting, "seed": seed}
            results.append(result)
            print(
                f"seed {seed} {setting:<12} accuracy {result['accuracy']:.3f}, {result['pairs_per_s']:.2f} pairs/s",
                flush=True,
            )
    print()
    print(format_report(summarize(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
