"""Offline stand-ins for the hub loads of TRL's reward-trainer tests: tiny models and the test datasets.

TRL's tests load `trl-internal-testing/*` models and datasets from the hub. Here each model id maps
to a tiny model built from a config of the same architecture (Llama, Qwen2, Qwen3-MoE, GPT-2,
GPT-NeoX) and saved, like the hub's, in bf16 with its tokenizer; each dataset to small in-memory rows
built the way TRL's generating script builds it (`scripts/generate_zen_dataset.py`,
`scripts/generate_toolcall_dataset.py`): `Dataset.from_dict` over the same columns and message shapes,
split by `train_test_split(test_size=0.1, shuffle=False)`. For `toolcall` that means assistant turns with
`tool_calls` and no `content`, `tool` turns with `name`, `tools` as JSON text, and the nulls Arrow fills
in for the keys one message lacks. `hub_schemas.json` records what those scripts produce
(`record_hub_schemas.py`); `test_hub_stand_ins.py` holds the stand-ins to it. The ported tests change
only their imports and wrap each model id in `hub(...)`.

CausalLM ids keep a CausalLM config (no `num_labels`), as on the hub. The two old "dummy" ids that
TRL v0.11/v0.12 loaded straight into `AutoModelForSequenceClassification` are saved as one-label
classifiers, so those tests exercise data, training, LoRA, margins and tags rather than all stopping
at rmcore's deliberate `num_labels == 1` check (which the current release's own test covers).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen3MoeConfig,
)

HERE = Path(__file__).parent
QWEN_TEMPLATE = (HERE / "template.jinja").read_text()
LLAMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
SPECIALS = [
    "<unk>", "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|start_header_id|>",
    "<|end_header_id|>", "<|eot_id|>", "<tool_call>", "</tool_call>", "<tools>", "</tools>",
    "<tool_response>", "</tool_response>", "<think>", "</think>",
]  # fmt: skip

ZEN = [
    ("Beautiful is better than", " ugly.", " the moon."),
    ("Explicit is better than", " implicit.", " a cat."),
    ("Simple is better than", " complex.", " nothing at all."),
    ("Complex is better than", " complicated.", " blue."),
    ("Flat is better than", " nested.", " round."),
    ("Sparse is better than", " dense.", " heavy rain."),
    ("Readability", " counts.", " is overrated."),
    ("Special cases aren't special enough to", " break the rules.", " dance."),
    ("Although practicality", " beats purity.", " sleeps."),
    ("Errors should never", " pass silently.", " be fixed."),
    ("Unless explicitly", " silenced.", " loud."),
    ("In the face of ambiguity, refuse the", " temptation to guess.", " cake."),
    ("There should be one-- and preferably only one --obvious way to", " do it.", " fly."),
    ("Although that way may not be obvious at first unless you're", " Dutch.", " hungry."),
    ("Now is better than", " never.", " yesterday."),
    ("Although never is often better than", " *right* now.", " soup."),
    ("If the implementation is hard to explain, it's a", " bad idea.", " banana."),
    ("If the implementation is easy to explain, it may be a", " good idea.", " storm."),
    ("Namespaces are one honking great idea -- let's do", " more of those!", " less of that."),
]


# The fictitious functions of TRL's toolcall dataset: the same names, parameters and return types, so the
# schemas `get_json_schema` derives (and the union of argument keys Arrow builds) are the dataset's.
def start_timer(duration: int) -> int:
    """
    Starts a timer.

    Args:
        duration: Seconds to time.

    Returns:
        The seconds timed.
    """
    return duration


def get_current_time(location: str) -> str:
    """
    The time of day at a place.

    Args:
        location: Where to tell the time.

    Returns:
        The local time.
    """
    return "06:22:48"


def get_air_quality_index(location: str) -> int:
    """
    The air quality index of a place.

    Args:
        location: Where to measure.

    Returns:
        The index.
    """
    return 53


def play_music(title: str, artist: str) -> dict:
    """
    Plays a song.

    Args:
        title: The song.
        artist: Who plays it.

    Returns:
        The player's status.
    """
    return {"status": "Playing"}


def get_weather_forecast(city: str, date: str) -> dict:
    """
    The weather forecast of a city on a date.

    Args:
        city: The city.
        date: The day, as YYYY-MM-DD.

    Returns:
        Temperature and condition.
    """
    return {"temperature": 22, "condition": "partly cloudy"}


def control_light(room: str, state: str) -> dict:
    """
    Switches the light of a room.

    Args:
        room: The room.
        state: "on" or "off".

    Returns:
        The light's state.
    """
    return {"state": state}


def create_reminder(time: str, note: str) -> str:
    """
    Sets a reminder.

    Args:
        time: When to remind.
        note: What to remind of.

    Returns:
        A confirmation.
    """
    return "Reminder set"


def get_wind_conditions(city: str, unit: str) -> tuple[int, str]:
    """
    Wind speed and direction in a city.

    Args:
        city: The city.
        unit: The speed unit, e.g. "mph".

    Returns:
        Speed and direction.
    """
    return 14, "NW"


def _call(function, **arguments) -> tuple[str, dict]:
    return function.__name__, arguments


# One row per prompt: the tool the row offers, then chosen and rejected as (call or None, tool result, reply).
TOOLCALL = [
    ("Set a timer for 10 minutes.", start_timer,
     (_call(start_timer, duration=600), "600", "Timer set for 10 minutes."),
     (_call(start_timer, duration=10), "10", "Timer set for 10 seconds.")),
    ("What time is it in Tokyo?", get_current_time,
     (_call(get_current_time, location="Tokyo"), "06:22:48", "It is 06:22 in Tokyo."),
     (None, None, "It is noon in Tokyo.")),
    ("Is the air clean today in Lisbon?", get_air_quality_index,
     (_call(get_air_quality_index, location="Lisbon, Portugal"), "53", "The air is moderate."),
     (_call(get_air_quality_index, location="Lisbon"), "53", "The air is great.")),
    ("Play some music.", play_music,
     (_call(play_music, title="Take Five", artist="Dave Brubeck"), "{'status': 'Playing'}", "Enjoy the jazz."),
     (_call(play_music, title="Take Five", artist="Daft Punk"), "{'status': 'Playing'}", "Playing your song.")),
    ("What is the weather tomorrow in Berlin?", get_weather_forecast,
     (_call(get_weather_forecast, city="Berlin", date="2025-06-16"), "{'temperature': 22}", "Berlin: 22 degrees."),
     (None, None, "Berlin will be hot.")),
    ("Turn on the living room lights.", control_light,
     (_call(control_light, room="living room", state="on"), "{'state': 'on'}", "The lights are on."),
     (_call(control_light, room="living room", state="off"), "{'state': 'off'}", "The lights are off.")),
    ("Remind me to call mom at 7 PM.", create_reminder,
     (_call(create_reminder, time="19:00", note="Call mom"), "Reminder set", "I will remind you at 7 PM."),
     (_call(create_reminder, time="07:00", note="Call mom"), "Reminder set", "I will remind you at 7 AM.")),
    ("How strong is the wind in Chicago right now?", get_wind_conditions,
     (_call(get_wind_conditions, city="Chicago", unit="mph"), "(14, 'NW')", "The wind is 14 mph from the northwest."),
     (_call(get_weather_forecast, city="Chicago", date="2025-06-16"), "{'temperature': 22}", "Chicago: 22 degrees.")),
]  # fmt: skip


def zen_columns(config: str) -> dict[str, list]:
    """The columns of one `zen` config, as `generate_zen_dataset.py` lays them out."""
    prompts, chosen, rejected = (list(column) for column in zip(*ZEN, strict=True))
    if config == "standard_preference":
        return {"prompt": prompts, "chosen": chosen, "rejected": rejected}
    if config == "standard_implicit_prompt_preference":
        return {
            "chosen": [p + c for p, c in zip(prompts, chosen, strict=True)],
            "rejected": [p + r for p, r in zip(prompts, rejected, strict=True)],
        }
    users = [[{"role": "user", "content": p}] for p in prompts]
    replies_c = [[{"role": "assistant", "content": c.strip()}] for c in chosen]
    replies_r = [[{"role": "assistant", "content": r.strip()}] for r in rejected]
    if config == "conversational_preference":
        return {"prompt": users, "chosen": replies_c, "rejected": replies_r}
    if config == "conversational_implicit_prompt_preference":
        return {
            "chosen": [u + c for u, c in zip(users, replies_c, strict=True)],
            "rejected": [u + r for u, r in zip(users, replies_r, strict=True)],
        }
    raise ValueError(f"no stand-in for zen config {config!r}")


def _turns(call: tuple[str, dict] | None, result: str | None, reply: str) -> list[dict]:
    """An assistant reply, after a tool call (no `content`) and its result (a `tool` turn with `name`) if any."""
    if call is None:
        return [{"role": "assistant", "content": reply}]
    name, arguments = call
    return [
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "name": name, "content": result},
        {"role": "assistant", "content": reply},
    ]


def toolcall_columns(tools_as_json: bool = True) -> dict[str, list]:
    """The `preference` config of `generate_toolcall_dataset.py`: `tools` as JSON text (the revision the hub
    holds, and TRL's tests read) or as a list (the current script, which builds it with datasets' Json type)."""
    from transformers.utils import get_json_schema

    tools = [[get_json_schema(function)] for _, function, _, _ in TOOLCALL]
    return {
        "prompt": [[{"role": "user", "content": prompt}] for prompt, *_ in TOOLCALL],
        "chosen": [_turns(*chosen) for _, _, chosen, _ in TOOLCALL],
        "rejected": [_turns(*rejected) for *_, rejected in TOOLCALL],
        "tools": [json.dumps(t) for t in tools] if tools_as_json else tools,
    }


def build_dataset(path: str, name: str | None = None) -> DatasetDict:
    """The stand-in of a hub dataset config, split as TRL's scripts split it before pushing."""
    if path == "trl-internal-testing/zen":
        data = Dataset.from_dict(zen_columns(name))
    elif path == "trl-internal-testing/toolcall" and name in (None, "preference"):
        data = Dataset.from_dict(toolcall_columns())
    elif path == "trl-internal-testing/toolcall@json" and name in (None, "preference"):
        data = Dataset.from_dict(toolcall_columns(tools_as_json=False), on_mixed_types="use_json")
    else:
        raise ValueError(f"no offline stand-in for dataset {path!r} config {name!r}")
    return data.train_test_split(test_size=0.1, shuffle=False)


