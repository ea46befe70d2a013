"""The reward server over real HTTP on 127.0.0.1: scores equal the core's, OpenRLHF's payload, bad input, auth."""

from __future__ import annotations

import logging
import shutil

import httpx
import pytest

from deployments.serving.config import ServeConfig
from rmcore import load_reward_model, score_texts
from rmcore.models.normalization import read_reward_stats, reward_stats, write_reward_stats
from tests.deployments.serving.serve_helpers import running, wait_for
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
TRAINED_MAX_LENGTH = 64  # below the tiny model's 128 positions and MiniLM's tokenizer default of 512
TEXTS = ["Human: hi\n\nAssistant: sun happy bright", "Human: hi\n\nAssistant: rain cold", "warm " * 40, "x"]


@pytest.fixture(scope="module")
def model_folder(model_dirs, tmp_path_factory):
    """The good tiny model, copied, with reward stats measured on synthetic pairs stored in its config, and
    the max_length it was trained with (64) saved in its tokenizer, as training saves it."""
    folder = tmp_path_factory.mktemp("serve-model") / "good"
    shutil.copytree(model_dirs["good"], folder)
    model, tokenizer = load_reward_model(folder)
    tokenizer.model_max_length = TRAINED_MAX_LENGTH
    tokenizer.save_pretrained(folder)
    pairs = fx.synthetic_pairs(20)
    write_reward_stats(folder, reward_stats(score_texts(model, tokenizer, [*pairs.chosen, *pairs.rejected])))
    return folder


@pytest.fixture(scope="module")
def server(model_folder, tmp_path_factory):
    with running(
        tmp_path_factory.mktemp("serve-home"), model=str(model_folder), max_texts=8, max_chars=500, max_tokens=300
    ) as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health").status_code == 200, 60, "the model to load")
        yield srv


def post(server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_scores_over_http_equal_score_texts(server, model_folder):
    model, tokenizer = load_reward_model(model_folder)
    expected = score_texts(model, tokenizer, TEXTS)
    stats = read_reward_stats(model_folder)

    body = post(server, "/score", json={"texts": TEXTS}).json()

    assert body["raw"] == pytest.approx(expected, abs=1e-5)
    assert body["rewards"] == pytest.approx([(r - stats["mean"]) / stats["std"] for r in expected], abs=1e-5)
    assert body["normalized"] is True and body["model_version"] == "local:good" and body["count"] == 4
    assert body["truncated"] == 0
    raw = post(server, "/score", json={"texts": TEXTS, "normalize": False}).json()
    assert raw["rewards"] == pytest.approx(expected, abs=1e-5) and raw["normalized"] is False


def test_pairs_and_messages_are_scored_as_their_texts(server, model_folder):
    from rmcore.data.chat import render_conversation

    model, tokenizer = load_reward_model(model_folder)
    pairs = [{"prompt": "Human: hi\n\nAssistant:", "chosen": " sun", "rejected": " rain"}]
    body = post(server, "/score", json={"pairs": pairs, "normalize": False}).json()
    chosen, rejected = score_texts(model, tokenizer, ["Human: hi\n\nAssistant: sun", "Human: hi\n\nAssistant: rain"])
    assert body["rewards"][0] == pytest.approx({"chosen": chosen, "rejected": rejected, "margin": chosen - rejected})

    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "sun happy"}]
    body = post(server, "/score", json={"messages": [conversation], "normalize": False}).json()
    expected = score_texts(model, tokenizer, [render_conversation(tokenizer, conversation)])
    assert body["rewards"] == pytest.approx(expected, abs=1e-5)


