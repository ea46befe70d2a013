"""The `reward-model` flow: ingest → split → tokenize → train → evaluate → register behind the champion gate.

The body reads like the pipeline; each step is a task that wraps one `rmcore` call or one library call.
Registration comes last, so a run that fails anywhere leaves the registry as it was. The work is named
by an idempotency key (data + config + code): its run folder is `HOME/runs/<key>`, so a rerun resumes
training from the newest complete checkpoint, and it registers at most one version per key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.params import RewardFlowParams
from flows.steps import build_peft, checked_dataset, pipeline_data_config, sample_pairs, work_identity
from rmcore.models import default_model_path
from tasks.data_health import registry_champion
from tasks.evaluate import evaluate_model
from tasks.holds import read_holds
from tasks.ingest import ingest
from tasks.register import (
    RegistryConfig,
    find_version_task,
    gate_and_promote_task,
    publish_decision,
    register_candidate_task,
    undo_candidate_task,
)
from tasks.run_log import log_decision, log_run_inputs, log_run_outputs, run_link
from tasks.store import read_store
from tasks.tokenize import tokenize
from tasks.tracking import default_tracking_uri, end_tracking_run, log_model, set_tags, start_tracking_run
from tasks.train import build_reward_config, resolve_max_length, train


def held_batches_notice(home: Path, logger) -> list[str]:
    """Say which stored batches this run leaves out because their health check held them."""
    held = read_holds(home / "store")
    for batch, entry in sorted(held.items()):
        logger.warning(
            "Not training on held batch %s (%s): %s. Release it with `rewardflow release %s --home %s`.",
            batch,
            ", ".join(entry["sources"]),
            "; ".join(entry["reasons"]),
            batch,
            home,
        )
    return sorted(held)


@flow(name="reward-model", log_prints=True)
def reward_model(params: RewardFlowParams = RewardFlowParams()) -> dict[str, Any]:
    """Train a reward model on the data store and promote it only if it beats the champion."""
    logger = get_run_logger()
    home = Path(params.home).resolve()
    dataset = checked_dataset(params)
    ingest_report = None
    if dataset:
        champion = registry_champion(params.registered_model_name, params.tracking_uri or default_tracking_uri(home))
        ingest_report = ingest([dataset], home, pipeline_data_config(params), params.health, champion)
        if ingest_report.status != "ok":
            logger.warning("Batch %s: %s (%s)", ingest_report.batch_id, ingest_report.status, ingest_report.health)
    held = held_batches_notice(home, logger)

    pairs = read_store(home / "store", params.eval_fraction)
    train_df, eval_df = sample_pairs(pairs, params)
    key, hashes = work_identity(pairs, train_df, eval_df, params)
    run_dir = home / "runs" / key
    run_dir.mkdir(parents=True, exist_ok=True)
    eval_path = run_dir / "eval_pairs.parquet"
    eval_df.to_parquet(eval_path, index=False)
    logger.info(
        "Training on %d pairs, evaluating on %d (data %s, work %s)",
        len(train_df),
        len(eval_df),
        hashes["data_hash"],
        key,
    )

    config = build_reward_config(run_dir / "train", {"seed": params.seed, **params.training})
    if params.lora is not None:
        config.merge_adapter_on_save = True
    registry = RegistryConfig(name=params.registered_model_name)
    version = registered = None
    run_id = start_tracking_run(str(home), params.experiment_name, run_dir.name, hashes, params.tracking_uri)
    try:
        log_run_inputs(run_id, config, params.model_dump(mode="json"), train_df, eval_df, ingest_report)
        set_tags(run_id, {"data.held_batches": ",".join(held) or "none"})
        base_model = params.model_name_or_path or default_model_path()
        max_length = resolve_max_length(base_model, config)
        cache = home / "cache" / "tokenized"
        train_ds = tokenize(train_df, base_model, max_length, cache, config.dataset_num_proc)
        result = train(train_ds, None, config, base_model, build_peft(params.lora), num_processes=params.num_processes)
        evaluation = evaluate_model(result.model_dir, str(eval_path), str(run_dir / "eval"), max_length=max_length)
        log_run_outputs(run_id, result, evaluation, base_model, hashes["train_hash"], config)
        registered = find_version_task(registry.name, key)
        if registered is None:  # new work; work registered before has its model logged in that earlier run
            log_model(run_id, result.model_dir)
        register = register_candidate_task.with_options(
            retries=params.register_retries, retry_delay_seconds=params.register_retry_delay
        )
        version = register(run_id, "model", registry, str(home), hashes, idempotency_key=key)
        decision = gate_and_promote_task(
            version,
            evaluation.scored_path,
            str(eval_path),
            params.promotion,
            registry,
            str(home),
            max_length=max_length,
            checks=params.gate_checks,
        )
        link = run_link(run_id, params.tracking_uri, str(home))
        publish_decision(decision, registry.name, version, link)
        log_decision(run_id, decision, version)
    except BaseException:
        if version is not None and registered is None:  # registered by this run, then failed: undo it
            undo_candidate_task(version, registry, str(home))
        end_tracking_run(run_id, "FAILED")
        raise
    end_tracking_run(run_id, "FINISHED")
    summary = {
        "version": version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "blocked_by": decision.blocked_by,
        "held_batches": held,
        "accuracy": evaluation.metrics.get("accuracy"),
        "n_train": len(train_df),
        "n_eval": len(eval_df),
        "mlflow_run_id": run_id,
        "mlflow_run": link,
        "reused_version": registered is not None,
        "run_dir": str(run_dir),
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
