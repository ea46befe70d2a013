"""tasks/training/sequence.py: the one tokenize -> train -> evaluate sequence of the flow and `rewardflow train`."""

from __future__ import annotations

import pandas as pd
import pytest

from rmcore import RewardConfig
from tasks.data.benchmarks import Benchmark, pin_benchmark, pinned_benchmarks
from tasks.training.sequence import AS_CALLS, Steps, scoring_as_trained, train_and_evaluate
from tasks.training.train import TrainJob, build_reward_config
from tests.tiny_models import save_tiny_bert

PAIRS = pd.DataFrame(
    {"chosen": [f"a kind answer number {i}" for i in range(12)], "rejected": [f"rude {i}" for i in range(12)]}
)


@pytest.fixture
def base(tmp_path):
    return str(save_tiny_bert(tmp_path / "base", max_positions=64))


def test_the_token_limit_is_the_configs_else_the_models_own(base, tmp_path):
    assert scoring_as_trained(base, RewardConfig(output_dir=str(tmp_path), max_length=24)).max_length == 24
    assert scoring_as_trained(base, RewardConfig(output_dir=str(tmp_path))).max_length == 64
    trusting = RewardConfig(output_dir=str(tmp_path), trust_remote_code=True)
    assert scoring_as_trained(base, trusting).trust_remote_code


@pytest.fixture
def benchmarks(tmp_path) -> list[Benchmark]:
    source = tmp_path / "fixed.jsonl"
    fixed = {"chosen": [f"a patient answer {i}" for i in range(20)], "rejected": [f"go away {i}" for i in range(20)]}
    pd.DataFrame(fixed).to_json(source, orient="records", lines=True)
    pin_benchmark(tmp_path / "home", str(source))
    return pinned_benchmarks(tmp_path / "home")


@pytest.mark.timeout(300)
def test_tokenizes_at_the_resolved_limit_trains_and_scores_the_held_out_pairs_and_benchmarks(
    base, benchmarks, tmp_path, monkeypatch
):
    import tasks.registry.models as models

    loads = []
    load_reward_model = models.load_reward_model
    monkeypatch.setattr(models, "load_reward_model", lambda *args: loads.append(args[0]) or load_reward_model(*args))
    config = build_reward_config(
        tmp_path / "train", {"max_steps": 2, "per_device_train_batch_size": 4, "bf16": False, "use_cpu": True}
    )
    scoring = scoring_as_trained(base, config)
    seen = {}

    def tokenize(*args, **kwargs):
        seen["max_length"], seen["config"] = args[2], kwargs["config"]
        return AS_CALLS.tokenize(*args, **kwargs)

    steps = Steps(tokenize=tokenize, train=AS_CALLS.train, evaluate=AS_CALLS.evaluate)
    done = train_and_evaluate(
        PAIRS,
        PAIRS.iloc[:4],
        config=config,
        job=TrainJob(model_name_or_path=base),
        scoring=scoring,
        cache_dir=tmp_path / "cache",
        eval_dir=tmp_path / "eval",
        benchmarks=benchmarks,
        steps=steps,
    )
    assert seen == {"max_length": 64, "config": config}  # the tokenizer is shaped as training shapes it
    assert done.training.model_dir == str(tmp_path / "train")
    assert done.evaluation.metrics["n_pairs"] == 4
    assert (tmp_path / "eval" / "eval_scores.parquet").is_file()
    assert [(s.name, s.n_pairs) for s in done.evaluation.benchmarks] == [("fixed", 20)]
    assert (tmp_path / "eval" / "benchmarks" / "fixed.parquet").is_file()
    assert loads == [done.training.model_dir]  # the eval pairs and the benchmark share one load

    again = train_and_evaluate(
        PAIRS,
        None,
        config=config,
        job=TrainJob(model_name_or_path=base),
        scoring=scoring,
        cache_dir=tmp_path / "cache",
        eval_dir=tmp_path / "eval-none",
    )
    assert again.evaluation is None and again.training.model_dir == done.training.model_dir  # finished: reused
    assert not (tmp_path / "eval-none").exists()


def test_benchmarks_without_held_out_pairs_are_refused_before_any_work(base, benchmarks, tmp_path):
    config = build_reward_config(tmp_path / "train", {"max_steps": 1, "use_cpu": True})
    with pytest.raises(ValueError, match="only with held-out pairs"):
        train_and_evaluate(
            PAIRS,
            None,
            config=config,
            job=TrainJob(model_name_or_path=base),
            scoring=scoring_as_trained(base, config),
            cache_dir=tmp_path / "cache",
            eval_dir=tmp_path / "eval",
            benchmarks=benchmarks,
        )
    assert not (tmp_path / "cache").exists() and not (tmp_path / "train").exists()
