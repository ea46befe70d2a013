"""The `reward-model` flow: ingest → split → tokenize → train → evaluate → register behind the champion gate.

The body reads like the pipeline; each step is a task that wraps one `rmcore` call or one library call.
Registration comes last, so a run that fails anywhere leaves the registry as it was.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.params import RewardFlowParams
from flows.steps import build_peft, pipeline_data_config, sample_pairs
from rmcore.models import default_model_path
from tasks.evaluate import evaluate_model
from tasks.ingest import ingest
from tasks.register import (
    RegistryConfig,
    gate_and_promote_task,
    publish_decision,
    register_candidate_task,
    undo_candidate_task,
)
from tasks.run_log import log_decision, log_run_inputs, log_run_outputs, run_link
from tasks.store import data_hash, read_store
from tasks.tokenize import tokenize
from tasks.tracking import end_tracking_run, log_model, start_tracking_run
from tasks.train import build_reward_config, resolve_max_length, train


@flow(name="reward-model", log_prints=True)
def reward_model(params: RewardFlowParams = RewardFlowParams()) -> dict[str, Any]:
    """Train a reward model on the data store and promote it only if it beats the champion."""
    logger = get_run_logger()
    home = Path(params.home).resolve()
    ingest_report = ingest([params.dataset_name], home, pipeline_data_config(params)) if params.dataset_name else None

    pairs = read_store(home / "store", params.eval_fraction)
    train_df, eval_df = sample_pairs(pairs, params)
    run_dir = home / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{flow_run.get_name() or 'local'}"
    run_dir.mkdir(parents=True, exist_ok=True)
    eval_path = run_dir / "eval_pairs.parquet"
    eval_df.to_parquet(eval_path, index=False)
    hashes = {"data_hash": data_hash(pairs), "train_hash": data_hash(train_df), "eval_hash": data_hash(eval_df)}
    logger.info("Training on %d pairs, evaluating on %d (data %s)", len(train_df), len(eval_df), hashes["data_hash"])

    config = build_reward_config(run_dir / "train", {"seed": params.seed, **params.training})
    if params.lora is not None:
        config.merge_adapter_on_save = True
    registry = RegistryConfig(name=params.registered_model_name)
    version = None
    run_id = start_tracking_run(str(home), params.experiment_name, run_dir.name, hashes, params.tracking_uri)
    try:
        log_run_inputs(run_id, config, params.model_dump(mode="json"), train_df, eval_df, ingest_report)
        base_model = params.model_name_or_path or default_model_path()
        max_length = resolve_max_length(base_model, config)
        cache = home / "cache" / "tokenized"
        train_ds = tokenize(train_df, base_model, max_length, cache, config.dataset_num_proc)
        result = train(train_ds, None, config, base_model, build_peft(params.lora))
        evaluation = evaluate_model(result.model_dir, str(eval_path), str(run_dir / "eval"), max_length=max_length)
        log_run_outputs(run_id, result, evaluation, base_model, hashes["train_hash"], config)
        log_model(run_id, result.model_dir)
        version = register_candidate_task(run_id, "model", registry, str(home), hashes)
        decision = gate_and_promote_task(
            version,
            evaluation.scored_path,
            str(eval_path),
            params.promotion,
            registry,
            str(home),
            max_length=max_length,
        )
        link = run_link(run_id, params.tracking_uri, str(home))
        publish_decision(decision, registry.name, version, link)
        log_decision(run_id, decision, version)
    except BaseException:
        if version is not None:  # registered, then failed: put the aliases back and drop the version
            undo_candidate_task(version, registry, str(home))
        end_tracking_run(run_id, "FAILED")
        raise
    end_tracking_run(run_id, "FINISHED")
    summary = {
        "version": version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "accuracy": evaluation.metrics.get("accuracy"),
        "n_train": len(train_df),
        "n_eval": len(eval_df),
        "mlflow_run_id": run_id,
        "mlflow_run": link,
        **hashes,
    }
    logger.info(
        "Registered %s v%s: %s (%s)",
        registry.name,
        version,
        "champion" if decision.promote else "not promoted",
        decision.reason,
    )
    return summary