def test_get_reward_accepts_openrlhf_payload(server, model_folder):
    model, tokenizer = load_reward_model(model_folder)
    stats = read_reward_stats(model_folder)
    # OpenRLHF's remote reward client posts query, prompts and labels as JSON and reads `rewards`.
    payload = {"query": TEXTS[:2], "prompts": ["Human: hi", "Human: hi"], "labels": ["", ""]}
    response = post(server, "/get_reward", json=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    expected = [(r - stats["mean"]) / stats["std"] for r in score_texts(model, tokenizer, TEXTS[:2])]
    assert response.json()["rewards"] == pytest.approx(expected, abs=1e-5)
    assert response.json()["model_version"] == "local:good"


def test_info_describes_the_model(server, model_folder):
    info = httpx.get(f"{server.url}/info").json()
    assert info["model_version"] == "local:good" and info["max_length"] == TRAINED_MAX_LENGTH
    assert info["max_length_source"].startswith("tokenizer model_max_length")  # as saved with the model
    assert info["precision"] == "fp32" == info["precision_setting"]
    assert info["limits"] == {"max_texts": 8, "max_chars": 500, "max_tokens": 300, "max_batch_tokens": 1024}
    assert info["reward_stats"] == pytest.approx(read_reward_stats(model_folder))
    assert info["chat_template_hash"] is None  # MiniLM's tokenizer has no chat template
    assert {"registered_name", "alias", "run_id", "base_model"} <= set(info)


@pytest.mark.parametrize(
    ("path", "content", "status", "named"),
    [
        ("/get_reward", b'{"query": ["a", ', 422, "body"),
        ("/get_reward", b'{"query": "one text"}', 422, "query"),
        ("/get_reward", b'{"query": [1, 2]}', 422, "query[0]"),
        ("/get_reward", b'{"query": []}', 422, "query"),
        ("/get_reward", b'{"prompts": ["a"]}', 422, "query"),
        ("/get_reward", b'["a"]', 422, "body"),
        ("/score", b'{"texts": []}', 422, "texts"),
        ("/score", b'{"pairs": [{"chosen": "a"}]}', 422, "pairs[0].rejected"),
        ("/score", b'{"messages": [[{"role": "robot", "content": "x"}]]}', 422, "messages[0][0].role"),
        ("/score", b'{"messages": [[]]}', 422, "messages[0]"),
        ("/score", b'{"texts": ["a"], "pairs": [{"chosen": "a", "rejected": "b"}]}', 422, "exactly one of"),
        ("/score", b'{"txts": ["a"]}', 422, "txts"),
        ("/get_reward", b'{"query": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', 413, "query: 9 texts"),
        ("/get_reward", b'{"query": ["ok", "' + b"y" * 501 + b'"]}', 413, "query[1]: 501 characters"),
        ("/get_reward", b'{"query": ["x\\ud800y"]}', 422, "query[0]: Value error, not valid Unicode: lone surrogate"),
        ("/score", b'{"pairs": [{"chosen": "a", "rejected": "\\udfff"}]}', 422, "pairs[0].rejected: Value error"),
        ("/classify", b'{"input": "x\\ud800"}', 422, "input"),
        ("/classify", b'{"input": []}', 422, "input is an empty list"),
        (
            "/get_reward",
            b'{"query": [' + b",".join([b'"' + b"warm " * 80 + b'"'] * 8) + b"]}",
            413,
            "query: 512 tokens after truncation to 64",
        ),
        ("/score", b'{"pairs": [' + b",".join([b'{"chosen": "a", "rejected": "b"}'] * 5) + b"]}", 413, "pairs: 5"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(server, path, content, status, named):
    response = post(server, path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert named in response.json()["error"]


def test_a_body_without_content_type_is_read_as_json(server):
    response = post(server, "/get_reward", content=b'{"query": ["a text"]}')  # httpx sends no Content-Type here
    assert "content-type" not in response.request.headers
    assert response.status_code == 200 and len(response.json()["rewards"]) == 1


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_non_json_content_type_says_which_to_send(server, content_type):
    # curl -d without -H sends application/x-www-form-urlencoded
    response = post(server, "/get_reward", content=b'{"query": ["a"]}', headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert content_type in response.json()["error"] and "'Content-Type: application/json'" in response.json()["error"]


def test_classify_answers_vllms_shape_with_raw_rewards(server, model_folder):
    model, tokenizer = load_reward_model(model_folder)
    expected = score_texts(model, tokenizer, TEXTS)
    body = post(server, "/classify", json={"model": "rm", "input": TEXTS, "use_activation": False}).json()
    assert body["object"] == "list" and body["id"].startswith("classify-") and body["model"] == "rm"
    assert isinstance(body["created"], int) and body["model_version"] == "local:good"
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3] and all(d["num_classes"] == 1 for d in body["data"])
    assert [d["probs"][0] for d in body["data"]] == pytest.approx(expected, abs=1e-5)  # raw, not normalised
    tokens = sum(len(x) for x in tokenizer(TEXTS)["input_ids"])
    assert body["usage"] == {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }
    one = post(server, "/v1/classify", json={"input": TEXTS[0]}).json()
    assert len(one["data"]) == 1 and one["data"][0]["probs"][0] == pytest.approx(expected[0], abs=1e-5)


def test_a_body_larger_than_any_valid_request_is_refused_unread(server):
    # max_texts=8, max_chars=500: no valid body comes near 1 MB.
    response = post(server, "/get_reward", content=b"[" + b" " * 1_000_000 + b"]")
    assert response.status_code == 413 and response.json()["error"].startswith("body: 1000002 bytes")


def test_no_model_yet_is_503_with_the_reason(mlflow_home, tracking_uri):
    with running(mlflow_home, model="models:/rm-serve-none@champion", poll_seconds=0.2) as srv:
        reason = wait_for(lambda: "alias" in httpx.get(f"{srv.url}/health").text, 30, "the no-champion reason")
        assert reason
        health = httpx.get(f"{srv.url}/health")
        assert health.status_code == 503 and "rm-serve-none" in health.json()["reason"]
        response = httpx.post(f"{srv.url}/get_reward", json={"query": ["a"]})
        assert response.status_code == 503 and "no model served yet" in response.json()["error"]


def test_a_model_folder_with_its_own_code_is_served_only_with_trust_remote_code(tmp_path):
    from deployments.flags import from_arguments
    from rewardflow.serve_cmd import build_parser

    args = build_parser().parse_args(["--home", str(tmp_path), "--trust-remote-code"])
    assert from_arguments(ServeConfig, args).trust_remote_code and not ServeConfig().trust_remote_code
    folder = save_tiny_remote_bert(tmp_path / "remote")
    with running(tmp_path / "refusing", model=str(folder)) as srv:
        wait_for(lambda: "custom code" in httpx.get(f"{srv.url}/health").text, 60, "the refusal")

    with running(tmp_path / "trusting", model=str(folder), trust_remote_code=True) as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health").status_code == 200, 60, "the model to load")
        assert post(srv, "/score", json={"texts": TEXTS}).json()["count"] == len(TEXTS)


def test_bf16_scoring_is_an_explicit_flag_and_info_says_so(model_folder, tmp_path):
    from deployments.flags import from_arguments
    from rewardflow.serve_cmd import build_parser

    assert ServeConfig().scoring.precision == "fp32"
    args = build_parser().parse_args(["--home", str(tmp_path), "--precision", "bf16"])
    assert from_arguments(ServeConfig, args).scoring.precision == "bf16"
    with pytest.raises(ValueError, match="--precision must be one of fp32, bf16, auto"):
        ServeConfig(precision="fp16")
    model, tokenizer = load_reward_model(model_folder)
    fp32 = score_texts(model, tokenizer, TEXTS)
    with running(tmp_path, model=str(model_folder), precision="bf16") as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health").status_code == 200, 60, "the model to load")
        info = httpx.get(f"{srv.url}/info").json()
        assert info["precision"] == "bf16" == info["precision_setting"]
        raw = post(srv, "/score", json={"texts": TEXTS, "normalize": False}).json()["raw"]
    assert raw != fp32 and raw == pytest.approx(fp32, rel=0.1)  # bf16 rounding of a wide random model


def test_a_non_loopback_host_needs_a_token(monkeypatch):
    monkeypatch.delenv("REWARDFLOW_SERVE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="--token"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", token="s3cret").token == "s3cret"
    monkeypatch.setenv("REWARDFLOW_SERVE_TOKEN", "from-env")
    config = ServeConfig(host="0.0.0.0")
    assert config.token == "from-env" and "from-env" not in repr(config)


def test_the_token_is_required_when_set_and_never_logged(model_folder, tmp_path, caplog):
    token = "tok-5e6f7a8b9c"
    caplog.set_level(logging.DEBUG)
    with running(tmp_path, model=str(model_folder), token=token) as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health", headers=auth(token)).status_code == 200, 60, "loading")
        assert httpx.get(f"{srv.url}/health").status_code == 401
        assert httpx.post(f"{srv.url}/get_reward", json={"query": ["a"]}, headers=auth("wrong")).status_code == 401
        response = httpx.post(f"{srv.url}/get_reward", json={"query": ["a"]}, headers=auth(token))
        assert response.status_code == 200 and len(response.json()["rewards"]) == 1
    assert token not in caplog.text


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
