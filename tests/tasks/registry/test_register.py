"""The registry and champion gate against a real MLflow SQLite store with tiny real models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmcore.checks.compare import Decision, PromotionRule
from tasks.evaluate import pair_metrics
from tasks.registry.gate import decision_tags, gate_and_promote
from tasks.registry.models import load_model
from tasks.registry.register import (
    CHALLENGER,
    CHAMPION,
    RegistryConfig,
    aliases,
    register_candidate,
    registry_lock,
    withdraw_candidate,
)
from tasks.registry.report import decision_markdown
from tasks.registry.scorers import score_model, score_pairs
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

# The gate's mechanics with any first model; the first champion's floor has its own test below.
RULE = PromotionRule(first_champion_floor=None)

# The shared fixtures, bound here so pytest finds them (conftest.py belongs to the lead).
mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
PAIRS = fx.synthetic_pairs()


def scorer(uri: str) -> pd.DataFrame:
    """The real champion scorer: download the pinned champion and score the eval pairs."""
    return score_model(uri, PAIRS)


def correct_vector(source: str, pairs: pd.DataFrame) -> np.ndarray:
    """Per-pair outcomes (1 = chosen scored higher) of a model folder or URI."""
    return score_model(source, pairs)["correct"].to_numpy(dtype=float)


def versions(name: str) -> list[str]:
    return sorted(str(v.version) for v in client().search_model_versions(f"name='{name}'"))


def candidate(home: Path, name: str, model_dir: Path, lock: Path) -> tuple[str, np.ndarray]:
    """Log, register as challenger and evaluate one model; returns (version, per-pair outcomes)."""
    run_id = fx.log_candidate(home, f"exp-{name}", model_dir)
    version = register_candidate(run_id, "model", name, {"data_digest": "abc", "hf_token": "x"}, lock)
    return version, correct_vector(str(model_dir), PAIRS)


def test_first_candidate_becomes_champion_and_loads_back_offline(mlflow_home, tracking_uri, model_dirs, tmp_path):
    name, lock = "rm-first", mlflow_home / "registry.lock"
    version, correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    assert aliases(name) == {CHALLENGER: version}
    tags = client().get_model_version(name, version).tags
    assert tags["data_digest"] == "abc" and "hf_token" not in tags

    decision = gate_and_promote(name, version, correct, scorer, RULE, lock)

    assert decision.promote and "first model" in decision.reason
    assert aliases(name) == {CHALLENGER: version, CHAMPION: version}
    model, tokenizer = load_model(f"models:/{name}@{CHAMPION}")
    reloaded = score_pairs(model, tokenizer, PAIRS)["correct"].to_numpy(dtype=float)
    np.testing.assert_array_equal(reloaded, correct)
    assert client().get_model_version(name, version).tags["gate.decision"] == "promoted"


def test_worse_candidate_is_not_promoted_and_the_version_says_why(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-worse", mlflow_home / "registry.lock"
    good, good_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    gate_and_promote(name, good, good_correct, scorer, RULE, lock)
    bad, bad_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    assert bad_correct.mean() < good_correct.mean()

    decision = gate_and_promote(name, bad, bad_correct, scorer, RULE, lock)

    assert not decision.promote and decision.reason.startswith("worse")
    assert aliases(name) == {CHAMPION: good, CHALLENGER: bad}
    tags = client().get_model_version(name, bad).tags
    assert tags["gate.decision"] == "rejected"
    assert tags["gate.reason"] == decision.reason
    assert tags["gate.champion_version"] == good
    assert float(tags["gate.diff_high"]) < 0


def test_better_candidate_is_promoted(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-better", mlflow_home / "registry.lock"
    bad, bad_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, bad, bad_correct, scorer, RULE, lock)
    good, good_correct = candidate(mlflow_home, name, model_dirs["good"], lock)

    decision = gate_and_promote(name, good, good_correct, scorer, RULE, lock)

    assert decision.promote, decision.reason
    assert decision.figures["diff_low"] > 0
    assert decision.figures["champion_accuracy"] == pytest.approx(bad_correct.mean())
    assert aliases(name) == {CHAMPION: good, CHALLENGER: good}


def test_failure_in_the_gate_leaves_versions_and_aliases_unchanged(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-fail", mlflow_home / "registry.lock"
    first, first_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, first, first_correct, scorer, RULE, lock)
    second, _ = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, second, first_correct, scorer, RULE, lock)  # equal: challenger only
    before = (versions(name), aliases(name))
    assert before == ([first, second], {CHAMPION: first, CHALLENGER: second})

    third, third_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    assert aliases(name)[CHALLENGER] == third

    def broken_scorer(uri: str) -> np.ndarray:
        raise RuntimeError("champion could not be scored")

    with pytest.raises(RuntimeError, match="could not be scored"):
        gate_and_promote(name, third, third_correct, broken_scorer, RULE, lock)
    assert (versions(name), aliases(name)) == before


def test_failure_after_the_alias_moved_restores_the_champion(mlflow_home, tracking_uri, model_dirs, monkeypatch):
    name, lock = "rm-fail-late", mlflow_home / "registry.lock"
    first, first_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, first, first_correct, scorer, RULE, lock)
    before = (versions(name), aliases(name))
    second, second_correct = candidate(mlflow_home, name, model_dirs["good"], lock)

    # A store that fails on the write after the champion alias moved (e.g. the server goes away).
    def fail_after_move(self, model_name, alias, version):
        original(self, model_name, alias, version)
        if alias == CHAMPION and version == second:
            raise ConnectionError("tracking server went away")

    from mlflow import MlflowClient

    original = MlflowClient.set_registered_model_alias
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", fail_after_move)
    with pytest.raises(ConnectionError):
        gate_and_promote(name, second, second_correct, scorer, RULE, lock)
    monkeypatch.undo()
    assert (versions(name), aliases(name)) == before


def test_withdraw_candidate_restores_the_previous_challenger(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-rollback", mlflow_home / "registry.lock"
    first, _ = candidate(mlflow_home, name, model_dirs["good"], lock)
    second, _ = candidate(mlflow_home, name, model_dirs["bad"], lock)
    assert aliases(name) == {CHALLENGER: second}
    withdraw_candidate(name, second)
    assert versions(name) == [first]
    assert aliases(name) == {CHALLENGER: first}
    withdraw_candidate(name, second)  # already gone: a no-op


def test_withdraw_after_a_promotion_puts_the_old_champion_back(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-undo", mlflow_home / "registry.lock"
    first, first_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, first, first_correct, scorer, RULE, lock)
    before = (versions(name), aliases(name))
    second, second_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    assert gate_and_promote(name, second, second_correct, scorer, RULE, lock).promote

    with registry_lock(lock):  # the run failed after the gate, e.g. logging the decision
        withdraw_candidate(name, second)

    assert (versions(name), aliases(name)) == before


def test_undo_of_the_first_champion_leaves_no_champion(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-undo-first", mlflow_home / "registry.lock"
    first, first_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    gate_and_promote(name, first, first_correct, scorer, RULE, lock)
    with registry_lock(lock):
        withdraw_candidate(name, first)
    assert versions(name) == [] and aliases(name) == {}


def test_a_gate_that_times_out_on_the_lock_withdraws_its_candidate(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-timeout", mlflow_home / "registry-timeout.lock"
    first, first_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, first, first_correct, scorer, RULE, lock)
    before = (versions(name), aliases(name))
    second, second_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    held = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:  # another run's gate, in another thread, holding the lock
        with registry_lock(lock):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait(30)
    try:
        with pytest.raises(TimeoutError):
            gate_and_promote(name, second, second_correct, scorer, RULE, lock, lock_timeout=0.2)
    finally:
        release.set()
        holder.join(30)
    assert (versions(name), aliases(name)) == before


def test_two_concurrent_gates_never_both_win(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-race", mlflow_home / "registry.lock"
    base, base_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    gate_and_promote(name, base, base_correct, scorer, RULE, lock)
    racers = [candidate(mlflow_home, name, model_dirs["good"], lock) for _ in range(2)]
    decisions: dict[str, Decision] = {}
    start = threading.Barrier(2)

    def slow_scorer(uri: str) -> pd.DataFrame:
        time.sleep(0.5)  # widen the window between reading the champion and moving the alias
        return scorer(uri)

    def gate(version: str, correct: np.ndarray) -> None:
        start.wait()
        decisions[version] = gate_and_promote(name, version, correct, slow_scorer, RULE, lock)

    threads = [threading.Thread(target=gate, args=racer) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(d.promote for d in decisions.values()) == [False, True]
    winner = next(v for v, d in decisions.items() if d.promote)
    loser = next(v for v, d in decisions.items() if not d.promote)
    assert aliases(name)[CHAMPION] == winner
    assert client().get_model_version(name, loser).tags["gate.champion_version"] == winner


def test_decision_tags_and_markdown_carry_the_figures():
    decision = Decision(
        False,
        "worse: ...",
        {"challenger_accuracy": 0.4, "champion_accuracy": 0.8, "diff": -0.4, "n_pairs": 40.0, "champion_version": 3.0},
    )
    tags = decision_tags(decision, "3")
    assert tags["gate.decision"] == "rejected" and tags["gate.diff"] == "-0.4" and tags["gate.champion_version"] == "3"
    markdown = decision_markdown(decision, "rm", "4", "runs:/abc")
    assert "| champion | 3 | 0.8000 |" in markdown
    assert "| challenger | 4 | 0.4000 |" in markdown
    assert "**Not promoted**" in markdown and "runs:/abc" in markdown


def test_registry_config_errors_name_the_field():
    with pytest.raises(ValueError, match="RegistryConfig.name"):
        RegistryConfig(name="a/b")
    with pytest.raises(ValueError, match="lock_timeout"):
        RegistryConfig(lock_timeout=-5)
    assert RegistryConfig().resolved_lock_path("/h") == "/h/registry.lock"


def test_pair_metrics_of_the_fixture_models_are_far_apart(model_dirs):
    good = pair_metrics(score_pairs(*load_model(str(model_dirs["good"])), PAIRS))
    bad = pair_metrics(score_pairs(*load_model(str(model_dirs["bad"])), PAIRS))
    assert good["accuracy"] - bad["accuracy"] > 0.3


def test_chat_template_tags_hash_the_saved_template(tmp_path):
    import hashlib

    from transformers import AutoTokenizer

    from rmcore.models.loading import default_model_path
    from tasks.registry.register import chat_template_tags

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    tokenizer.save_pretrained(tmp_path / "plain")
    assert chat_template_tags(tmp_path / "plain") == {"chat_template_hash": "none"}
    tokenizer.chat_template = "{{ messages[0]['content'] }}"
    tokenizer.save_pretrained(tmp_path / "chat")
    expected = hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()
    assert chat_template_tags(tmp_path / "chat") == {"chat_template_hash": expected}


def test_the_decision_reports_the_reward_scale_shift(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-scale", mlflow_home / "registry.lock"
    bad, bad_correct = candidate(mlflow_home, name, model_dirs["bad"], lock)
    client().log_metric(client().get_model_version(name, bad).run_id, "eval_reward_stats.mean", 1.0)
    client().log_metric(client().get_model_version(name, bad).run_id, "eval_reward_stats.std", 2.0)
    first = gate_and_promote(name, bad, bad_correct, scorer, RULE, lock)
    assert "scale_std_ratio" not in first.figures  # no champion before: no shift
    good, good_correct = candidate(mlflow_home, name, model_dirs["good"], lock)
    for key, value in (("eval_reward_stats.mean", 1.5), ("eval_reward_stats.std", 3.0)):
        client().log_metric(client().get_model_version(name, good).run_id, key, value)

    decision = gate_and_promote(name, good, good_correct, scorer, RULE, lock)

    assert decision.figures["scale_mean_shift"] == pytest.approx(0.5)
    assert decision.figures["scale_std_ratio"] == pytest.approx(1.5)
    assert decision.reason.endswith("reward scale: mean +0.5, std x1.5")
    assert client().get_model_version(name, good).tags["gate.scale_std_ratio"] == "1.5"


def test_a_first_model_at_chance_is_registered_but_never_made_champion(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-floor", mlflow_home / "registry.lock"
    version, _ = candidate(mlflow_home, name, model_dirs["good"], lock)
    at_chance = np.array([1.0, 0.0] * 10)  # 0.50 on 20 pairs

    decision = gate_and_promote(name, version, at_chance, lambda _: None, PromotionRule(), lock)

    assert not decision.promote and "floor 0.5" in decision.reason
    assert CHAMPION not in aliases(name)
    assert client().get_model_version(name, version).tags["gate.decision"] == "rejected"
