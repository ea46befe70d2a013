"""End to end: the reward-model flow against a real Prefect test server and a real MLflow SQLite store.

The runs share one registered model and build on each other, in order: an untrained model becomes the
first champion; the same untrained model again is not better and is not promoted; a trained one wins
and is promoted; a run that fails in training changes nothing in the registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from transformers import AutoTokenizer

from flows.params import RewardFlowParams
from flows.reward_model import reward_model
from flows.steps import EmptyStoreError
from rmcore.checks.compare import PromotionRule
from rmcore.models.loading import default_model_path
from rmcore.models.tokenizer import hh_chat_template
from rmcore.training.script_args import LoraArguments
from tests.tiny_models import save_tiny_remote_bert

NAME = "flow-test-reward-model"


def fast_training(**overrides) -> dict:
    """RewardConfig overrides that keep a flow run to seconds on two CPU cores."""
    return {
        "max_steps": 12,
        "per_device_train_batch_size": 16,
        "max_length": 64,
        "learning_rate": 1e-4,
        "logging_steps": 4,
        "disable_tqdm": True,
        **overrides,
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("flow-home")


def params(home, tracking_uri, **overrides) -> RewardFlowParams:
    values = {
        "home": str(home),
        "registered_model_name": NAME,
        "experiment_name": NAME,
        "tracking_uri": tracking_uri,
        "max_eval_pairs": 48,
        "eval_fraction": 0.2,
        "training": fast_training(),
        "promotion": PromotionRule(rule="bootstrap", n_resamples=1000, first_champion_floor=None),
        "gate_checks": None,  # the overall rule alone here; the checks have their own tests
    }
    return RewardFlowParams(**{**values, **overrides})


def registry_state(uri: str) -> tuple[list[str], dict[str, str]]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{NAME}'"))
    return versions, {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


@pytest.fixture(scope="module")
def first_run(prefect_harness, mlflow_store, home, synthetic_file):
    untrained = fast_training(learning_rate=0.0, max_steps=1)
    return reward_model(params(home, mlflow_store, dataset_name=str(synthetic_file), training=untrained))


def test_first_model_becomes_champion(first_run, mlflow_store):
    assert first_run["promoted"] is True
    versions, aliases = registry_state(mlflow_store)
    assert versions == [first_run["version"]]
    assert aliases["champion"] == first_run["version"] == aliases["challenger"]
    run = MlflowClient(mlflow_store).get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["data_hash"] == first_run["data_hash"]
    assert "prefect.flow_run_id" in run.data.tags
    assert run.data.params["learning_rate"] == "0.0"
    assert "eval_accuracy" in run.data.metrics
    assert run.inputs.dataset_inputs, "the training pairs are logged as an MLflow dataset"


def test_no_better_run_is_not_promoted_and_says_why(first_run, mlflow_store, home):
    again = reward_model(params(home, mlflow_store, training=fast_training(learning_rate=0.0, max_steps=1)))
    assert again["promoted"] is False
    assert again["reason"]
    versions, aliases = registry_state(mlflow_store)
    assert aliases["champion"] == first_run["version"]
    assert "challenger" not in aliases, "a rejected version loses `challenger`"
    tags = MlflowClient(mlflow_store).get_model_version(NAME, again["version"]).tags
    assert tags["gate.decision"] == "rejected"
    run = MlflowClient(mlflow_store).get_run(again["mlflow_run_id"])
    assert run.data.tags["gate.decision"] == "rejected", "the run and the version say the same"
    assert tags["gate.reason"] == again["reason"]


def test_better_run_is_promoted(first_run, mlflow_store, home):
    better = reward_model(params(home, mlflow_store))
    assert better["accuracy"] > first_run["accuracy"]
    assert better["promoted"] is True, better["reason"]
    _, aliases = registry_state(mlflow_store)
    assert aliases["champion"] == better["version"]
    shows_as_model_training_with_curves_a_table_and_the_decision(better, mlflow_store)
    outcome = last_log_line(better, mlflow_store)
    assert outcome.startswith(f"{NAME} v{better['version']} promoted to champion: accuracy ")


def last_log_line(summary: dict, uri: str) -> str:
    """The flow run's last log line of its own (Prefect's "Finished in state" lines aside)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    flow_run_id = MlflowClient(uri).get_run(summary["mlflow_run_id"]).data.tags["prefect.flow_run_id"]
    with get_client(sync_client=True) as client:
        for _ in range(40):  # run logs reach the API in batches, every couple of seconds
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), sort=LogSort.TIMESTAMP_ASC
            )
            ours = [log.message for log in logs if not log.message.startswith("Finished in state")]
            if ours and ours[-1].startswith(NAME):
                break
            time.sleep(0.5)
    return ours[-1]


def test_an_empty_store_fails_first_in_one_line_naming_the_fix(prefect_harness, mlflow_store, tmp_path):
    home = tmp_path / "empty-home"
    with pytest.raises(EmptyStoreError, match=r"^No pairs in .* yet: run `rewardflow ingest FILE\.\.\. --home "):
        reward_model(params(home, mlflow_store))
    assert not (home / "runs").exists(), "it failed before any work"


