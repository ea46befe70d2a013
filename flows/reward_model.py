"""The `reward-model` flow: ingest → split → tokenize → train → evaluate → register behind the champion gate.

The body reads like the pipeline; each step is a task that wraps one `rmcore` call or one library call.
Registration comes last, inside one transaction with the gate, so a run that fails anywhere leaves the
registry as it was. The work is named by an idempotency key (data + config + code): its run folder is
`HOME/runs/<key>`, so a rerun resumes training from the newest complete checkpoint, and it registers at
most one version per key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.transactions import transaction

from flows.params import RewardFlowParams
from flows.steps import (
    held_batches,
    ingest_new_pairs,
    pin_run_benchmarks,
    require_pairs,
    run_folder,
    run_summary,
    train_job,
    training_config,
    work_identity,
)
from tasks.benchmark_scores import benchmark_metrics, benchmark_tags
from tasks.data.split import split_pairs
from tasks.data.store import store_frame, store_ids, store_pairs
from tasks.registry.promotion import gate_and_promote_task, register_candidate_task
from tasks.registry.register import RegistryConfig
from tasks.registry.report import publish_decision
from tasks.tracking.run_log import log_decision, log_run_inputs, log_run_outputs, run_link
from tasks.tracking.run_view import run_name, show_decision, version_url, with_version
from tasks.tracking.runs import log_metrics, set_tags, tracking_run
from tasks.tracking.series import MlflowSeriesCallback
from tasks.tracking.store import resolve_tracking_uri, use_tracking
from tasks.training.progress import ProgressLogCallback, launch_line
from tasks.training.sequence import AS_TASKS, scoring_as_trained, train_and_evaluate


@flow(name="reward-model", log_prints=True)
def reward_model(params: RewardFlowParams = RewardFlowParams()) -> dict[str, Any]:
    """Train a reward model on the data store and promote it only if it beats the champion."""
    log = get_run_logger()
    home = Path(params.home).resolve()
    tracking_uri = use_tracking(resolve_tracking_uri(params.tracking_uri, home))  # every MLflow call uses this store
    benchmarks = pin_run_benchmarks(params, home)  # a bad benchmark file fails here, before any work
    ingest_report = ingest_new_pairs(params, home)  # health-checked against the store and the champion
    held = held_batches(home)
    store = home / "store"
    ids = store_ids(store)  # the ids only: the store itself is streamed
    require_pairs(ids, home=home, held=held)  # an empty store fails here, in one line naming `rewardflow ingest`
    train_ids, eval_ids = split_pairs(
        ids,
        eval_fraction=params.eval_fraction,
        max_train_pairs=params.max_train_pairs,
        max_eval_pairs=params.max_eval_pairs,
        seed=params.seed,
        where=f"the data store under {store}",
    )
    key, hashes = work_identity(ids, train_df=train_ids, eval_df=eval_ids, params=params)
    run_dir, eval_path = run_folder(home, key=key, eval_df=store_frame(store, eval_ids["pair_id"]))
    log.info("Training on %d pairs, evaluating on %d (work %s)", len(train_ids), len(eval_ids), key)
    config = training_config(run_dir, params)
    job = train_job(params)
    log.info(launch_line(job.launch.num_processes, job.launch.accelerate_config_file))
    # Every later load of a model (evaluation, benchmarks, merge, the champion at the gate) scores as this.
    scoring = scoring_as_trained(job.model_name_or_path, config)
    registry = RegistryConfig(name=params.registered_model_name)
    title = run_name(params.experiment_name)
    with tracking_run(str(home), experiment=params.experiment_name, run_name=title, tags=hashes) as run_id:
        curves = MlflowSeriesCallback(run_id, tracking_uri=tracking_uri)  # processes of a launch open no store
        job.callbacks = [ProgressLogCallback(), curves]
        log_run_inputs(
            run_id,
            config=config,
            flow_params=params.model_dump(mode="json"),
            train_ids=train_ids,
            eval_pairs_path=eval_path,
            ingest_report=ingest_report,
        )
        set_tags(run_id, {"data.held_batches": ",".join(held) or "none"})
        done = train_and_evaluate(
            train_pairs=store_pairs(store, train_ids["pair_id"], home / "cache" / "pairs"),
            eval_pairs=str(eval_path),
            config=config,
            job=job,
            scoring=scoring,
            cache_dir=home / "cache" / "tokenized",
            eval_dir=run_dir / "eval",
            benchmarks=benchmarks,  # scored in the evaluate step, by the model it loaded for the eval pairs
            steps=AS_TASKS,
        )
        result, evaluation = done.training, done.evaluation
        benchmark_results = evaluation.benchmarks
        log_run_outputs(
            run_id,
            result=result,
            evaluation=evaluation,
            base_model=job.model_name_or_path,
            data_digest=hashes["train_hash"],
            config=config,
        )
        log_metrics(run_id, benchmark_metrics(benchmark_results))
        with transaction():  # a failure from here on undoes the registration (see tasks.registry.promotion)
            register = register_candidate_task.with_options(
                retries=params.register_retries, retry_delay_seconds=params.register_retry_delay
            )
            version = register(
                run_id,
                model_artifact_path="model",
                config=registry,
                home=str(home),
                tags={**hashes, **benchmark_tags(benchmark_results)},
                idempotency_key=key,
                model_dir=result.model_dir,
                trust_remote_code=config.trust_remote_code,
            )
            decision = gate_and_promote_task(
                version,
                scores_path=evaluation.scored_path,
                pairs_path=str(eval_path),
                rule=params.promotion,
                config=registry,
                home=str(home),
                scoring=scoring,
                checks=params.gate_checks,
                benchmarks=benchmark_results,
            )
            link = run_link(run_id)
            publish_decision(
                decision,
                name=registry.name,
                version=version,
                run_link=link,
                version_link=version_url(tracking_uri, name=registry.name, version=version),
            )
            log_decision(run_id, decision=decision, version=version)
            outcome = show_decision(
                run_id,
                title=with_version(title, version),
                name=registry.name,
                version=version,
                decision=decision,
                run_link=link,
            )
    summary = run_summary(
        name=registry.name,
        version=version,
        decision=decision,
        evaluation=evaluation,
        n_train=len(train_ids),
        n_eval=len(eval_ids),
        run_id=run_id,
        link=link,
        run_dir=run_dir,
        hashes=hashes,
    )
    log.info(outcome)  # the log's last line: decision, accuracies, interval, the version
    return {**summary, "held_batches": held}
