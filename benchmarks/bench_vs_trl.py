"""rmcore against TRL's RewardTrainer: same model, pairs, batch size, learning rate, warmup, seed and steps.

Assumes: `../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz` beside the repo and TRL installed
(`pip install -e ".[bench]"`); without either it says so and exits 0. Run: `make bench`, or
`python benchmarks/bench_vs_trl.py --help`. The defaults (512 training pairs, 256 held-out pairs,
3 rounds) take about 25 minutes on a 2-core CPU; `--n-train 64 --max-steps 4 --rounds 1` is a smoke test.

Each run trains in a fresh child process (so peak memory is that run's own) and systems alternate
within every round, so machine noise hits all of them alike. Round r uses seed + r; accuracy is
averaged over rounds, speed is the median. Held-out pairs are the last n_eval of the file, scored
by `rmcore.score_texts` for every system. Systems:
- rmcore: `rmcore.RewardTrainer` with its defaults.
- rmcore-padded: the same with padding_free=False: random batches padded to their longest sequence, the
  accuracy baseline that packing must match.
- trl: TRL's defaults (bf16 on, gradient checkpointing on, dropout off, pairs over max_length dropped).
- trl-matched: TRL at our precision and without gradient checkpointing, to isolate batching and padding.
On a CPU without native bf16 (no AVX-512 BF16 / AMX) both trainers run fp32 and `trl` is left out by
default: its bf16 default is emulated there (~100x slower), so TRL at its best for the hardware is
`trl-matched`. MFU is against the matmul peak of the precision each run used, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.runs import DATA, pick, spawn  # noqa: E402

SYSTEMS = ("rmcore", "rmcore-padded", "trl", "trl-matched")


def runs_bf16(precision: str) -> bool:
    """Whether rmcore and trl-matched run in bf16: `auto` where the CPU has it natively, never for `fp32`."""
    from rmcore.forward.precision import bf16_supported

    return precision == "auto" and bf16_supported()


def default_systems(native_bf16: bool) -> tuple[str, ...]:
    """Every system, less TRL's bf16 default where bf16 is emulated (it would take ~100x as long)."""
    return SYSTEMS if native_bf16 else tuple(s for s in SYSTEMS if s != "trl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=512, help="Train on the first N pairs of the file.")
    parser.add_argument("--n-eval", type=int, default=256, help="Hold out the last N pairs of the file.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds; each trains every system once.")
    parser.add_argument("--batch-size", type=int, default=16, help="Pairs per optimizer step.")
    parser.add_argument("--lr", type=float, default=None, help="Peak learning rate. Default: rmcore's default.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of round 0; round r uses seed + r.")
    parser.add_argument("--max-steps", type=int, default=-1, help="Stop after this many steps. -1 = one epoch.")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32"],
        default="auto",
        help="auto: bf16 where the CPU has it natively. fp32: run as on a CPU without native bf16 (fp32 for "
        "both trainers, TRL's bf16 default left out), to measure that CPU class's figures on any machine.",
    )
    parser.add_argument(
        "--systems",
        default=None,
        help=f"Comma-separated subset of {SYSTEMS}. Default: all, less `trl` on a CPU without native bf16.",
    )
    return parser.parse_args(argv)


