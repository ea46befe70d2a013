"""Small pure helpers of the `reward-model` flow: turn parameters into configs and pick the pairs."""

from __future__ import annotations

import pandas as pd

from flows.params import LoraSettings, RewardFlowParams
from rmcore.models import lora_config
from rmcore.safety import resolve_under
from tasks.data_config import DataConfig
from tasks.idempotency import code_version, config_hash, work_key
from tasks.store import data_hash


def checked_dataset(params: RewardFlowParams) -> str | None:
    """`dataset_name`, resolved inside `data_root` when one is set (raises PathEscapeError if it leaves it)."""
    if params.dataset_name is None or params.data_root is None:
        return params.dataset_name
    return str(resolve_under(params.dataset_name, params.data_root))


def work_identity(pairs: pd.DataFrame, train_df: pd.DataFrame, eval_df: pd.DataFrame, params: RewardFlowParams):
    """The run's hashes as tags, and the idempotency key (data + config + code) naming its run folder.

    Returns:
        (key, tags): tags hold data_hash, train_hash, eval_hash, config_hash, code_version and the key.
    """
    tags = {
        "data_hash": data_hash(pairs),
        "train_hash": data_hash(train_df),
        "eval_hash": data_hash(eval_df),
        "config_hash": config_hash(params.model_dump(mode="json")),
        "code_version": code_version(),
    }
    key = work_key(f"{tags['train_hash']}:{tags['eval_hash']}", tags["config_hash"], tags["code_version"])
    return key, {**tags, "idempotency_key": key}


def pipeline_data_config(params: RewardFlowParams) -> DataConfig:
    """The data-in settings implied by the flow parameters."""
    return DataConfig(eval_fraction=params.eval_fraction, min_good_fraction=params.min_good_fraction)


def build_peft(lora: LoraSettings | None):
    """A PEFT LoraConfig for the trainer, or None for full fine-tuning."""
    if lora is None:
        return None
    return lora_config(r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules)


def sample_pairs(pairs: pd.DataFrame, params: RewardFlowParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and eval pairs from the store's hash split, capped (by a seeded sample) where asked.

    Raises:
        ValueError: when either split is empty, naming what to do.
    """
    if pairs.empty:
        raise ValueError(
            f"the data store under {params.home}/store holds no pairs: pass dataset_name=FILE, or run "
            f"`rewardflow ingest FILE --home {params.home}` first"
        )
    train_df = pairs[pairs["split"] == "train"].reset_index(drop=True)
    eval_df = pairs[pairs["split"] == "eval"].reset_index(drop=True)
    if train_df.empty or eval_df.empty:
        raise ValueError(
            f"{len(pairs)} stored pairs give {len(train_df)} train and {len(eval_df)} eval pairs at "
            f"eval_fraction={params.eval_fraction}: add more pairs or change eval_fraction"
        )
    return _cap(train_df, params.max_train_pairs, params.seed), _cap(eval_df, params.max_eval_pairs, params.seed)


def _cap(df: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(df) <= limit:
        return df
    return df.sample(n=limit, random_state=seed).sort_index().reset_index(drop=True)
