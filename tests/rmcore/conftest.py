"""Shared fixtures for the reward core: tiny random decoders, the offline MiniLM, and the shared pairs.

Decoders use a small word-level tokenizer whose pad token is its EOS token, as GPT-2 and Llama
checkpoints are usually set up: exactly the case where "last token that is not pad" pooling fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    PreTrainedTokenizerFast,
)

from rmcore import RewardConfig
from rmcore.models.loading import default_model_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_PAIRS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
WORDS = (
    "human assistant hello how are you i am fine good bad yes no please thanks what is the a cat dog sat on "
    "mat tell me joke sorry cannot help with that sure here it"
).split()
SPECIALS = ("<unk>", "<s>", "</s>")

TEXT_PAIRS = {
    "chosen": [
        "human hello assistant hello how are you",
        "human tell me a joke assistant sure here it is the cat sat on the mat",
        "human please help assistant sure",
        "human what is a dog assistant a dog is good",
        "human thanks assistant thanks",
        "human how are you assistant i am fine thanks",
        "human tell me a joke assistant the dog sat on the cat",
        "human yes assistant yes",
    ],
    "rejected": [
        "human hello assistant no",
        "human tell me a joke assistant sorry i cannot help with that",
        "human please help assistant no bad",
        "human what is a dog assistant bad",
        "human thanks assistant what",
        "human how are you assistant bad",
        "human tell me a joke assistant no",
        "human yes assistant no no no",
    ],
}


def word_tokenizer(bos: bool) -> PreTrainedTokenizerFast:
    """A whitespace word tokenizer with pad = EOS; `bos` adds a BOS token in front like Llama's."""
    vocab = {token: i for i, token in enumerate((*SPECIALS, *WORDS))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )


def tiny_gpt2(seed: int = 0) -> GPT2ForSequenceClassification:
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(SPECIALS) + len(WORDS),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        num_labels=1,
        pad_token_id=2,
        eos_token_id=2,
        bos_token_id=1,
    )
    return GPT2ForSequenceClassification(config).eval()


def tiny_llama(seed: int = 0) -> LlamaForSequenceClassification:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        num_labels=1,
        pad_token_id=2,
        eos_token_id=2,
        bos_token_id=1,
    )
    return LlamaForSequenceClassification(config).eval()


def tiny_bert(vocab_size: int, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        num_labels=1,
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine two threads spin: 8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Fixtures hand out the builders, so tests need no `import conftest` (fragile once several exist).
DECODERS = {"gpt2": (tiny_gpt2, False), "llama": (tiny_llama, True)}


@pytest.fixture(params=sorted(DECODERS))
def decoder(request) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """A tiny random decoder classifier (GPT-2, then Llama) and its tokenizer, pad = EOS."""
    build, bos = DECODERS[request.param]
    return build(), word_tokenizer(bos=bos)


@pytest.fixture
def gpt2_tokenizer() -> PreTrainedTokenizerFast:
    return word_tokenizer(bos=False)


@pytest.fixture
def llama_tokenizer() -> PreTrainedTokenizerFast:
    return word_tokenizer(bos=True)


@pytest.fixture
def make_gpt2():
    return tiny_gpt2


@pytest.fixture
def make_llama():
    return tiny_llama


@pytest.fixture
def make_config():
    """`make_config(output_dir, **overrides)`: a quiet fp32 CPU RewardConfig for tests."""
    return reward_config


@pytest.fixture(scope="session")
def minilm_path() -> str:
    return default_model_path()


@pytest.fixture
def minilm_tokenizer(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture
def minilm(minilm_path):
    torch.manual_seed(0)  # the score head is new, hence random
    return AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=1)


@pytest.fixture
def bert_with_minilm_vocab(minilm_tokenizer) -> BertForSequenceClassification:
    """A tiny random BERT that reads MiniLM's tokenizer: encoder behaviour at a fraction of the cost."""
    return tiny_bert(len(minilm_tokenizer))


@pytest.fixture
def text_pairs() -> Dataset:
    return Dataset.from_dict({k: list(v) for k, v in TEXT_PAIRS.items()})


@pytest.fixture
def shared_pairs_path() -> Path:
    if not SHARED_PAIRS.is_file():
        pytest.skip(f"shared pairs not found at {SHARED_PAIRS}")
    return SHARED_PAIRS.resolve()


def reward_config(output_dir, **overrides) -> RewardConfig:
    """A quiet fp32 CPU config for tests; overrides win."""
    settings = {
        "output_dir": str(output_dir),
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": True,
        "bf16": False,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "max_steps": 2,
        "logging_steps": 1,
        "learning_rate": 1e-3,
        "warmup_steps": 0,
        "eval_table_rows": 0,
        "eval_plots": False,
        "seed": 0,
    }
    settings.update(overrides)
    return RewardConfig(**settings)
