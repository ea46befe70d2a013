"""Request bodies of the reward server, as pydantic models: a wrong type or an empty list is a 422 naming the field.

`GetRewardRequest` is OpenRLHF's reward-server payload (`{"query": [...]}`; its client also sends
`prompts` and `labels`, which are accepted and ignored), so `--reward.remote_url` can point here unchanged.
`ClassifyRequest` is vLLM's `/classify` payload (`input` as a string or a list of strings, or a chat
`messages` list), so a verl or vLLM-style client gets our rewards.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from rmcore.data.chat import ROLES, decode_tools, message_issue

Role = Literal[ROLES]  # type: ignore[valid-type]


def encodable(text: str) -> str:
    """Refuse text that is not valid Unicode (a lone surrogate such as "\\ud800", which JSON can spell but
    UTF-8 cannot), so it is a 422 naming the field instead of a tokenizer crash (500)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"not valid Unicode: lone surrogate {text[err.start]!r} at character {err.start}; send UTF-8 text"
        ) from None
    return text


Text = Annotated[StrictStr, AfterValidator(encodable)]


class GetRewardRequest(BaseModel):
    """OpenRLHF's `/get_reward` body: full texts (prompt + response) to score."""

    model_config = ConfigDict(extra="allow")

    query: list[Text] = Field(min_length=1, description="Full texts (prompt + response), one reward each.")
    normalize: StrictBool = Field(True, description="Return (r - mean) / std with the model's stats; false = raw.")


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chosen: Text
    rejected: Text
    prompt: Text = Field("", description="Prepended to both sides, as in training.")


class Message(BaseModel):
    """A chat message as TRL's data has it: an assistant turn may call tools (`tool_calls`, no content)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: Text | None = None
    tool_calls: list[dict] | None = None
    name: Text | None = None
    tool_call_id: Text | None = None


class ScoreRequest(BaseModel):
    """Exactly one of `texts`, `pairs` or `messages` (conversations rendered with the model's chat template)."""

    model_config = ConfigDict(extra="forbid")

    texts: list[Text] | None = Field(None, min_length=1, description="Texts to score, one reward each.")
    pairs: list[Pair] | None = Field(None, min_length=1, description="Pairs: a reward for each side and the margin.")
    messages: list[list[Message]] | None = Field(
        None, min_length=1, description="Conversations, each a non-empty list of {role, content} messages."
    )
    tools: list[dict] | StrictStr | None = Field(
        None, description="Function schemas (or their JSON text) for `messages`."
    )
    normalize: StrictBool = Field(True, description="Normalised rewards under `rewards`; raw ones always in `raw`.")

    @model_validator(mode="after")
    def one_input(self) -> ScoreRequest:
        given = [name for name in ("texts", "pairs", "messages") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of texts, pairs or messages; got {given or 'none'}")
        if self.messages is not None:
            empty = [i for i, conversation in enumerate(self.messages) if not conversation]
            if empty:
                raise ValueError(f"messages[{empty[0]}] is an empty conversation")
            for i, conversation in enumerate(self.messages):
                if (issue := message_issue([m.model_dump(exclude_none=True) for m in conversation])) is not None:
                    raise ValueError(f"messages[{i}]: {issue.text}")
        decode_tools(self.tools)  # a ValueError names `tools`
        return self


class ClassifyRequest(BaseModel):
    """vLLM's `/classify` body (ClassificationCompletionRequest or ClassificationChatRequest): `input` texts
    or one `messages` conversation. vLLM's other fields (`use_activation`, `truncate_prompt_tokens`,
    `add_special_tokens`, `priority`, ...) are accepted and ignored: texts are tokenized and truncated as
    in training, and the reward is returned raw."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(
        None, description="Echoed back in the response; the served model scores whatever it says."
    )
    input: Text | list[Text] | None = Field(None, description="A text or a non-empty list of texts, one result each.")
    messages: list[Message] | None = Field(None, min_length=1, description="One conversation, rendered as in training.")

    @model_validator(mode="after")
    def one_input(self) -> ClassifyRequest:
        given = [name for name in ("input", "messages") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of input or messages; got {given or 'none'}")
        if isinstance(self.input, list) and not self.input:
            raise ValueError("input is an empty list; give at least one text")
        return self
