"""`rmcore.RewardFunction`: rewards for RL loops scored as training tokenized, here and over HTTP, and
accepted by TRL's `GRPOTrainer`."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer

from rmcore import RewardFunction, ScoringConfig, load_reward_model, score_texts
from rmcore.data.chat import render_hh
from rmcore.models.tokenizer import tokenizer_as_trained
from tests.tiny_models import save_tiny_bert

MAX_LENGTH = 24
PROMPTS = ["\n\nHuman: How do I water a plant?\n\nAssistant:", "\n\nHuman: Tell me a joke.\n\nAssistant:"]
COMPLETIONS = [" Water it weekly and give it light.", " No."]
CHAT_PROMPT = [{"role": "user", "content": "How do I water a plant?"}]
CHAT_REPLY = [{"role": "assistant", "content": "Water it weekly and give it light."}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny BERT reward model saved as training saves it (left truncation at MAX_LENGTH, chat template)."""
    folder = save_tiny_bert(tmp_path_factory.mktemp("rm") / "rm", initializer_range=1.0)
    tokenizer_as_trained(AutoTokenizer.from_pretrained(folder), MAX_LENGTH).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def reward(model_dir):
    return RewardFunction(model_dir)


def training_reward(model_dir, text: str) -> float:
    """The reward of a text tokenized as training did: special tokens added, cut from the left, fp32."""
    model, _ = load_reward_model(model_dir)
    plain = AutoTokenizer.from_pretrained(model_dir)
    plain.chat_template = None
    return score_texts(model, plain, [text], ScoringConfig(max_length=MAX_LENGTH))[0]


def test_text_prompts_and_completions_score_as_training_tokenized(reward, model_dir):
    rewards = reward(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=[[1], [2]], trainer_state=None)
    expected = [training_reward(model_dir, p + c) for p, c in zip(PROMPTS, COMPLETIONS, strict=True)]
    assert rewards == pytest.approx(expected, abs=1e-6)
    assert rewards[0] != pytest.approx(rewards[1], abs=1e-4)  # a constant function would prove nothing
    assert reward.__name__ == "reward_model"


def test_conversations_are_rendered_as_in_training(reward, model_dir):
    (conversational,) = reward(prompts=[CHAT_PROMPT], completions=[CHAT_REPLY])
    assert conversational == pytest.approx(training_reward(model_dir, render_hh(CHAT_PROMPT + CHAT_REPLY)), abs=1e-6)
    (text_reply,) = reward(prompts=[CHAT_PROMPT], completions=[CHAT_REPLY[0]["content"]])
    assert text_reply == pytest.approx(conversational, abs=1e-6)


def test_long_texts_keep_their_end_as_in_training(reward, model_dir):
    long_prompt = "\n\nHuman: " + "tell me more about the weather and the garden " * 20 + "\n\nAssistant:"
    (long_reward,) = reward(prompts=[long_prompt], completions=[COMPLETIONS[0]])
    assert long_reward == pytest.approx(training_reward(model_dir, long_prompt + COMPLETIONS[0]), abs=1e-6)
    model, tokenizer = load_reward_model(model_dir)
    uncut = score_texts(model, tokenizer, [long_prompt + COMPLETIONS[0]], ScoringConfig(max_length=128))[0]
    assert long_reward != pytest.approx(uncut, abs=1e-4)  # the cut happened


def test_exactly_one_source_is_required():
    with pytest.raises(ValueError, match="exactly one of model_dir"):
        RewardFunction()
    with pytest.raises(ValueError, match="exactly one of model_dir"):
        RewardFunction("x", url="http://127.0.0.1:1")


def test_the_remote_form_returns_the_servers_raw_rewards(reward, model_dir, tmp_path):
    import httpx

    from tests.deployments.serving.serve_helpers import running, wait_for

    auth = {"Authorization": "Bearer s3cret"}
    with running(tmp_path, model=str(model_dir), precision="fp32", token="s3cret") as srv:
        wait_for(lambda: httpx.get(f"{srv.url}/health", headers=auth).status_code == 200, 60, "the model to load")
        by_score = RewardFunction(url=srv.url, token="s3cret")(prompts=PROMPTS, completions=COMPLETIONS)
        by_get_reward = RewardFunction(url=srv.url, token="s3cret", endpoint="/get_reward")(PROMPTS, COMPLETIONS)
        with pytest.raises(RuntimeError, match="HTTP 401"):
            RewardFunction(url=srv.url, token="wrong")(PROMPTS, COMPLETIONS)
    local = reward(prompts=PROMPTS, completions=COMPLETIONS)
    assert by_score == pytest.approx(local, abs=1e-5) and by_get_reward == pytest.approx(local, abs=1e-5)


@pytest.mark.timeout(300)
def test_grpo_trainer_takes_it_as_a_reward_function(reward, tmp_path):
    """Two GRPO steps of a tiny policy on CPU, rewarded by the reward model (TRL is a dev dependency)."""
    trl = pytest.importorskip("trl")
    from tests.compat.hub import hub

    calls: list[list[float]] = []

    def recorded(prompts, completions, **kwargs):
        calls.append(reward(prompts, completions, **kwargs))
        return calls[-1]

    recorded.__name__ = reward.__name__
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=6,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        model_init_kwargs={"dtype": torch.float32},
    )
    prompts = Dataset.from_dict({"prompt": ["Beautiful is better than", "Simple is better than"] * 2})
    policy = hub("trl-internal-testing/tiny-Qwen2ForCausalLM-2.5")
    trainer = trl.GRPOTrainer(model=policy, reward_funcs=[recorded], args=config, train_dataset=prompts)
    trainer.train()

    assert trainer.state.global_step == 2 and len(calls) >= 2
    logged = [e["rewards/reward_model/mean"] for e in trainer.state.log_history if "rewards/reward_model/mean" in e]
    assert logged and all(torch.isfinite(torch.tensor(logged)))
