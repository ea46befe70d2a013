"""What the flow records in its MLflow run, grouped into three tasks: inputs, outputs, decision.

Thin shells over `tasks.tracking.runs`; they only decide *what* goes into the run and under which names.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore import RewardConfig
from rmcore.checks.compare import Decision
from rmcore.checks.gate import slice_summary
from tasks.defaults import EXPERIMENT, REGISTERED_MODEL
from tasks.tracking.model_card import model_card
from tasks.tracking.run_view import log_logit_table
from tasks.tracking.runs import (
    end_run,
    ensure_experiment,
    log_config,
    log_dataset,
    log_files,
    log_json,
    log_metrics,
    log_params,
    log_text,
    run_url,
    set_tags,
    start_run,
)
from tasks.tracking.store import client
from tasks.training.train import TrainResult

CARD_SETTINGS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "max_length",
    "center_rewards_coefficient",
    "bf16",
    "seed",
)


@task(name="log-run-inputs", cache_policy=NO_CACHE)
def log_run_inputs(
    run_id: str,
    config: RewardConfig,
    flow_params: dict,
    train_ids: pd.DataFrame,
    eval_pairs_path: str | Path,
    ingest_report: object | None = None,
) -> None:
    """Every RewardConfig value and flow parameter as params; the train/eval pairs as MLflow datasets.

    The train pairs are logged by id (the store holds their text, and may not fit in memory); the eval
    pairs, read from the file the flow wrote once, with their text.
    """
    log_config(run_id, config)
    flow_values = {k: v for k, v in flow_params.items() if k not in ("training",)}
    log_params(run_id, {f"flow.{k}": v for k, v in flow_values.items()})
    log_dataset(run_id, train_ids[["pair_id"]], "reward-pairs-train", "rewardflow-store", context="train")
    eval_df = pd.read_parquet(eval_pairs_path)
    columns = [c for c in ("prompt", "chosen", "rejected", "margin", "pair_id") if c in eval_df]
    log_dataset(run_id, eval_df[columns], "reward-pairs-eval", str(eval_pairs_path), context="eval")
    if ingest_report is not None:
        summary = ingest_report.to_dict() if hasattr(ingest_report, "to_dict") else vars(ingest_report)
        log_metrics(run_id, summary.get("health_figures") or {}, prefix="ingest_")
        log_json(
            run_id,
            {k: v for k, v in summary.items() if isinstance(v, str | int | float | dict | list)},
            "data/ingest_summary.json",
        )


@task(name="log-run-outputs", cache_policy=NO_CACHE)
def log_run_outputs(
    run_id: str, result: TrainResult, evaluation: object, base_model: str, data_digest: str, config: RewardConfig
) -> None:
    """Training and eval metrics, plots, logit table, and a model card."""
    # the Trainer's end summary at the last step, so `epoch` ends its curve there rather than drawing back to 0
    log_metrics(run_id, result.train_metrics, step=int(result.train_metrics.get("global_step", 0)))
    log_metrics(run_id, evaluation.metrics, prefix="eval_")
    log_files(run_id, evaluation.artifacts, "eval")
    log_logit_table(run_id, evaluation.artifacts)  # rendered as a table by the MLflow UI
    if getattr(evaluation, "summary", None):
        client().log_table(run_id, pd.DataFrame(evaluation.summary["slices"]), "eval/slices.json")
    card = model_card(
        REGISTERED_MODEL,
        base_model,
        data_digest,
        evaluation.metrics,
        {k: getattr(config, k) for k in CARD_SETTINGS},
    )
    log_text(run_id, card, "model_card.md")


@task(name="log-decision", cache_policy=NO_CACHE)
def log_decision(run_id: str, decision: Decision, version: str) -> None:
    """The gate's decision and figures, as tags and metrics of the run."""
    set_tags(
        run_id,
        {
            "gate.decision": decision.label,
            "gate.reason": decision.reason,
            "gate.blocked_by": ",".join(decision.blocked_by) or "none",
            "registered_version": version,
            "gate.slices": slice_summary(decision),
        },
    )
    log_metrics(run_id, decision.figures, prefix="gate_")
    rows = [c for c in decision.checks if c.get("check") in ("slice", "length_bias")]
    if rows:
        client().log_table(run_id, pd.DataFrame(rows), "gate/checks.json")


def run_link(run_id: str) -> str:
    """A link to the run for people: the MLflow UI page on a server, else the runs:/ URI."""
    experiment_id = client().get_run(run_id).info.experiment_id
    return run_url(mlflow.get_tracking_uri(), experiment_id, run_id)


RUN_KIND_TAG, INGEST_KIND = "rewardflow.run_kind", "ingest"


def log_ingest_run(home: str | Path, report: object, experiment: str = EXPERIMENT) -> str | None:
    """One small MLflow run per stored batch, named `ingest <batch>`: the health figures as `ingest_health.*`
    metrics, the checks as a table, the counts, wherever the batch came from (command, inbox or flow).

    Returns the run id; None when nothing was stored (no batch, nothing to report).
    """
    summary = report.to_dict()
    if not summary.get("good") or not summary.get("batch_id"):
        return None
    from tasks.data.health import health_rows

    experiment_id = ensure_experiment(experiment, home)
    tags = {
        RUN_KIND_TAG: INGEST_KIND,
        "ingest.status": summary["status"],
        "ingest.sources": ", ".join(map(str, summary["sources"]))[:4000],
        "data_hash": summary["data_hash"],
    }
    run_id = start_run(experiment_id, f"ingest {summary['batch_id']}", tags)
    counts = {k: summary[k] for k in ("read", "good", "quarantined")}
    log_metrics(run_id, {**counts, **summary.get("health_figures", {})}, prefix="ingest_")
    if summary.get("health"):
        client().log_table(run_id, pd.DataFrame(health_rows(summary["health"])), "ingest/health.json")
    end_run(run_id)
    return run_id
