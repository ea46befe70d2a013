"""The champion gate's checks beyond the mean: no slice may regress, length bias may not grow.

A challenger that is better overall can still be worse where it matters (one data source, long
conversations) or win by preferring longer replies, which a policy trained on it then exploits.
`decide_with_checks` runs the overall paired bootstrap of `rmcore.checks.compare` and, when there is a
champion, a paired bootstrap on every slice with enough pairs and a comparison of length bias. Every
check's figures go into the decision, and the decision names each check that blocked it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rmcore.checks.compare import Decision, PromotionRule, decide_promotion, paired_bootstrap
from rmcore.evaluation.length_bias import length_bias_figures
from rmcore.evaluation.slices import slice_masks
from rmcore.evaluation.summary import metric_name

LENGTH_BIAS = "spearman_reward_length"


@dataclass
class GateChecks:
    """The gate's per-slice and length-bias checks, on top of the overall `PromotionRule`."""

    min_slice_pairs: int = field(
        default=40,
        metadata={
            "help": "Slices with fewer eval pairs are reported but never block (their interval is too wide to "
            "mean anything). 0 = check every slice."
        },
    )
    slice_tolerance: float = field(
        default=0.05,
        metadata={
            "help": "A slice regresses when the upper bound of its paired-bootstrap interval of accuracy "
            "(challenger - champion) is below -slice_tolerance: clearly worse by more than this (0-1; "
            "0.05 = five points). Absorbs the seed-to-seed noise of six or more slices tested at once "
            "(benchmarks/gate_noise.py: 0.03 falsely blocked 1 of 36 equal-quality slice comparisons, 0.05 none)."
        },
    )
    slice_confidence: float = field(
        default=0.95,
        metadata={"help": "Two-sided confidence of each slice's interval, in (0, 1)."},
    )
    max_length_bias_increase: float = field(
        default=0.35,
        metadata={
            "help": "Largest allowed rise of the Spearman correlation of reward with reply length, challenger "
            "minus champion (-1..2). Seeds of one recipe differed by up to 0.32 on the shared pairs "
            "(benchmarks/gate_noise.py), so smaller values block equal models; 2 = off."
        },
    )

    no_regression_on: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Names of pinned benchmarks (`rewardflow benchmark add`) the challenger may not regress on: "
            "both models are scored on the benchmark's fixed pairs, and the challenger is blocked when the "
            "upper bound of the paired-bootstrap interval of accuracy (challenger - champion) there is below "
            "-benchmark_tolerance. Empty = benchmarks are measured and logged but never block."
        },
    )
    benchmark_tolerance: float = field(
        default=0.0,
        metadata={
            "help": "How much worse (0-1) a challenger may clearly be on a benchmark of no_regression_on. 0 = any "
            "regression the interval is sure of blocks."
        },
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.benchmark_tolerance <= 1.0:
            raise ValueError(f"GateChecks.benchmark_tolerance must be in [0, 1], got {self.benchmark_tolerance}")
        if self.min_slice_pairs < 0:
            raise ValueError(f"GateChecks.min_slice_pairs must be >= 0, got {self.min_slice_pairs}")
        if not 0.0 <= self.slice_tolerance <= 1.0:
            raise ValueError(f"GateChecks.slice_tolerance must be in [0, 1], got {self.slice_tolerance}")
        if not 0.0 < self.slice_confidence < 1.0:
            raise ValueError(f"GateChecks.slice_confidence must be in (0, 1), got {self.slice_confidence}")
        if not -1.0 <= self.max_length_bias_increase <= 2.0:
            raise ValueError(
                f"GateChecks.max_length_bias_increase must be in [-1, 2], got {self.max_length_bias_increase}"
            )


def outcomes(scored: pd.DataFrame) -> np.ndarray:
    """[N] 1.0 where reward_chosen > reward_rejected (ties lose), from a scored frame."""
    return (scored["reward_chosen"].to_numpy(np.float64) > scored["reward_rejected"].to_numpy(np.float64)).astype(
        np.float64
    )


def slice_checks(
    challenger_correct: np.ndarray,
    champion_correct: np.ndarray,
    labels: dict[str, list[str]],
    checks: GateChecks,
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[dict]:
    """One row per slice: n, accuracy diff and its paired-bootstrap interval, `checked` and `regressed`.

    Args:
        challenger_correct, champion_correct: [N] outcomes of the two models on the same pairs.
        labels: kind -> [N] slice labels (`rmcore.evaluation.slices.slice_labels`).
    """
    rows = []
    for name, mask in slice_masks(labels).items():
        n = int(mask.sum())
        diff, low, high = paired_bootstrap(
            challenger_correct[mask], champion_correct[mask], n_resamples, checks.slice_confidence, seed
        )
        checked = n >= checks.min_slice_pairs
        rows.append(
            {
                "check": "slice",
                "name": name,
                "n": n,
                "diff": diff,
                "low": low,
                "high": high,
                "checked": checked,
                "regressed": bool(checked and high < -checks.slice_tolerance),
            }
        )
    return rows


def length_bias_check(
    challenger: pd.DataFrame, champion: pd.DataFrame, lengths: pd.DataFrame, checks: GateChecks
) -> dict:
    """Spearman(reward, reply length) of both models and whether the challenger's rise is within bounds."""
    ours = length_bias_figures(challenger["reward_chosen"], challenger["reward_rejected"], lengths)[LENGTH_BIAS]
    theirs = length_bias_figures(champion["reward_chosen"], champion["reward_rejected"], lengths)[LENGTH_BIAS]
    increase = ours - theirs
    # A constant model has no correlation (nan); a nan rise can neither pass nor block: it passes.
    worse = bool(np.isfinite(increase) and increase > checks.max_length_bias_increase)
    return {
        "check": "length_bias",
        "challenger": float(ours),
        "champion": float(theirs),
        "increase": float(increase),
        "max_increase": checks.max_length_bias_increase,
        "worse": worse,
    }


def check_figures(slices: list[dict], length: dict) -> dict[str, float]:
    """The checks as flat figures for tags and metrics: slice.<name>.diff|low|high|n, length_bias.*."""
    figures: dict[str, float] = {}
    for row in slices:
        base = f"slice.{metric_name(row['name'])}"
        figures.update({f"{base}.{k}": float(row[k]) for k in ("diff", "low", "high", "n")})
    figures.update({f"length_bias.{k}": float(length[k]) for k in ("challenger", "champion", "increase")})
    return figures


def decide_with_checks(
    challenger: pd.DataFrame,
    champion: pd.DataFrame | None,
    labels: dict[str, list[str]],
    lengths: pd.DataFrame,
    rule: PromotionRule,
    checks: GateChecks,
) -> Decision:
    """Promote only if the overall rule, every checked slice and the length bias all allow it.

    Args:
        challenger, champion: [N] scored frames (reward_chosen, reward_rejected) on the same eval pairs,
            in the same order; champion None = there is none yet (the overall rule decides alone).
        labels: kind -> [N] slice labels of the eval pairs.
        lengths: [N] reply lengths of the eval pairs (`rmcore.evaluation.length_bias.pair_lengths`).

    Returns:
        The Decision; `checks` holds every check with its figures, `blocked_by` names the failing ones
        ("overall", "slice:<name>", "length_bias").
    """
    challenger_correct = outcomes(challenger)
    champion_correct = None if champion is None else outcomes(champion)
    overall = decide_promotion(challenger_correct, champion_correct, rule)
    overall_row = {"check": "overall", "passed": overall.promote, "reason": overall.reason}
    if champion is None or "champion_accuracy" not in overall.figures:  # first model, or not comparable
        blocked = [] if overall.promote else ["overall"]
        return Decision(overall.promote, overall.reason, overall.figures, [overall_row], blocked)
    slices = slice_checks(challenger_correct, champion_correct, labels, checks, rule.n_resamples, rule.seed)
    length = length_bias_check(challenger, champion, lengths, checks)
    blocked = [] if overall.promote else ["overall"]
    blocked += [f"slice:{row['name']}" for row in slices if row["regressed"]]
    blocked += ["length_bias"] if length["worse"] else []
    figures = {**overall.figures, **check_figures(slices, length)}
    reason = blocked_reason(overall, slices, length, checks) if blocked else passed_reason(overall, slices, checks)
    return Decision(not blocked, reason, figures, [overall_row, *slices, length], blocked)


def blocked_reason(overall: Decision, slices: list[dict], length: dict, checks: GateChecks) -> str:
    """Each failing check in one sentence, overall first."""
    parts = [] if overall.promote else [overall.reason]
    for row in slices:
        if row["regressed"]:
            parts.append(
                f"slice {row['name']} regresses ({row['n']} pairs): accuracy diff {row['diff']:+.4f}, interval "
                f"[{row['low']:+.4f}, {row['high']:+.4f}] lies below -{checks.slice_tolerance}"
            )
    if length["worse"]:
        parts.append(
            f"length bias worse: Spearman(reward, length) {length['challenger']:+.3f} vs champion "
            f"{length['champion']:+.3f}, rise {length['increase']:+.3f} > {checks.max_length_bias_increase}"
        )
    return "; ".join(parts)


def passed_reason(overall: Decision, slices: list[dict], checks: GateChecks) -> str:
    """The overall reason, and that the other checks passed."""
    checked = sum(row["checked"] for row in slices)
    return (
        f"{overall.reason}; none of {checked} slices with >= {checks.min_slice_pairs} pairs regresses; "
        "length bias within bounds"
    )


def benchmark_check(
    name: str,
    challenger_correct: np.ndarray,
    champion_correct: np.ndarray,
    checks: GateChecks,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """Challenger against champion on one pinned benchmark: accuracy diff, its interval, `regressed`.

    Args:
        challenger_correct, champion_correct: [N] outcomes of the two models on the benchmark's pairs.
    """
    diff, low, high = paired_bootstrap(challenger_correct, champion_correct, n_resamples, checks.slice_confidence, seed)
    return {
        "check": "benchmark",
        "name": name,
        "n": int(np.asarray(challenger_correct).size),
        "challenger_accuracy": float(np.mean(challenger_correct)),
        "champion_accuracy": float(np.mean(champion_correct)),
        "diff": diff,
        "low": low,
        "high": high,
        "regressed": bool(high < -checks.benchmark_tolerance),
    }


def with_benchmark_checks(decision: Decision, rows: list[dict], checks: GateChecks) -> Decision:
    """The decision, blocked by every benchmark of `rows` that regressed; each row's figures added."""
    figures = dict(decision.figures)
    for row in rows:
        base = f"benchmark.{metric_name(row['name'])}"
        figures.update({f"{base}.{k}": float(row[k]) for k in ("diff", "low", "high", "n")})
    regressed = [row for row in rows if row["regressed"]]
    if not regressed:
        return Decision(decision.promote, decision.reason, figures, [*decision.checks, *rows], decision.blocked_by)
    parts = [decision.reason] if not decision.promote else []
    parts += [
        f"benchmark {row['name']} regresses ({row['n']} pairs): accuracy {row['challenger_accuracy']:.4f} vs "
        f"champion {row['champion_accuracy']:.4f}, diff interval [{row['low']:+.4f}, {row['high']:+.4f}] lies "
        f"below -{checks.benchmark_tolerance}"
        for row in regressed
    ]
    blocked = [*decision.blocked_by, *(f"benchmark:{row['name']}" for row in regressed)]
    return Decision(False, "; ".join(parts), figures, [*decision.checks, *rows], blocked)


def slice_summary(decision: Decision) -> str:
    """The slice checks in one phrase for the version page: `6 slices checked, none regresses`.

    The figures of each slice stay on the run (metrics `gate_slice.*` and the table `gate/checks.json`);
    a version carries this summary, so the registry's list stays readable.
    """
    slices = [c for c in decision.checks if c.get("check") == "slice"]
    if not slices:
        return "no slice checks"
    checked = [c for c in slices if c.get("checked")]
    regressed = [c["name"] for c in slices if c.get("regressed")]
    worse = f"{len(regressed)} regress ({', '.join(regressed)})" if regressed else "none regresses"
    return f"{len(checked)} of {len(slices)} slices checked, {worse}"
