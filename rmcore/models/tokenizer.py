"""The tokenizer a reward model trains with, and the copy saved beside it that says how training tokenized.

Every client of a saved model (the server, the pyfunc, a transformers pipeline, TRL) reads the saved
tokenizer files, so they carry left truncation, the training length and a chat template that renders
conversations as training rendered them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore.data.chat import HH_SPEAKERS, chat_template_in_effect, resolve_chat_template
from rmcore.data.tokenization import special_affixes
from rmcore.models.loading import load_tokenizer


def resolve_tokenizer(model: nn.Module | str | None, tokenizer: Any, args: Any) -> PreTrainedTokenizerBase:
    """The tokenizer given, else the one saved with the model (its name or `config.name_or_path`), as TRL does."""
    if tokenizer is not None:
        return tokenizer
    name = model if isinstance(model, str) else getattr(getattr(model, "config", None), "name_or_path", None)
    if not name:
        raise ValueError(
            "RewardTrainer needs the tokenizer: pass tokenizer= or processing_class= (this model has no "
            "config.name_or_path to load one from)"
        )
    return load_tokenizer(name, getattr(args, "trust_remote_code", False))


def configure_tokenizer(tokenizer: PreTrainedTokenizerBase, args: Any) -> None:
    """Apply `eos_token`, `pad_token` and `chat_template_path`; a token outside the vocabulary is refused."""
    vocab = tokenizer.get_vocab()
    for flag in ("eos_token", "pad_token"):
        token = getattr(args, flag, None)
        if token is None:
            continue
        if token not in vocab:
            raise ValueError(f"{flag}={token!r} is not in the vocabulary of {type(tokenizer).__name__}")
        setattr(tokenizer, flag, token)
    path = getattr(args, "chat_template_path", None)
    if path is not None:
        tokenizer.chat_template = resolve_chat_template(path)


def hh_chat_template(tokenizer: PreTrainedTokenizerBase) -> str:
    """A Jinja chat template that writes what training wrote for a tokenizer without one.

    Such a tokenizer's conversations are rendered in hh-rlhf's form (`rmcore.data.chat.render_hh`) and then
    wrapped in the tokenizer's special tokens ([CLS] ... [SEP] for BERT, <s> ... for Llama). The template
    writes both, so `apply_chat_template(messages, tokenize=True)` gives the ids the model was trained on.
    """

    prefix, suffix = (tokenizer.decode(list(ids)) for ids in special_affixes(tokenizer))
    return (
        f"{{%- set speakers = {json.dumps(HH_SPEAKERS)} -%}}"
        f"{{{{- {json.dumps(prefix)} -}}}}"
        "{%- for message in messages -%}"
        '{{- "\\n\\n" + speakers.get(message["role"], message["role"] | title) + ": " + message["content"] -}}'
        "{%- endfor -%}"
        '{%- if add_generation_prompt -%}{{- "\\n\\nAssistant:" -}}{%- endif -%}'
        f"{{{{- {json.dumps(suffix)} -}}}}"
    )


def tokenizer_as_trained(tokenizer: PreTrainedTokenizerBase, max_length: int) -> PreTrainedTokenizerBase:
    """A copy of the training tokenizer that says how training tokenized, for every client of the saved files.

    Training cuts texts longer than `max_length` from the left (the end tells a pair apart), so the copy
    carries `truncation_side="left"` and `model_max_length=max_length`; a tokenizer without a chat template
    gets the one that reproduces how its conversations were rendered (`hh_chat_template`).
    """

    saved = copy.deepcopy(tokenizer)
    saved.truncation_side = "left"
    saved.init_kwargs["truncation_side"] = "left"  # save_pretrained writes attributes only for keys init had
    saved.model_max_length = int(max_length)
    if chat_template_in_effect(saved) is None:
        saved.chat_template = hh_chat_template(saved)
    return saved


def setup_tokenizer(model: nn.Module | str | None, tokenizer: Any, args: Any) -> PreTrainedTokenizerBase:
    """`resolve_tokenizer` then `configure_tokenizer`: the tokenizer training will use."""
    tokenizer = resolve_tokenizer(model, tokenizer, args)
    configure_tokenizer(tokenizer, args)
    return tokenizer
