"""Health of a new batch of pairs against the pairs already stored: has the data shifted?

Rows are validated one by one at ingest; this looks at the batch as a whole. A night's batch from a
new source, with replies three times longer, or on which the champion is suddenly near chance, passes
every row rule and still changes what the next model learns. Each check gives a figure and, against
two thresholds, `ok`, `warn` or `hold`; the batch takes the worst. A held batch is stored but not
trained on until a person releases it. Pure: frames and numbers in, a report out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from rmcore.evaluation.length_bias import pair_lengths
from rmcore.evaluation.slices import wilson_interval

STATUSES = ("ok", "warn", "hold")
_EPS = 1e-4  # floor of a bin's share, so an empty bin gives a large but finite PSI term


@dataclass
class HealthConfig:
    """Thresholds of the batch checks: a figure at or above `*_warn` warns, at or above `*_hold` holds."""

    length_psi_warn: float = field(
        default=0.1,
        metadata={
            "help": "Population stability index of prompt/chosen/rejected lengths, batch vs store (bins at the "
            "store's quantiles, 4-10 by size). 0.1 is the usual 'some shift', 0.25 'a different population'."
        },
    )
    length_psi_hold: float = field(default=0.25, metadata={"help": "PSI of a length distribution that holds."})
    chosen_longer_warn: float = field(
        default=0.1,
        metadata={"help": "Change (absolute, 0-1) in the share of pairs whose chosen reply is longer that warns."},
    )
    chosen_longer_hold: float = field(default=0.2, metadata={"help": "Change in the chosen-longer share that holds."})
    duplicate_warn: float = field(
        default=0.3,
        metadata={"help": "Share of the batch's rows that repeat a stored or earlier pair (0-1) that warns."},
    )
    duplicate_hold: float = field(
        default=1.0,
        metadata={
            "help": "Duplicate share that holds. Duplicates are never stored, so by default they only warn "
            "(1.0); lower it where a resent batch means a broken export whose new rows are suspect too."
        },
    )
    category_psi_warn: float = field(
        default=0.1, metadata={"help": "PSI of the category mix (first category column present) that warns."}
    )
    category_psi_hold: float = field(default=0.25, metadata={"help": "PSI of the category mix that holds."})
    champion_drop_warn: float = field(
        default=0.05,
        metadata={"help": "Champion accuracy on the batch this far (0-1) below its held-out accuracy warns."},
    )
    champion_drop_hold: float = field(default=0.15, metadata={"help": "Champion accuracy drop that holds."})
    min_pairs: int = field(
        default=50,
        metadata={
            "help": "Fewer pairs in the batch or the store: the distribution checks are recorded but can only "
            "warn (a handful of pairs cannot show a shift). 0 = no floor."
        },
    )
    category_columns: tuple[str, ...] = field(
        default=("source", "category", "subset"),
        metadata={"help": "Columns naming a pair's category, tried in order (the first present is compared)."},
    )

    def __post_init__(self) -> None:
        self.category_columns = tuple(self.category_columns)
        for check in ("length_psi", "chosen_longer", "duplicate", "category_psi", "champion_drop"):
            warn, hold = getattr(self, f"{check}_warn"), getattr(self, f"{check}_hold")
            if not 0.0 <= warn <= hold:
                raise ValueError(f"HealthConfig.{check}_warn must be in [0, {check}_hold = {hold}], got {warn}")
        if self.min_pairs < 0:
            raise ValueError(f"HealthConfig.min_pairs must be >= 0, got {self.min_pairs}")


@dataclass
class HealthCheck:
    """One check: its figure, its thresholds and its verdict, with a sentence for people."""

    name: str
    value: float
    warn: float
    hold: float
    status: str
    detail: str


@dataclass
class HealthReport:
    """All checks of a batch; `status` is the worst of them."""

    status: str
    checks: list[HealthCheck] = field(default_factory=list)
    n_batch: int = 0
    n_reference: int = 0

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.status != "ok"]

    def figures(self) -> dict[str, float]:
        """Flat figures for a metrics store: health.<check> and health.status (0 ok, 1 warn, 2 hold)."""
        flat = {f"health.{c.name}": float(c.value) for c in self.checks}
        return {**flat, "health.status": float(STATUSES.index(self.status))}

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": self.reasons}


def psi_bins(n_reference: int, n_batch: int) -> int:
    """Bins for the PSI of two samples: one per 25 pairs of the smaller, from 4 to 10.

    Two samples of one population have an expected PSI of about (bins - 1)(1/n + 1/m) from sampling
    alone; with this rule it stays under 0.05 for any batch of 100 pairs or more, well below the
    0.1 that warns, while a real shift (replies twice as long) scores above 1.
    """
    return int(np.clip(min(n_reference, n_batch) // 25, 4, 10))


def psi(reference: Sequence[float], batch: Sequence[float], n_bins: int | None = None) -> float:
    """Population stability index: sum over bins of (b - r) * ln(b / r), bins at the reference's quantiles.

    Shares are floored at 1e-4, so a bin the reference never fills gives a large finite term. nan when
    either side is empty. `n_bins` None = `psi_bins`.
    """
    ref = np.asarray(reference, dtype=np.float64)
    new = np.asarray(batch, dtype=np.float64)
    if ref.size == 0 or new.size == 0:
        return float("nan")
    n_bins = n_bins or psi_bins(ref.size, new.size)
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1) / ref.size
    b = np.bincount(np.searchsorted(inner, new, side="right"), minlength=inner.size + 1) / new.size
    return categorical_psi(r, b)


def categorical_psi(reference_shares: np.ndarray, batch_shares: np.ndarray) -> float:
    """PSI of two share vectors over the same categories (each sums to 1)."""
    r = np.maximum(np.asarray(reference_shares, dtype=np.float64), _EPS)
    b = np.maximum(np.asarray(batch_shares, dtype=np.float64), _EPS)
    return float(np.sum((b - r) * np.log(b / r)))


def ks_statistic(reference: Sequence[float], batch: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    new = np.sort(np.asarray(batch, dtype=np.float64))
    if ref.size == 0 or new.size == 0:
        return float("nan")
    grid = np.concatenate([ref, new])
    gap = np.searchsorted(ref, grid, side="right") / ref.size - np.searchsorted(new, grid, side="right") / new.size
    return float(np.abs(gap).max())


def text_lengths(pairs: pd.DataFrame) -> pd.DataFrame:
    """Prompt, chosen and rejected reply lengths (characters) of pairs with or without a `prompt` column."""
    prompts = pairs["prompt"].fillna("") if "prompt" in pairs else pd.Series([""] * len(pairs))
    chosen = [p + c for p, c in zip(prompts, pairs["chosen"], strict=True)]
    rejected = [p + r for p, r in zip(prompts, pairs["rejected"], strict=True)]
    return pair_lengths(chosen, rejected)


def grade(name: str, value: float, warn: float, hold: float, detail: str, can_hold: bool = True) -> HealthCheck:
    """The verdict of one figure against its thresholds; nan is `ok` (nothing to compare)."""
    status = "ok"
    if np.isfinite(value) and value >= warn:
        status = "hold" if value >= hold and can_hold else "warn"
    return HealthCheck(name, float(value), warn, hold, status, detail)


def distribution_checks(batch: pd.DataFrame, reference: pd.DataFrame, config: HealthConfig) -> list[HealthCheck]:
    """Length PSI per text field, chosen-longer share and category mix, batch vs reference pairs."""
    enough = min(len(batch), len(reference)) >= config.min_pairs
    new, ref = text_lengths(batch), text_lengths(reference)
    checks = []
    for column in ("prompt", "chosen", "rejected"):
        value = psi(ref[column], new[column])
        ks = ks_statistic(ref[column], new[column])
        ratio = new[column].median() / max(ref[column].median(), 1)
        detail = f"PSI {value:.3f}, KS {ks:.3f}; median {ratio:.2f}x the store's"
        checks.append(
            grade(f"{column}_length_psi", value, config.length_psi_warn, config.length_psi_hold, detail, enough)
        )
    share_new = float((new["chosen"] > new["rejected"]).mean())
    share_ref = float((ref["chosen"] > ref["rejected"]).mean())
    change = abs(share_new - share_ref)
    detail = f"chosen is the longer reply in {share_new:.1%} of the batch vs {share_ref:.1%} of the store"
    checks.append(
        grade("chosen_longer_change", change, config.chosen_longer_warn, config.chosen_longer_hold, detail, enough)
    )
    column = next((c for c in config.category_columns if c in batch.columns or c in reference.columns), None)
    if column is not None:
        checks.append(category_check(batch, reference, column, config, enough))
    return checks


def category_check(
    batch: pd.DataFrame, reference: pd.DataFrame, column: str, config: HealthConfig, can_hold: bool
) -> HealthCheck:
    """PSI of the category shares; categories the store never had are named."""
    new = (batch[column] if column in batch else pd.Series(["(none)"] * len(batch))).fillna("(none)").astype(str)
    ref = (reference[column] if column in reference else pd.Series(["(none)"] * len(reference))).fillna("(none)")
    ref = ref.astype(str)
    names = sorted(set(new) | set(ref))
    shares_new = new.value_counts(normalize=True).reindex(names, fill_value=0.0).to_numpy()
    shares_ref = ref.value_counts(normalize=True).reindex(names, fill_value=0.0).to_numpy()
    value = categorical_psi(shares_ref, shares_new) if len(new) and len(ref) else float("nan")
    unseen = sorted(set(new) - set(ref))
    detail = f"PSI {value:.3f} of `{column}`" + (f"; new: {', '.join(unseen[:5])}" if unseen else "")
    return grade("category_psi", value, config.category_psi_warn, config.category_psi_hold, detail, can_hold)


def duplicate_check(duplicates: int, read: int, config: HealthConfig) -> HealthCheck:
    """Share of the rows read that repeated a stored pair or an earlier one of the batch."""
    value = duplicates / read if read else float("nan")
    detail = f"{duplicates} of {read} rows repeat a stored or earlier pair"
    can_hold = read >= config.min_pairs
    return grade("duplicate_rate", value, config.duplicate_warn, config.duplicate_hold, detail, can_hold)


def champion_check(batch_correct: np.ndarray, heldout_accuracy: float, config: HealthConfig) -> HealthCheck:
    """How far the champion's accuracy on the batch falls below its held-out accuracy."""
    correct = np.asarray(batch_correct, dtype=np.float64).reshape(-1)
    n = correct.size
    accuracy = float(correct.mean()) if n else float("nan")
    low, high = wilson_interval(int(correct.sum()), n)
    drop = heldout_accuracy - accuracy
    detail = (
        f"champion accuracy {accuracy:.3f} [{low:.3f}, {high:.3f}] on {n} new pairs vs {heldout_accuracy:.3f} held out"
    )
    can_hold = n >= config.min_pairs
    return grade("champion_accuracy_drop", drop, config.champion_drop_warn, config.champion_drop_hold, detail, can_hold)


def assess_batch(
    batch: pd.DataFrame,
    reference: pd.DataFrame,
    config: HealthConfig | None = None,
    duplicates: int = 0,
    read: int | None = None,
    champion_correct: np.ndarray | None = None,
    champion_heldout_accuracy: float | None = None,
) -> HealthReport:
    """All checks of a batch of good pairs against reference pairs from the store.

    Args:
        batch: [B] the batch's accepted pairs (chosen, rejected, optional prompt and category columns).
        reference: [R] stored pairs before this batch (or a sample of them); empty = first batch.
        duplicates, read: rows of the batch refused as duplicates, and rows read in all.
        champion_correct: [B] the champion's outcomes on the batch, with its held-out accuracy; None = no champion.
    """
    config = config or HealthConfig()
    checks = distribution_checks(batch, reference, config) if len(reference) and len(batch) else []
    checks.append(duplicate_check(duplicates, len(batch) + duplicates if read is None else read, config))
    if champion_correct is not None and champion_heldout_accuracy is not None and len(batch):
        checks.append(champion_check(champion_correct, champion_heldout_accuracy, config))
    status = max((c.status for c in checks), key=STATUSES.index, default="ok")
    return HealthReport(status, checks, len(batch), len(reference))
