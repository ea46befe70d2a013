"""Length bias: does the reward follow the reply's length rather than its quality?

Reward models learn to prefer the longer reply, and a policy optimised against such a model learns to
ramble. Two views: the Spearman rank correlation of reward with reply length over all replies (a
rank statistic, so one very long reply does not dominate), and accuracy split by whether the chosen
reply is the longer one (a length-biased model is right when chosen is longer and wrong otherwise).
Lengths are characters of the reply, the same for every model whatever its tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def split_prompt(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split an implicit-prompt pair into (shared prompt, chosen reply, rejected reply).

    hh-rlhf pairs repeat the whole dialogue in both texts; the replies are what differs. The cut is at
    the last turn boundary ("\n\nAssistant:") inside the common prefix, or at the common prefix itself.
    """
    n = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        n += 1
    turn = chosen.rfind("\n\nAssistant:", 0, n + 1)
    cut = turn + len("\n\nAssistant:") if turn >= 0 else n
    return chosen[:cut], chosen[cut:], rejected[cut:]


def pair_lengths(chosen_texts: Sequence[str], rejected_texts: Sequence[str]) -> pd.DataFrame:
    """[N] rows: `prompt`, `chosen`, `rejected` reply lengths and `pair` = prompt + longer reply (characters).

    Texts are the full model inputs (prompt + reply), as scored.
    """
    rows = []
    for chosen, rejected in zip(chosen_texts, rejected_texts, strict=True):
        prompt, chosen_reply, rejected_reply = split_prompt(chosen, rejected)
        rows.append((len(prompt), len(chosen_reply), len(rejected_reply)))
    lengths = pd.DataFrame(rows, columns=["prompt", "chosen", "rejected"], dtype=np.int64)
    lengths["pair"] = lengths["prompt"] + lengths[["chosen", "rejected"]].max(axis=1)
    return lengths


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: the Pearson correlation of average ranks (ties share a rank).

    nan when fewer than two values or either side is constant.
    """
    a = pd.Series(np.asarray(x, dtype=np.float64)).rank(method="average")
    b = pd.Series(np.asarray(y, dtype=np.float64)).rank(method="average")
    if len(a) < 2 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(np.corrcoef(a.to_numpy(), b.to_numpy())[0, 1])


def length_bias_figures(
    rewards_chosen: np.ndarray, rewards_rejected: np.ndarray, lengths: pd.DataFrame
) -> dict[str, float]:
    """The length-bias figures of one model on scored pairs.

    Args:
        rewards_chosen, rewards_rejected: [N].
        lengths: [N] rows with `chosen` and `rejected` reply lengths (`pair_lengths`).

    Returns:
        spearman_reward_length: rank correlation of reward with reply length over all 2N replies.
        prefers_longer: share of unequal-length pairs where the longer reply got the higher reward.
        accuracy_chosen_longer / accuracy_chosen_shorter: accuracy on pairs whose chosen reply is
        strictly longer / strictly shorter, with their counts n_chosen_longer / n_chosen_shorter.
    """
    chosen = np.asarray(rewards_chosen, dtype=np.float64).reshape(-1)
    rejected = np.asarray(rewards_rejected, dtype=np.float64).reshape(-1)
    len_c, len_r = lengths["chosen"].to_numpy(), lengths["rejected"].to_numpy()
    correct = chosen > rejected
    longer, shorter = len_c > len_r, len_c < len_r
    unequal = longer | shorter
    longer_wins = np.where(longer, chosen > rejected, rejected > chosen)

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else float("nan")

    return {
        "spearman_reward_length": spearman(np.concatenate([chosen, rejected]), np.concatenate([len_c, len_r])),
        "prefers_longer": mean(longer_wins[unequal]),
        "accuracy_chosen_longer": mean(correct[longer]),
        "accuracy_chosen_shorter": mean(correct[shorter]),
        "n_chosen_longer": float(longer.sum()),
        "n_chosen_shorter": float(shorter.sum()),
    }
