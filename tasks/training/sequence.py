"""Tokenize, train, evaluate: the one sequence that the `reward-model` flow and `rewardflow train` both run.

The two doors differ in where the pairs come from (the data store, or files named on the command line),
where the caches and reports go, and how each step runs: as a Prefect task (a run in the UI, retries)
or as a plain call. Those are the parameters here, so the order of the steps and what one step hands
the next (the token limit, the tokenizer settings, the model folder) are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd

from rmcore import RewardConfig
from rmcore.models.scoring import ScoringConfig
from tasks.data.benchmarks import Benchmark
from tasks.evaluate import EvalResult, evaluate_model, evaluate_pairs
from tasks.training.tokenize import tokenize, tokenize_pairs_cached
from tasks.training.train import TrainJob, TrainResult, train, train_reward_model, training_max_length


@dataclass(frozen=True)
class Steps:
    """The function that does each step, all with the same signatures: plain calls or their Prefect tasks."""

    tokenize: Callable[..., datasets.Dataset]
    train: Callable[..., TrainResult]
    evaluate: Callable[..., EvalResult]


# `rewardflow train`: no Prefect server is needed to train from the shell.
AS_CALLS = Steps(tokenize=tokenize_pairs_cached, train=train_reward_model, evaluate=evaluate_pairs)
# The flow: each step is a task run in the Prefect UI.
AS_TASKS = Steps(tokenize=tokenize, train=train, evaluate=evaluate_model)


@dataclass
class TrainedAndEvaluated:
    """What the sequence leaves behind: the trained model folder and its held-out and benchmark figures."""

    training: TrainResult
    evaluation: EvalResult | None  # None when there were no held-out pairs to score


def scoring_as_trained(model_name_or_path: str, config: RewardConfig) -> ScoringConfig:
    """How every later load of the trained model scores: at training's token limit and remote-code trust.

    The token limit is resolved here, once (the config's, else the model's own); reading the model's
    tokenizer and config to do so names every model-side mistake before any pair is read or written.
    """
    max_length = training_max_length(model_name_or_path, config)
    return ScoringConfig(max_length=max_length, trust_remote_code=config.trust_remote_code)


def train_and_evaluate(
    train_pairs: pd.DataFrame | datasets.Dataset,
    eval_pairs: pd.DataFrame | str | None,
    *,
    config: RewardConfig,
    job: TrainJob,
    scoring: ScoringConfig,
    cache_dir: Path,
    eval_dir: Path,
    benchmarks: Sequence[Benchmark] = (),
    steps: Steps = AS_CALLS,
) -> TrainedAndEvaluated:
    """Tokenize the training pairs, train on them, and score the trained model on the held-out pairs.

    The evaluate step also scores the pinned benchmarks, with the model it loaded for the held-out pairs:
    for a model of billions of parameters a second load is minutes more.

    Args:
        train_pairs: a frame, or a Dataset read from the store (on disk: memory stays flat).
        eval_pairs: the held-out pairs as a frame or a Parquet path; None = no evaluation.
        config: the training's `RewardConfig`; its tokenizer settings also shape the tokenization.
        job: the base model, LoRA, processes and resume settings of the training.
        scoring: from `scoring_as_trained`: the texts are cut as training cut them, and the trained model
            loads as its base did.
        cache_dir: where tokenized pairs are cached, keyed by data, tokenizer and token limit.
        eval_dir: where the scores and reports of the held-out pairs are written (the benchmarks' under
            `eval_dir/benchmarks`).
        benchmarks: the pinned benchmarks to score the trained model on (the flow's); none from the shell.
        steps: `AS_CALLS` from the shell, `AS_TASKS` inside a flow.

    Raises:
        ValueError: benchmarks without held-out pairs: the evaluate step that scores them would not run.
    """
    if benchmarks and eval_pairs is None:
        raise ValueError("benchmarks are scored in the evaluate step, which runs only with held-out pairs")
    train_dataset = steps.tokenize(
        train_pairs,
        job.model_name_or_path,
        scoring.max_length,
        cache_dir,
        num_proc=config.dataset_num_proc,
        config=config,
    )
    training = steps.train(train_dataset, None, config, job)
    if eval_pairs is None:
        return TrainedAndEvaluated(training=training, evaluation=None)
    evaluation = steps.evaluate(training.model_dir, eval_pairs, str(eval_dir), scoring=scoring, benchmarks=benchmarks)
    return TrainedAndEvaluated(training=training, evaluation=evaluation)