def shows_as_model_training_with_curves_a_table_and_the_decision(summary: dict, uri: str) -> None:
    """What a person sees in the MLflow UI (the series, table and description behind its pages)."""
    client = MlflowClient(uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert re.fullmatch(rf"{NAME} v{summary['version']} \d{{4}}-\d\d-\d\d \d\d:\d\d", run.info.run_name)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for key in ("loss", "learning_rate", "padding_efficiency", "train_pairs_per_second"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 4, 8, 12], key
    table = client.load_table(run.info.experiment_id, "eval/logit_table.json", run_ids=[run.info.run_id])
    assert {"chosen", "rejected"} <= set(table.columns) and len(table) > 0
    version = client.get_model_version(NAME, summary["version"])
    assert summary["reason"] in version.description
    assert "Challenger v" in version.description and "interval [" in version.description
    (output,) = run.outputs.model_outputs  # the Logged Model, linked to the run and the version
    assert version.source == f"models:/{output.model_id}"
    assert client.get_logged_model(output.model_id).source_run_id == run.info.run_id
    # MiniLM has no chat template: the saved tokenizer carries the one that wrote its hh-rlhf text.
    minilm = AutoTokenizer.from_pretrained(default_model_path())
    assert version.tags["chat_template_hash"] == hashlib.sha256(hh_chat_template(minilm).encode()).hexdigest()
    model = client.get_logged_model(output.model_id)  # its page: metrics, settings, registered version
    assert model.metrics and model.params["max_steps"] == "12"
    assert json.loads(model.tags["mlflow.modelVersions"]) == [{"name": NAME, "version": summary["version"]}]
    assert f"v{summary['version']}" in run.data.tags["mlflow.note.content"]


def test_run_failing_in_training_leaves_registry_unchanged(first_run, mlflow_store, home):
    before = registry_state(mlflow_store)
    with pytest.raises(Exception, match="learning rate"):
        reward_model(params(home, mlflow_store, training=fast_training(learning_rate=-1.0)))
    assert registry_state(mlflow_store) == before
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name(NAME)
    last = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert last.info.status == "FAILED"


@pytest.mark.timeout(1500)
def test_failure_after_the_gate_rolls_the_registration_back(first_run, mlflow_store, home, monkeypatch):
    """Inject: logging the decision to the run fails after the gate promoted a new version. Check the
    transaction's rollback deletes that version and gives `champion` and `challenger` back."""
    from tasks.tracking import run_log

    before = registry_state(mlflow_store)

    def broken(run_id, tags):
        raise RuntimeError("tracking store went away")

    monkeypatch.setattr(run_log, "set_tags", broken)
    with pytest.raises(RuntimeError, match="tracking store went away"):
        reward_model(params(home, mlflow_store, seed=5))  # new work: it registers, is gated, then fails
    assert registry_state(mlflow_store) == before


def test_a_base_with_its_own_code_is_evaluated_merged_and_gated_with_trust_remote_code(
    prefect_harness, mlflow_store, synthetic_file, tmp_path
):
    """`training.trust_remote_code` reaches every later load: evaluation, the LoRA merge, and the champion
    at the next run's ingest health check and gate."""
    name, base, home = f"{NAME}-remote", save_tiny_remote_bert(tmp_path / "remote"), tmp_path / "home"
    settings = {"registered_model_name": name, "experiment_name": name, "model_name_or_path": str(base)}
    settings["lora"] = LoraArguments(use_peft=True, lora_r=2, lora_alpha=4, lora_target_modules=["query", "value"])
    settings["training"] = fast_training(max_steps=2, trust_remote_code=True)
    first = reward_model(params(home, mlflow_store, dataset_name=str(synthetic_file), **settings))
    more = tmp_path / "more.jsonl"
    rows = [json.loads(line) for line in synthetic_file.read_text().splitlines()[:40]]
    more.write_text("".join(json.dumps({k: f"{v} Thanks." for k, v in row.items()}) + "\n" for row in rows))

    second = reward_model(params(home, mlflow_store, dataset_name=str(more), **settings))

    assert first["promoted"] is True and second["version"] != first["version"]
    tags = MlflowClient(mlflow_store).get_model_version(name, second["version"]).tags
    assert tags["gate.champion_version"] == first["version"]  # the champion with its own code was scored


def test_the_trained_model_is_loaded_once_for_the_held_out_pairs_and_every_benchmark(
    prefect_harness, mlflow_store, synthetic_file, tmp_path, monkeypatch
):
    """A load of a model of billions of parameters takes minutes: the evaluate step scores the held-out
    pairs and each pinned benchmark with one load of the trained model."""
    import tasks.registry.models as models

    loads, load_reward_model = [], models.load_reward_model
    counted = lambda *args: loads.append(Path(args[0])) or load_reward_model(*args)  # noqa: E731
    monkeypatch.setattr(models, "load_reward_model", counted)
    rows = synthetic_file.read_text().splitlines(keepends=True)
    benchmarks = {"easy": tmp_path / "easy.jsonl", "hard": tmp_path / "hard.jsonl"}
    benchmarks["easy"].write_text("".join(rows[:30]))
    benchmarks["hard"].write_text("".join(rows[30:60]))
    name = f"{NAME}-loads"
    settings = {"registered_model_name": name, "experiment_name": name, "dataset_name": str(synthetic_file)}
    settings["benchmarks"] = [str(path) for path in benchmarks.values()]
    settings["training"] = fast_training(learning_rate=0.0, max_steps=1)

    summary = reward_model(params(tmp_path / "home", mlflow_store, **settings))

    trained = Path(summary["run_dir"]) / "train"
    assert loads.count(trained) == 1, loads
    run = MlflowClient(mlflow_store).get_run(summary["mlflow_run_id"])
    assert {"benchmark.easy.accuracy", "benchmark.hard.accuracy"} <= set(run.data.metrics)
    tags = MlflowClient(mlflow_store).get_model_version(name, summary["version"]).tags
    assert tags["benchmark.easy"].endswith("n=30") and tags["benchmark.hard"].endswith("n=30")
