"""Request bodies of the reward server, as pydantic models: a wrong type or an empty list is a 422 naming the field.

`GetRewardRequest` is OpenRLHF's reward-server payload (`{"query": [...]}`; its client also sends
`prompts` and `labels`, which are accepted and ignored), so `--remote_rm_url` can point here unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from rmcore.chat import ROLES, decode_tools, message_issue

Role = Literal[ROLES]  # type: ignore[valid-type]


class GetRewardRequest(BaseModel):
    """OpenRLHF's `/get_reward` body: full texts (prompt + response) to score."""

    model_config = ConfigDict(extra="allow")

    query: list[StrictStr] = Field(min_length=1, description="Full texts (prompt + response), one reward each.")
    normalize: StrictBool = Field(True, description="Return (r - mean) / std with the model's stats; false = raw.")


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chosen: StrictStr
    rejected: StrictStr
    prompt: StrictStr = Field("", description="Prepended to both sides, as in training.")


class Message(BaseModel):
    """A chat message as TRL's data has it: an assistant turn may call tools (`tool_calls`, no content)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: StrictStr | None = None
    tool_calls: list[dict] | None = None
    name: StrictStr | None = None
    tool_call_id: StrictStr | None = None


class ScoreRequest(BaseModel):
    """Exactly one of `texts`, `pairs` or `messages` (conversations rendered with the model's chat template)."""

    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] | None = Field(None, min_length=1, description="Texts to score, one reward each.")
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
