"""Champion vs challenger on the same eval pairs: a paired bootstrap and the promotion decision.

Pure statistics, no MLflow: the registry gate (`tasks/registry/gate.py`) reads and writes aliases and only
asks this module whether the challenger is measurably better. Both models are scored on the *same*
pairs, so the test is paired: resampling pairs keeps each pair's two outcomes together, and the
interval of the accuracy difference is much narrower than comparing two independent accuracies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from rmcore.evaluation.slices import wilson_interval

RULES = ("bootstrap", "min_delta")
# Resamples per chunk: bounds the [chunk, N] index matrix to a few MB even for 100k pairs.
_CHUNK = 256


@dataclass
class PromotionRule:
    """When a challenger replaces the champion."""

    rule: str = field(
        default="bootstrap",
        metadata={
            "help": "'bootstrap': promote only if the lower bound of a paired bootstrap interval of "
            "accuracy(challenger) - accuracy(champion) is above 0. 'min_delta': promote if the plain "
            "accuracy difference is above 0 and at least min_delta (no noise check; use on large eval sets)."
        },
    )
    min_delta: float = field(
        default=0.0,
        metadata={"help": "With rule='min_delta': the smallest accuracy gain (0-1) that promotes. 0.01 = one point."},
    )
    confidence: float = field(
        default=0.95,
        metadata={"help": "With rule='bootstrap': two-sided confidence of the interval, in (0, 1)."},
    )
    n_resamples: int = field(
        default=2000,
        metadata={"help": "With rule='bootstrap': bootstrap resamples. More = steadier bounds, slower (linear)."},
    )
    seed: int = field(
        default=0, metadata={"help": "Seed of the bootstrap resampling, so a decision can be reproduced."}
    )
    first_champion_floor: float | None = field(
        default=0.5,
        metadata={
            "help": "With no champion yet, the first model is promoted only if the lower bound of the 95% Wilson "
            "interval of its held-out accuracy is above this (0-1). 0.5 = measurably better than a coin: a model "
            "at chance is registered but never served. None = any evaluated first model becomes champion."
        },
    )

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"PromotionRule.rule must be one of {RULES}, got {self.rule!r}")
        if self.first_champion_floor is not None and not 0.0 <= self.first_champion_floor < 1.0:
            raise ValueError(
                f"PromotionRule.first_champion_floor must be in [0, 1) or None, got {self.first_champion_floor}"
            )
        if not 0.0 <= self.min_delta <= 1.0:
            raise ValueError(f"PromotionRule.min_delta must be in [0, 1] (an accuracy gain), got {self.min_delta}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"PromotionRule.confidence must be in (0, 1), got {self.confidence}")
        if self.n_resamples < 1:
            raise ValueError(f"PromotionRule.n_resamples must be >= 1, got {self.n_resamples}")


@dataclass
class Decision:
    """The gate's answer, with the figures that justify it (recorded on the model version and the run)."""

    promote: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)  # each check of `rmcore.checks.gate` with its figures
    blocked_by: list[str] = field(default_factory=list)  # the checks that refused: "overall", "slice:<name>", ...

    @property
    def label(self) -> str:
        """The word recorded on the version and on the run alike: "promoted" or "rejected"."""
        return "promoted" if self.promote else "rejected"

    def to_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(
    challenger_correct: np.ndarray,
    champion_correct: np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile interval of mean(challenger_correct - champion_correct) by resampling pairs.

    Args:
        challenger_correct: [N], 1 where the challenger ranks chosen above rejected, else 0.
        champion_correct: [N], the same for the champion on the same pairs in the same order.
        n_resamples: bootstrap resamples.
        confidence: two-sided confidence of the interval.
        seed: seed of the resampling.

    Returns:
        (diff, low, high): the observed accuracy difference and the interval's bounds.
    """
    diff = np.asarray(challenger_correct, dtype=np.float64) - np.asarray(champion_correct, dtype=np.float64)
    n = diff.size
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(diff.mean()), float(low), float(high)


def _as_outcomes(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64).reshape(-1)


def _invalid(challenger: np.ndarray, champion: np.ndarray) -> str | None:
    """Why the two outcome vectors cannot be compared, or None if they can."""
    if challenger.size == 0 or champion.size == 0:
        return f"empty eval set (challenger {challenger.size} pairs, champion {champion.size} pairs)"
    if challenger.size != champion.size:
        return f"scored on different pairs: challenger {challenger.size} pairs, champion {champion.size} pairs"
    if not (np.isfinite(challenger).all() and np.isfinite(champion).all()):
        return "NaN or infinite outcomes: a model's scores are not finite"
    return None


def decide_promotion(
    challenger_correct: np.ndarray | None, champion_correct: np.ndarray | None, rule: PromotionRule
) -> Decision:
    """Promote the challenger only if it is better than the champion under the rule.

    No champion promotes ("first model") if the challenger's outcomes are usable and clear
    `rule.first_champion_floor`; anything that cannot be compared (empty, NaN, different lengths) does
    not; equal or worse does not. `figures` always holds what was measured.
    """
    challenger = _as_outcomes(challenger_correct)
    champion = _as_outcomes(champion_correct)
    if challenger is None:
        return Decision(False, "no challenger outcomes: the challenger was not evaluated", {})
    if champion is None:
        problem = _invalid(challenger, challenger)
        if problem is not None:
            return Decision(False, f"first model not promoted: {problem}", {"n_pairs": float(challenger.size)})
        return _decide_first(challenger, rule)
    problem = _invalid(challenger, champion)
    if problem is not None:
        return Decision(False, f"not comparable: {problem}", {"n_pairs": float(challenger.size)})
    figures = {
        "challenger_accuracy": float(challenger.mean()),
        "champion_accuracy": float(champion.mean()),
        "n_pairs": float(challenger.size),
    }
    if rule.rule == "bootstrap":
        return _decide_bootstrap(challenger, champion, rule, figures)
    return _decide_min_delta(challenger, champion, rule, figures)


def _decide_first(challenger: np.ndarray, rule: PromotionRule) -> Decision:
    """The first model against the floor: the lower bound of its accuracy's Wilson interval."""
    hits, n = int(challenger.sum()), int(challenger.size)
    low, high = wilson_interval(hits, n)
    figures = {"challenger_accuracy": hits / n, "n_pairs": float(n), "accuracy_low": low, "accuracy_high": high}
    accuracy = f"held-out accuracy {hits / n:.4f} on {n} pairs, 95% interval [{low:.4f}, {high:.4f}]"
    if rule.first_champion_floor is None:
        return Decision(True, f"first model: there is no champion yet ({accuracy})", figures)
    figures["first_champion_floor"] = rule.first_champion_floor
    if low > rule.first_champion_floor:
        return Decision(True, f"first model: {accuracy} lies above the floor {rule.first_champion_floor}", figures)
    return Decision(
        False,
        f"first model not promoted: {accuracy} does not lie above the floor {rule.first_champion_floor} "
        "(not measurably better than chance); train longer or on more pairs, or lower promotion.first_champion_floor",
        figures,
    )


def _decide_bootstrap(challenger: np.ndarray, champion: np.ndarray, rule: PromotionRule, figures: dict) -> Decision:
    diff, low, high = paired_bootstrap(challenger, champion, rule.n_resamples, rule.confidence, rule.seed)
    figures.update(diff=diff, diff_low=low, diff_high=high, confidence=rule.confidence)
    interval = f"accuracy diff {diff:+.4f}, {rule.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]"
    if low > 0:
        return Decision(True, f"better: {interval} lies above 0", figures)
    verdict = "worse" if diff < 0 else "equal" if diff == 0 else "not significantly better"
    return Decision(False, f"{verdict}: {interval} does not lie above 0", figures)


def _decide_min_delta(challenger: np.ndarray, champion: np.ndarray, rule: PromotionRule, figures: dict) -> Decision:
    diff = float(challenger.mean() - champion.mean())
    figures.update(diff=diff, min_delta=rule.min_delta)
    if diff > 0 and diff >= rule.min_delta:
        return Decision(True, f"better: accuracy diff {diff:+.4f} >= min_delta {rule.min_delta}", figures)
    verdict = "worse" if diff < 0 else "equal" if diff == 0 else "gain too small"
    return Decision(False, f"{verdict}: accuracy diff {diff:+.4f}, need > 0 and >= {rule.min_delta}", figures)