def load_dataset(path: str, name: str | None = None, split: str | None = None, streaming: bool = False):
    """`datasets.load_dataset` for the hub datasets TRL's tests read (`@json`: toolcall as the current script
    builds it)."""
    data = build_dataset(path, name)
    if streaming:
        data = {k: v.to_iterable_dataset() for k, v in data.items()}
    return data[split] if split is not None else data


def _corpus() -> str:
    texts = [QWEN_TEMPLATE, LLAMA_TEMPLATE, "system user assistant tool SYSTEM USER ASSISTANT TOOL"]
    texts += ["You are Qwen, created by Alibaba Cloud. You are a helpful assistant."]
    texts += [" ".join(row) for row in ZEN]
    texts += [json.dumps(column) for column in toolcall_columns().values()]
    return "\n".join(texts)


def word_tokenizer(eos: str, bos: str | None = None, pad: str | None = None, template: str | None = None):
    """A word-level tokenizer over the test data's words, with chat special tokens."""
    words = sorted({w for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(_corpus())} - set(SPECIALS))
    vocab = {token: i for i, token in enumerate([*SPECIALS, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos is not None:
        backend.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", eos_token=eos, bos_token=bos, pad_token=pad
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[3:]})
    tokenizer.chat_template = template
    return tokenizer


def _small(vocab: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)


def _llama(v: int):
    return LlamaConfig(**_small(v), num_key_value_heads=1, max_position_embeddings=512)


def _qwen2(v: int):
    return Qwen2Config(**_small(v), num_key_value_heads=1, max_position_embeddings=1024)


def _qwen3_moe(v: int):
    small = _small(v)
    return Qwen3MoeConfig(
        **small, num_key_value_heads=1, head_dim=8, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16
    )


def _gpt2(v: int):
    return GPT2Config(vocab_size=v, n_embd=16, n_layer=2, n_head=2, n_positions=512)


def _gpt_neox(v: int):
    return GPTNeoXConfig(**_small(v), max_position_embeddings=512)


# model id -> (config builder, architecture, tokenizer kwargs, saved as a one-label classifier)
QWEN_TOKENS = dict(eos="<|im_end|>", pad="<|endoftext|>", template=QWEN_TEMPLATE)
GPT_TOKENS = dict(eos="<|endoftext|>")
MODELS = {
    "trl-internal-testing/tiny-Qwen2ForCausalLM-2.5": (_qwen2, "Qwen2ForCausalLM", QWEN_TOKENS, False),
    "trl-internal-testing/tiny-Qwen2ForSequenceClassification-2.5": (
        _qwen2, "Qwen2ForSequenceClassification", QWEN_TOKENS, True
    ),
    "trl-internal-testing/tiny-Qwen3MoeForCausalLM": (_qwen3_moe, "Qwen3MoeForCausalLM", QWEN_TOKENS, False),
    "trl-internal-testing/tiny-LlamaForCausalLM-3.2": (
        _llama, "LlamaForCausalLM", dict(eos="</s>", bos="<s>", template=LLAMA_TEMPLATE), False
    ),
    "trl-internal-testing/tiny-GPTNeoXForCausalLM": (_gpt_neox, "GPTNeoXForCausalLM", GPT_TOKENS, False),
    "trl-internal-testing/dummy-GPT2-correct-vocab": (_gpt2, "GPT2ForSequenceClassification", GPT_TOKENS, True),
    "hf-internal-testing/tiny-random-LlamaForCausalLM": (
        _llama, "LlamaForSequenceClassification", dict(eos="</s>", bos="<s>"), True
    ),
    "Qwen/Qwen3-4B": (_qwen2, "Qwen2ForCausalLM", QWEN_TOKENS, False),
}  # fmt: skip
_root: Path | None = None
REMOTE_ID = "trl-internal-testing/tiny-RemoteForCausalLM"
# A model that ships its own code (a renamed Qwen2), loadable only with trust_remote_code=True.
REMOTE_CODE = {
    "configuration_remote.py": (
        "from transformers import Qwen2Config\n\n\nclass RemoteConfig(Qwen2Config):\n    model_type = 'remote'\n"
    ),
    "modeling_remote.py": (
        "from torch import nn\n"
        "from transformers import Qwen2ForCausalLM, Qwen2ForSequenceClassification\n"
        "from transformers import Qwen2Model, Qwen2PreTrainedModel\n\n"
        "from .configuration_remote import RemoteConfig\n\n\n"
        "class RemoteForCausalLM(Qwen2ForCausalLM):\n    config_class = RemoteConfig\n\n\n"
        "class RemoteForSequenceClassification(Qwen2ForSequenceClassification):\n"
        "    config_class = RemoteConfig\n\n"
        "    def __init__(self, config):\n"
        "        Qwen2PreTrainedModel.__init__(self, config)\n"
        "        self.num_labels = config.num_labels\n"
        "        self.model = Qwen2Model(config)\n"
        "        self.score = nn.Linear(config.hidden_size, self.num_labels, bias=False)\n"
        "        self.post_init()\n"
    ),
}
REMOTE_AUTO_MAP = {
    "AutoConfig": "configuration_remote.RemoteConfig",
    "AutoModelForCausalLM": "modeling_remote.RemoteForCausalLM",
    "AutoModelForSequenceClassification": "modeling_remote.RemoteForSequenceClassification",
}


def _save_remote(folder: Path) -> None:
    """The remote-code stand-in: a tiny Qwen2 saved under its own model type, with its code beside it."""
    from transformers import Qwen2ForCausalLM

    tokenizer = word_tokenizer(**QWEN_TOKENS)
    config = _qwen2(len(tokenizer))
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    saved.update(model_type="remote", architectures=["RemoteForCausalLM"], auto_map=REMOTE_AUTO_MAP)
    (folder / "config.json").write_text(json.dumps(saved, indent=2))
    for name, code in REMOTE_CODE.items():
        (folder / name).write_text(code)


def hub(model_id: str) -> str:
    """The local folder standing in for a hub model id (built once per test session)."""
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="rmcore-compat-"))
        atexit.register(shutil.rmtree, _root, True)
    folder = _root / model_id.replace("/", "--")
    if folder.is_dir():
        return str(folder)
    if model_id == REMOTE_ID:
        _save_remote(folder)
        return str(folder)
    build, architecture, token_kwargs, one_label = MODELS[model_id]
    tokenizer = word_tokenizer(**token_kwargs)
    config = build(len(tokenizer))
    config.architectures = [architecture]
    config.eos_token_id = tokenizer.eos_token_id
    config.bos_token_id = tokenizer.bos_token_id
    if one_label:
        config.num_labels = 1
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    torch.manual_seed(0)
    auto = AutoModelForSequenceClassification if one_label else AutoModelForCausalLM
    model = auto.from_config(config).to(torch.bfloat16)  # hub checkpoints are bf16
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
