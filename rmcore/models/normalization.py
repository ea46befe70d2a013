"""Reward scale: the mean, std and percentiles of a model's rewards on held-out pairs, stored with the model.

A reward model's raw scale is arbitrary and moves from one training to the next; an RL loop that adds
the reward to a KL penalty needs it on a known scale. Training measures it once on the held-out pairs
(both sides of every pair), writes it into the model's `config.json` under `reward_stats`, and a server
returns `(r - mean) / std`. The mean and std are also written at the top level of `config.json`, where
OpenRLHF's `normalize_reward` reads them. Pure functions plus two small file edges.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

CONFIG_KEY = "reward_stats"
# OpenRLHF's reward models carry these two at the top of config.json (`config.mean`, `config.std`).
OPENRLHF_KEYS = ("mean", "std")
PERCENTILES = (5, 25, 50, 75, 95)
# A std below this means a constant model: dividing by it would blow rewards up, so normalisation only centres.
MIN_STD = 1e-6


def reward_stats(rewards: Sequence[float]) -> dict[str, float]:
    """mean, std (population), min, max, p5..p95 and n of the rewards; raises on an empty or non-finite input."""
    values = np.asarray(rewards, dtype=np.float64)
    if values.size == 0:
        raise ValueError("reward_stats needs at least one reward, got none")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"reward_stats: {int((~np.isfinite(values)).sum())} reward(s) are NaN or infinite")
    stats = {"mean": float(values.mean()), "std": float(values.std()), "n": float(values.size)}
    stats.update({"min": float(values.min()), "max": float(values.max())})
    stats.update({f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES})
    return stats


def normalize(rewards: Sequence[float], stats: Mapping[str, float] | None) -> list[float]:
    """(r - mean) / std; without stats the rewards come back unchanged, with a ~0 std they are only centred."""
    if not stats:
        return [float(r) for r in rewards]
    mean, std = float(stats["mean"]), float(stats["std"])
    scale = std if std > MIN_STD else 1.0
    return [(float(r) - mean) / scale for r in rewards]


def scale_shift(old: Mapping[str, float] | None, new: Mapping[str, float] | None) -> dict[str, float]:
    """How the raw reward scale moves from the old champion to a new one: mean shift and std ratio.

    An RL loop fed raw rewards sees its reward/KL balance change by this much on promotion; one fed
    normalised rewards does not. Empty when either side has no stats (first model, or an old one).
    """
    if not old or not new:
        return {}
    ratio = float(new["std"]) / float(old["std"]) if float(old["std"]) > MIN_STD else math.nan
    return {"scale_mean_shift": float(new["mean"]) - float(old["mean"]), "scale_std_ratio": ratio}


def describe_shift(shift: Mapping[str, float]) -> str:
    """One line for a person: 'reward scale: mean +0.42, std x1.30'; empty when there is no shift."""
    if not shift:
        return ""
    return f"reward scale: mean {shift['scale_mean_shift']:+.3g}, std x{shift['scale_std_ratio']:.3g}"


def write_reward_stats(model_dir: str | Path, stats: Mapping[str, float]) -> Path:
    """Add the stats to the model folder's config.json (key `reward_stats`, and `mean`/`std` at the top
    for OpenRLHF), keeping every other key."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no config.json to store the reward stats in")
    config = json.loads(path.read_text())
    config[CONFIG_KEY] = {k: float(v) for k, v in stats.items()}
    config.update({key: float(stats[key]) for key in OPENRLHF_KEYS})
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_reward_stats(model_dir: str | Path) -> dict[str, float] | None:
    """The stats stored in the model's config.json, or None for a model trained without them.

    `model_dir` may be a model folder or a downloaded MLflow model (its root), as `load_reward_model` takes.
    """
    from rmcore.models.loading import model_folder_in

    try:
        path = model_folder_in(model_dir) / "config.json"
    except FileNotFoundError:
        return None
    if not path.is_file():
        return None
    stats = json.loads(path.read_text()).get(CONFIG_KEY)
    return {k: float(v) for k, v in stats.items()} if stats else None
