"""Reward scale: stats of held-out rewards, normalisation, the old -> new shift, and the config.json round trip."""

from __future__ import annotations

import json
import math

import pytest

from rmcore.models.normalization import (
    describe_shift,
    normalize,
    read_reward_stats,
    reward_stats,
    scale_shift,
    write_reward_stats,
)


def test_reward_stats_by_hand():
    stats = reward_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stats["mean"] == 3.0 and stats["std"] == pytest.approx(math.sqrt(2.0)) and stats["n"] == 5
    assert (stats["min"], stats["p25"], stats["p50"], stats["p75"], stats["max"]) == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert stats["p5"] == pytest.approx(1.2)


@pytest.mark.parametrize(("rewards", "message"), [([], "at least one"), ([1.0, float("nan")], "NaN or infinite")])
def test_reward_stats_refuses_what_has_no_scale(rewards, message):
    with pytest.raises(ValueError, match=message):
        reward_stats(rewards)


def test_normalize_standardises_and_only_centres_a_constant_model():
    assert normalize([1.0, 5.0], {"mean": 3.0, "std": 2.0}) == [-1.0, 1.0]
    assert normalize([4.0], {"mean": 3.0, "std": 0.0}) == [1.0]
    assert normalize([4.0], None) == [4.0]


def test_scale_shift_between_two_champions():
    shift = scale_shift({"mean": 1.0, "std": 2.0}, {"mean": 1.5, "std": 3.0})
    assert shift == {"scale_mean_shift": 0.5, "scale_std_ratio": 1.5}
    assert describe_shift(shift) == "reward scale: mean +0.5, std x1.5"
    assert scale_shift(None, {"mean": 1.0, "std": 1.0}) == {} and describe_shift({}) == ""


def test_stats_round_trip_through_config_json_keeping_other_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "num_labels": 1}))
    assert read_reward_stats(tmp_path) is None
    stats = reward_stats([0.0, 2.0])
    write_reward_stats(tmp_path, stats)
    assert read_reward_stats(tmp_path) == stats
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "bert"
    with pytest.raises(FileNotFoundError, match="config.json"):
        write_reward_stats(tmp_path / "missing", stats)


def test_openrlhf_reads_mean_and_std_at_the_top_of_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    write_reward_stats(tmp_path, reward_stats([0.0, 2.0, 4.0]))
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["mean"], config["std"]) == (2.0, pytest.approx(1.632993, abs=1e-6))
    assert config["reward_stats"]["mean"] == config["mean"]


def test_stats_are_read_from_a_downloaded_mlflow_model_root(tmp_path):
    folder = tmp_path / "artifacts" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    write_reward_stats(folder, reward_stats([1.0, 3.0]))
    assert read_reward_stats(tmp_path)["mean"] == 2.0
