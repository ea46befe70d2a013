"""The gate task against a real MLflow SQLite store: the champion is loaded as the run loads its models."""

from __future__ import annotations

import pytest

from rmcore.checks.compare import PromotionRule
from rmcore.checks.gate import GateChecks
from rmcore.models.scoring import ScoringConfig
from tasks.evaluate import evaluate_model
from tasks.registry.gate import gate_and_promote
from tasks.registry.promotion import gate_and_promote_task
from tasks.registry.register import CHAMPION, RegistryConfig, aliases, register_candidate
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def register(home, name: str, model_dir, lock) -> str:
    run_id = fx.log_candidate(home, f"exp-{name}", model_dir)
    return register_candidate(run_id, "model", name, None, lock)


@pytest.mark.parametrize("checks", [None, GateChecks()], ids=["overall", "with-checks"])
def test_a_champion_with_its_own_code_is_scored_with_trust_remote_code(
    checks, mlflow_home, tracking_uri, model_dirs, tmp_path
):
    name, lock = f"rm-remote-gate-{'checks' if checks else 'overall'}", mlflow_home / "registry.lock"
    champion = register(mlflow_home, name, save_tiny_remote_bert(tmp_path / "remote"), lock)
    first = PromotionRule(first_champion_floor=None)  # one outcome: no floor for this test's first model
    assert gate_and_promote(name, champion, [1.0], lambda _: None, first, lock).promote
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(12).to_parquet(pairs_path)
    scores = evaluate_model.fn(str(model_dirs["good"]), str(pairs_path), str(tmp_path / "eval")).scored_path
    gate = {
        "scores_path": scores,
        "pairs_path": str(pairs_path),
        "rule": PromotionRule(),
        "config": RegistryConfig(name=name),
        "home": str(mlflow_home),
        "checks": checks,
    }
    with pytest.raises(ValueError, match="custom code"):
        gate_and_promote_task.fn(register(mlflow_home, name, model_dirs["good"], lock), **gate)
    challenger = register(mlflow_home, name, model_dirs["good"], lock)

    decision = gate_and_promote_task.fn(challenger, scoring=ScoringConfig(trust_remote_code=True), **gate)

    assert decision.figures["champion_version"] == float(champion)
    assert aliases(name)[CHAMPION] in (champion, challenger)
