"""One registered model, one reward per text, whichever door a client takes.

For the same samples (a short text, a text longer than the training length, a conversation) the
rewards of `rewardflow evaluate`'s scored pairs, `rmcore.score_texts`, the MLflow pyfunc,
`transformers.pipeline("text-classification", function_to_apply="none")` on the registered files,
`rmcore.RewardFunction` and the reward server's `/score`, `/get_reward` and `/classify` agree within
1e-4, for an encoder (a tiny BERT with MiniLM's tokenizer) and a decoder (a tiny Llama with a chat
template, saved in bf16 as hub checkpoints are), all at the default precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import torch
import transformers
from transformers import LlamaConfig, LlamaForSequenceClassification

from rmcore import RewardFunction, ScoringConfig, load_reward_model, score_texts
from rmcore.data.chat import render_conversation
from rmcore.models.normalization import write_reward_stats
from rmcore.models.tokenizer import tokenizer_as_trained
from tasks.registry.register import register_candidate
from tasks.registry.scorers import score_model
from tasks.tracking.logged_model import log_logged_model
from tasks.tracking.runs import ensure_experiment, start_run
from tasks.tracking.store import client
from tests.compat.hub import LLAMA_TEMPLATE, ZEN, word_tokenizer
from tests.deployments.serving.serve_helpers import running, wait_for
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import tiny_bert

mlflow_home, tracking_uri = fx.mlflow_home, fx.tracking_uri
MAX_LENGTH = 24  # the training length the saved tokenizer records
TOLERANCE = 1e-4

SHORT = "\n\nHuman: Beautiful is better than\n\nAssistant: ugly."
LONG = "\n\nHuman: " + " ".join(" ".join(row) for row in ZEN) + "\n\nAssistant: Simple is better than complex."
PROMPT = [{"role": "user", "content": "Explicit is better than"}]
CHOSEN = [{"role": "assistant", "content": "implicit."}]
REJECTED = [{"role": "assistant", "content": "a cat."}]
CONVERSATIONS = [PROMPT + CHOSEN, PROMPT + REJECTED]


def save_encoder(folder: Path) -> Path:
    model, tokenizer = tiny_bert(seed=3, initializer_range=1.0)
    model.save_pretrained(folder)
    return save_as_trained(folder, tokenizer)


def save_decoder(folder: Path) -> Path:
    """A tiny Llama reward model in bf16 (as hub checkpoints are), with a Llama-3-style chat template."""
    tokenizer = word_tokenizer(eos="</s>", bos="<s>", pad="</s>", template=LLAMA_TEMPLATE)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.5,
    )
    torch.manual_seed(3)
    LlamaForSequenceClassification(config).to(torch.bfloat16).save_pretrained(folder)
    return save_as_trained(folder, tokenizer)


def save_as_trained(folder: Path, tokenizer) -> Path:
    """The tokenizer as training saves it, and a reward scale as evaluation writes it."""
    tokenizer_as_trained(tokenizer, MAX_LENGTH).save_pretrained(folder)
    write_reward_stats(folder, {"mean": 0.1, "std": 2.0, "n": 8.0})
    return folder


def register_champion(folder: Path, name: str, home: Path) -> str:
    run_id = start_run(ensure_experiment(f"exp-{name}", home), name)
    version = register_candidate(run_id, log_logged_model(run_id, str(folder), name), name)
    client().set_registered_model_alias(name, "champion", version)
    return f"models:/{name}@champion"


def evaluate_rewards(uri: str) -> list[float]:
    """`rewardflow evaluate`'s scored pairs (the one scorer of every door): text pairs (short, long) and
    conversational pairs."""
    text_pairs = pd.DataFrame({"chosen": [SHORT], "rejected": [LONG]})
    chat_pairs = pd.DataFrame({"prompt": [PROMPT], "chosen": [CHOSEN], "rejected": [REJECTED]})
    scored = [score_model(uri, pairs).iloc[0] for pairs in (text_pairs, chat_pairs)]
    return [row[side] for row in scored for side in ("reward_chosen", "reward_rejected")]


def score_texts_rewards(root: Path) -> list[float]:
    model, tokenizer = load_reward_model(root)
    texts = score_texts(model, tokenizer, [SHORT, LONG])
    rendered = [render_conversation(tokenizer, c) for c in CONVERSATIONS]
    return [*texts, *score_texts(model, tokenizer, rendered, templated=True)]


def pipeline_rewards(root: Path) -> list[float]:
    """Plain transformers on the registered files: the saved tokenizer cuts from the left at the training
    length; conversations go through the saved chat template, which writes its own special tokens."""
    folder = root / "artifacts" / "model"
    pipe = transformers.pipeline("text-classification", model=str(folder), dtype=torch.float32)
    rendered = [pipe.tokenizer.apply_chat_template(c, tokenize=False) for c in CONVERSATIONS]
    texts = pipe([SHORT, LONG], function_to_apply="none", truncation=True)
    chats = pipe(rendered, function_to_apply="none", truncation=True, add_special_tokens=False)
    return [out["score"] for out in [*texts, *chats]]


def server_rewards(home: Path, uri: str) -> dict[str, list[float]]:
    """The reward server following the champion: /score (texts, then messages), /get_reward, /classify, raw."""
    texts = [SHORT, LONG]
    with running(home, model=uri, poll_seconds=0.2) as server:
        wait_for(lambda: httpx.get(f"{server.url}/health").status_code == 200, 60, "the champion to load")

        def post(path: str, body: dict) -> dict:
            response = httpx.post(f"{server.url}{path}", json=body, timeout=60)
            assert response.status_code == 200, response.text
            return response.json()

        scored = post("/score", {"texts": texts, "normalize": False})["rewards"]
        chats = post("/score", {"messages": CONVERSATIONS, "normalize": False})["rewards"]
        get_reward = post("/get_reward", {"query": texts, "normalize": False})["rewards"]
        classify = [row["probs"][0] for row in post("/classify", {"input": texts})["data"]]
        chat_classify = [post("/classify", {"messages": c})["data"][0]["probs"][0] for c in CONVERSATIONS]
    return {
        "server /score": [*scored, *chats],
        "server /get_reward": [*get_reward, *chats],
        "server /classify": [*classify, *chat_classify],
    }


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_every_consumer_gets_the_same_rewards(kind, tmp_path, mlflow_home, tracking_uri):
    folder = (save_encoder if kind == "encoder" else save_decoder)(tmp_path / kind)
    uri = register_champion(folder, f"rm-parity-{kind}", mlflow_home)
    root = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl")))

    reference = score_texts_rewards(root)
    rewards = {
        "rewardflow evaluate": evaluate_rewards(uri),
        "mlflow pyfunc": mlflow.pyfunc.load_model(uri).predict([SHORT, LONG, *map(json.dumps, CONVERSATIONS)]),
        "transformers pipeline": pipeline_rewards(root),
        "RewardFunction": RewardFunction(root)(["", "", PROMPT, PROMPT], [SHORT, LONG, CHOSEN, REJECTED]),
        **server_rewards(mlflow_home, uri),
    }
    for door, got in rewards.items():
        assert got == pytest.approx(reference, abs=TOLERANCE), door
    assert len({round(r, 3) for r in reference}) >= 3, "distinct rewards, or agreement would prove little"
    model, tokenizer = load_reward_model(root)
    uncut = score_texts(model, tokenizer, [LONG], ScoringConfig(max_length=4 * MAX_LENGTH))[0]
    assert abs(uncut - reference[1]) > TOLERANCE, "the long text is cut at the training length by every door"