# ----- pure helpers --------------------------------------------------------------------------------
def summarize(results: list[dict]) -> dict[str, dict[str, float]]:
    """Per system: median pairs/s, mean accuracy (and spread over rounds), worst peak memory."""
    summary = {}
    for system in dict.fromkeys(r["system"] for r in results):
        runs = [r for r in results if r["system"] == system]
        accuracies = [r["accuracy"] for r in runs]
        summary[system] = {
            "pairs_per_s": statistics.median(r["pairs_per_s"] for r in runs),
            "pairs_per_cpu_s": statistics.median(r["pairs_per_cpu_s"] for r in runs),
            "padding_efficiency": statistics.mean(r["padding_efficiency"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "accuracy": statistics.mean(accuracies),
            "accuracy_spread": (max(accuracies) - min(accuracies)) / 2,
            "mfu": statistics.median(r["mfu"] for r in runs),
            "limit_pairs_per_s": statistics.median(r["limit_pairs_per_s"] for r in runs),
            "dropped_train": max(r["dropped_train"] for r in runs),
            "dropped_eval": max(r["dropped_eval"] for r in runs),
            "precision": runs[0]["precision"],
        }
    return summary


def format_report(summary: dict[str, dict[str, float]], peaks: dict[str, float]) -> str:
    """The table and the ratios of rmcore to each TRL configuration."""
    lines = [f"matmul peak: bf16 {peaks['bf16']:.0f} GFLOP/s, fp32 {peaks['fp32']:.0f} GFLOP/s", ""]
    lines.append(f"{'system':<12} {'prec':<5} {'pairs/s':>8} {'/cpu-s':>7} {'pad eff':>8} {'peak MB':>8} ")
    lines[-1] += f"{'accuracy':>12} {'MFU':>6} dropped"
    for system, s in summary.items():
        lines.append(
            f"{system:<12} {s['precision']:<5} {s['pairs_per_s']:>8.2f} {s['pairs_per_cpu_s']:>7.2f} "
            f"{s['padding_efficiency']:>8.3f} "
            f"{s['peak_rss_mb']:>8.0f} {s['accuracy']:>7.3f}±{s['accuracy_spread']:.3f} {s['mfu']:>6.3f} "
            f"train {s['dropped_train']:.0f}, eval {s['dropped_eval']:.0f}"
        )
    lines.append("")
    lines.append(
        "limit (100% of matmul peak on model FLOPs): "
        + ", ".join(f"{system} {s['limit_pairs_per_s']:.1f} pairs/s" for system, s in summary.items())
    )
    ours = summary.get("rmcore")
    if ours is not None:
        peak = peaks[ours["precision"]]
        lines.append(f"rmcore MFU {100 * ours['mfu']:.0f}% of the {ours['precision']} matmul peak ({peak:.0f} GFLOP/s)")
    for system, s in summary.items():
        if ours is None or system == "rmcore":
            continue
        lines.append(
            f"rmcore / {system}: speed x{ours['pairs_per_s'] / s['pairs_per_s']:.2f} "
            f"(per CPU-second x{ours['pairs_per_cpu_s'] / s['pairs_per_cpu_s']:.2f}), "
            f"accuracy {100 * (ours['accuracy'] - s['accuracy']):+.1f} points, "
            f"memory x{ours['peak_rss_mb'] / s['peak_rss_mb']:.2f}"
        )
    return "\n".join(lines)


# ----- the benchmark -------------------------------------------------------------------------------
def missing_requirement() -> str | None:
    if not DATA.is_file():
        return f"{DATA} is absent: the benchmark needs the shared hh-rlhf pairs"
    try:
        import trl  # noqa: F401
    except ImportError:
        return 'TRL is not installed: pip install -e ".[bench]"'
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = missing_requirement()
    if reason:
        print(f"skipped: {reason}")
        return 0
    import torch

    from benchmarks.flops import matmul_gflops, mfu
    from rmcore import RewardConfig

    native_bf16 = runs_bf16(args.precision)
    systems = pick("--systems", args.systems or ",".join(default_systems(native_bf16)), SYSTEMS)
    fp32_why = "asked for" if args.precision == "fp32" else "bf16 is emulated here"
    print(f"{'bf16 (native)' if native_bf16 else f'fp32 ({fp32_why}): TRL at its best is trl-matched'}; {systems}")
    defaults = RewardConfig(output_dir=tempfile.gettempdir(), report_to="none")
    peaks = {"bf16": matmul_gflops(torch.bfloat16), "fp32": matmul_gflops(torch.float32)}
    results = []
    for round_ in range(args.rounds):
        common = {
            "per_device_train_batch_size": args.batch_size,
            "learning_rate": args.lr or defaults.learning_rate,
            "warmup_steps": defaults.warmup_steps,
            "seed": args.seed + round_,
            "max_steps": args.max_steps,
            "num_train_epochs": 1,
            "save_strategy": "no",
        }
        order = systems[round_ % len(systems) :] + systems[: round_ % len(systems)]
        for system in order:
            job = {
                "system": system,
                "data": str(DATA),
                "n_train": args.n_train,
                "n_eval": args.n_eval,
                "common": common,
                "bf16": native_bf16,  # rmcore's and trl-matched's precision
            }
            result = spawn(job)
            peak = peaks[result["precision"]]
            result["mfu"] = mfu(result["model_flops"], result["seconds"], peak)
            result["limit_pairs_per_s"] = peak * 1e9 / (result["model_flops"] / result["pairs"])
            results.append(result)
            print(
                f"round {round_} {system:<12} {result['pairs_per_s']:.2f} pairs/s, accuracy {result['accuracy']:.3f}",
                flush=True,
            )
    print()
    print(format_report(summarize(results), peaks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
