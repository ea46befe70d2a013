"""The model folder in MLflow: a Logged Model linked to its run, registered from `models:/<id>`, an MLflow
pyfunc model that MLflow's loader and `mlflow models serve` score with; or run artifacts; an adapter is
merged first."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from transformers import AutoModelForSequenceClassification

from rmcore import load_reward_model, score_texts
from rmcore.models.loading import lora_config
from rmcore.models.normalization import read_reward_stats, write_reward_stats
from tasks.registry.register import register_candidate
from tasks.tracking.logged_model import log_logged_model, logged_model_id
from tasks.tracking.runs import ensure_experiment, start_run
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.mlflow_fixtures import log_model_dir
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def test_logged_model_ids():
    assert logged_model_id("models:/m-0123abc") == "m-0123abc"
    assert logged_model_id("models:/reward-model/3") is None
    assert logged_model_id("model") is None


def test_the_model_is_a_logged_model_of_the_run_and_the_version_links_it(
    tmp_path, mlflow_home, tracking_uri, model_dirs
):
    run_id = start_run(ensure_experiment("exp-logged-model", mlflow_home), "logged")
    uri = log_logged_model(run_id, str(model_dirs["good"]), "rm-logged")
    model_id = logged_model_id(uri)
    mlflow_client = client()
    model = mlflow_client.get_logged_model(model_id)
    assert (model.name, model.source_run_id, str(model.status)) == ("rm-logged", run_id, "READY")
    assert [o.model_id for o in mlflow_client.get_run(run_id).outputs.model_outputs] == [model_id]

    version = register_candidate(run_id, uri, "rm-logged")
    assert mlflow_client.get_model_version("rm-logged", version).source == uri
    folder = mlflow.artifacts.download_artifacts(f"models:/rm-logged/{version}", dst_path=str(tmp_path / "dl"))
    loaded, tokenizer = load_reward_model(folder)
    assert loaded.config.num_labels == 1 and tokenizer is not None


TEXTS = ["\n\nHuman: hi\n\nAssistant: sun happy bright", "\n\nHuman: hi\n\nAssistant: rain angry dark"]


def output_dir_like_training(model_dir: Path, out: Path) -> Path:
    """The model folder inside a training output folder (TRL's layout), with a checkpoint and run files beside."""
    shutil.copytree(model_dir, out)
    shutil.copytree(model_dir, out / "checkpoint-2")
    (out / "metrics.json").write_text("{}")
    (out / "work.json").write_text("{}")
    return out


def test_a_registered_version_is_an_mlflow_pyfunc_model_with_the_weights_stored_once(
    tmp_path, mlflow_home, tracking_uri, model_dirs
):
    out = output_dir_like_training(model_dirs["good"], tmp_path / "rm")
    write_reward_stats(out, {"mean": 0.5, "std": 2.0})
    run_id = start_run(ensure_experiment("exp-pyfunc", mlflow_home), "pyfunc")
    version = register_candidate(run_id, log_logged_model(run_id, str(out), "rm-pyfunc"), "rm-pyfunc")
    client().set_registered_model_alias("rm-pyfunc", "champion", version)

    pyfunc = mlflow.pyfunc.load_model("models:/rm-pyfunc@champion")
    model, tokenizer = load_reward_model(out)
    expected = score_texts(model, tokenizer, TEXTS)
    assert pyfunc.predict(TEXTS) == pytest.approx(expected, abs=1e-6)
    assert [t.name for t in pyfunc.metadata.get_input_schema().input_types()] == ["string"]

    root = Path(mlflow.artifacts.download_artifacts("models:/rm-pyfunc@champion", dst_path=str(tmp_path / "dl")))
    assert {"MLmodel", "input_example.json", "requirements.txt", "reward_pyfunc.py"} <= {p.name for p in root.iterdir()}
    model_folder = root / "artifacts" / "model"
    assert [p.relative_to(root) for p in root.rglob("*.safetensors")] == [Path("artifacts/model/model.safetensors")]
    assert not {"metrics.json", "work.json", "checkpoint-2"} & {p.name for p in model_folder.iterdir()}
    requirements = (root / "requirements.txt").read_text().split()
    assert any(r.startswith("torch==") for r in requirements) and not any("rewardflow" in r for r in requirements)
    plain = AutoModelForSequenceClassification.from_pretrained(model_folder)  # plain transformers
    assert plain.config.num_labels == 1
    assert load_reward_model(root)[0].config.num_labels == 1  # every door takes the downloaded root
    assert read_reward_stats(root) == {"mean": 0.5, "std": 2.0}  # the server normalises with them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stdout.read() if server.stdout else "mlflow models serve exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {seconds} s")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_mlflow_models_serve_answers_invocations_with_the_rewards(tmp_path, mlflow_home, tracking_uri, model_dirs):
    run_id = start_run(ensure_experiment("exp-serve", mlflow_home), "serve")
    version = register_candidate(run_id, log_logged_model(run_id, str(model_dirs["good"]), "rm-serve"), "rm-serve")
    client().set_registered_model_alias("rm-serve", "champion", version)
    expected = mlflow.pyfunc.load_model("models:/rm-serve@champion").predict(TEXTS)

    port = free_port()
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # uvicorn, as in an activated venv
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/rm-serve@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    server = subprocess.Popen(command, env=env, cwd=tmp_path, **output)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server)
        answer = post_json(f"http://127.0.0.1:{port}/invocations", {"inputs": TEXTS})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer["predictions"] == pytest.approx(expected, abs=1e-6)


def test_log_model_dir_logs_safetensors_and_tokenizer(mlflow_home, tracking_uri, model_dirs):
    run_id = start_run(ensure_experiment("exp-model", mlflow_home), "t")
    log_model_dir(run_id, model_dirs["good"])
    names = {Path(a.path).name for a in client().list_artifacts(run_id, "model")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names


def test_a_lora_adapter_is_logged_merged_so_it_loads_without_its_base(mlflow_home, tracking_uri, model_dirs, tmp_path):
    from peft import get_peft_model

    model, tokenizer = load_reward_model(model_dirs["good"])
    adapter = get_peft_model(model, lora_config(r=2, alpha=4, target_modules=["query", "value"]))
    adapter.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    run_id = start_run(ensure_experiment("exp-lora", mlflow_home), "t")

    log_model_dir(run_id, tmp_path / "adapter")

    local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp_path / "dl"))
    assert not (Path(local) / "adapter_config.json").exists()
    merged, _ = load_reward_model(local)
    assert type(merged).__name__ == "BertForSequenceClassification"


def test_an_adapter_on_a_base_with_its_own_code_is_merged_with_trust_remote_code(mlflow_home, tracking_uri, tmp_path):
    from peft import get_peft_model

    base = save_tiny_remote_bert(tmp_path / "remote-base")
    model, tokenizer = load_reward_model(base, trust_remote_code=True)
    adapter = get_peft_model(model, lora_config(r=2, alpha=4, target_modules=["query", "value"]))
    adapter.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    run_id = start_run(ensure_experiment("exp-lora-remote", mlflow_home), "t")

    uri = log_logged_model(run_id, str(tmp_path / "adapter"), "rm-remote", trust_remote_code=True)

    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl"))
    assert not list(Path(local).rglob("adapter_config.json"))
    merged, _ = load_reward_model(local, trust_remote_code=True)  # the model code travels with the weights
    assert type(merged).__name__ == "TinyRemoteForSequenceClassification"
