"""A reward model as an RL loop's reward function: `(prompts, completions, **kwargs) -> list[float]`.

TRL's `GRPOTrainer` takes such callables in `reward_funcs` (and names their log columns by `__name__`).
Given a reward model by path, TRL and OpenRLHF tokenize completions with `add_special_tokens=False`
and cut them their own way; a BERT then loses [CLS]/[SEP] and a Llama its <s>, and rewards move. This
function scores exactly as training tokenized: special tokens added to text, conversations rendered by
the model's chat template (or hh-rlhf's form, `rmcore.data.chat`), texts cut from the left at the training
length, in float32. The remote form sends the same samples to a rewardflow reward server, which scores
them the same way, and returns its raw (not normalised) rewards.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rmcore.data.chat import chat_template_in_effect, is_conversational, render_conversation
from rmcore.models.scoring import ScoringConfig, score_texts

Messages = list[Mapping[str, Any]]
Sample = str | Messages  # a full text (prompt + completion), or a conversation


def join_sample(prompt: str | Messages, completion: str | Messages) -> Sample:
    """One sample from a prompt and its completion: text + text, or the messages of both.

    A text completion of a conversational prompt is the assistant's reply, as TRL's GRPO writes it.
    """
    if not is_conversational(prompt) and isinstance(completion, str):
        return str(prompt) + completion
    prompt_messages = list(prompt) if is_conversational(prompt) else [{"role": "user", "content": str(prompt)}]
    reply = list(completion) if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
    return [*prompt_messages, *reply]


class LocalScorer:
    """Scores samples with a loaded reward model, the way training tokenized them."""

    def __init__(self, model: Any, tokenizer: Any, scoring: ScoringConfig) -> None:
        self.model, self.tokenizer, self.scoring = model, tokenizer, scoring

    def __call__(self, samples: Sequence[Sample]) -> list[float]:
        """One float32 reward per sample, in order; conversations are rendered and, when a chat template
        wrote them, tokenized without added special tokens (the template writes its own)."""
        templated = chat_template_in_effect(self.tokenizer) is not None
        texts = [render_conversation(self.tokenizer, s) if is_conversational(s) else s for s in samples]
        groups: dict[bool, list[int]] = {}
        for i, sample in enumerate(samples):
            groups.setdefault(templated and is_conversational(sample), []).append(i)
        rewards = [0.0] * len(samples)
        for flag, indices in groups.items():
            scored = score_texts(
                self.model,
                self.tokenizer,
                [texts[i] for i in indices],
                config=self.scoring,
                templated=flag,
            )
            for i, reward in zip(indices, scored, strict=True):
                rewards[i] = reward
        return rewards


class RemoteScorer:
    """Scores samples on a rewardflow reward server: `/score` (texts or conversations) or `/get_reward` (texts)."""

    def __init__(self, url: str, token: str | None = None, endpoint: str = "/score", timeout: float = 60.0) -> None:
        if endpoint not in ("/score", "/get_reward"):
            raise ValueError(f"endpoint={endpoint!r}: use '/score' or '/get_reward'")
        self.url, self.token, self.endpoint, self.timeout = url.rstrip("/"), token, endpoint, timeout

    def __call__(self, samples: Sequence[Sample]) -> list[float]:
        chats = [i for i, s in enumerate(samples) if is_conversational(s)]
        texts = [i for i, s in enumerate(samples) if not is_conversational(s)]
        rewards = [0.0] * len(samples)
        for field, indices in (("messages", chats), ("texts", texts)):
            if indices:
                for i, reward in zip(indices, self._post(field, [samples[i] for i in indices]), strict=True):
                    rewards[i] = reward
        return rewards

    def _post(self, field: str, items: list[Sample]) -> list[float]:
        """Raw rewards of one request (`"normalize": false`)."""
        if self.endpoint == "/get_reward":
            if field == "messages":
                raise ValueError("/get_reward scores texts only: use endpoint='/score' for conversations")
            body = {"query": items, "normalize": False}
        else:
            body = {field: items, "normalize": False}
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url + self.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise RuntimeError(f"{self.url}{self.endpoint}: HTTP {err.code}: {detail}") from err
        return [float(r) for r in (answer["raw"] if self.endpoint == "/score" else answer["rewards"])]


class RewardFunction:
    """A reward model as a reward function for RL loops (TRL's `GRPOTrainer(reward_funcs=...)` and alike).

    `RewardFunction(model_dir)` loads the model in this process (a saved folder, a downloaded MLflow model
    or a hub id); `RewardFunction(url=..., token=...)` asks a rewardflow reward server. Both return raw
    rewards: one float per (prompt, completion), scored as the model was trained (see the module doc).

    Args:
        model_dir: the reward model to load here; give this or `url`.
        url: a reward server's base URL (`http://127.0.0.1:8000`).
        token: the server's bearer token, if it has one.
        endpoint: the server endpoint: `/score` (texts and conversations) or `/get_reward` (texts).
        scoring: batch size, token limit (None = the length the model was trained with) and precision of
            the local form; fp32 by default, the reward the gate measured.
        name: `__name__`, which TRL uses to name the reward in its logs.
        trust_remote_code: run the model code saved in the folder (local form), as training did.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        endpoint: str = "/score",
        scoring: ScoringConfig = ScoringConfig(),
        name: str = "reward_model",
        trust_remote_code: bool = False,
    ) -> None:
        if (model_dir is None) == (url is None):
            raise ValueError("RewardFunction needs exactly one of model_dir (score here) or url (ask a server)")
        self.__name__ = name
        if url is not None:
            self.scorer: LocalScorer | RemoteScorer = RemoteScorer(url, token, endpoint)
            return
        from rmcore.models.loading import load_reward_model

        model, tokenizer = load_reward_model(model_dir, trust_remote_code)
        self.scorer = LocalScorer(model, tokenizer, scoring)

    def __call__(
        self, prompts: Sequence[str | Messages], completions: Sequence[str | Messages], **kwargs: Any
    ) -> list[float]:
        """One reward per (prompt, completion); other keyword arguments (TRL passes dataset columns) are ignored."""
        return self.score([join_sample(p, c) for p, c in zip(prompts, completions, strict=True)])

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """One reward per full text or conversation."""
        return self.scorer(list(samples)) if samples else []
