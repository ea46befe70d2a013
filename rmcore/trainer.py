"""`RewardTrainer`: a `transformers.Trainer` for pairwise reward models, TRL-compatible.

The Trainer subclass only wires hooks: loss and rewards come from `rmcore.loss` / `rmcore.rewards`,
data preparation from `rmcore.data`, reports from `rmcore.report` / `rmcore.plots`.
"""

from __future__ import annotations

import copy
import inspect
import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from datasets import Dataset, IterableDataset
from peft import PeftConfig, PeftModel
from torch import nn
from torch.utils.data import Sampler
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from transformers.trainer_utils import EvalLoopOutput

from rmcore.collator import RewardDataCollatorWithPadding
from rmcore.config import RewardConfig
from rmcore.data import pair_texts, prepare_pairs
from rmcore.interrupt import StopOnInterrupt
from rmcore.loss import pairwise_loss
from rmcore.metrics import compute_reward_metrics
from rmcore.models import apply_peft, check_reward_model, disable_dropout, ensure_pad_token
from rmcore.packing import packed_pair_rewards, supports_packing
from rmcore.prefix_sharing import prefix_sharing_applies, shared_prefix_pair_rewards
from rmcore.report import write_eval_report
from rmcore.rewards import is_distributed_wrapper, pair_rewards
from rmcore.sampler import LengthGroupedPairSampler, pair_lengths
from rmcore.tokenization import model_max_length

logger = logging.getLogger(__name__)


def padded_token_counts(inputs: dict[str, Any]) -> tuple[int, int]:
    """(real, computed) tokens of a padded pair batch: chosen and rejected share one padded length."""
    masks = (inputs["attention_mask_chosen"], inputs["attention_mask_rejected"])
    return int(sum(m.sum() for m in masks)), 2 * max(m.shape[1] for m in masks) * masks[0].shape[0]


class RewardTrainer(Trainer):
    """Train a reward model on preference pairs (see the module docstring and `RewardConfig`).

    Accepts the arguments of TRL's `RewardTrainer`: `tokenizer=` or `processing_class=`, a
    `peft_config`, `max_length`, and datasets of either the four token columns or `chosen`/`rejected`
    text (optional `prompt`, `margin`).
    """

    def __init__(
        self,
        model: nn.Module | str | None = None,
        args: TrainingArguments | None = None,
        data_collator: Callable | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        tokenizer: Any = None,
        model_init: Callable[..., nn.Module] | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        preprocess_logits_for_metrics: Callable | None = None,
        max_length: int | None = None,
        peft_config: PeftConfig | None = None,
        processing_class: Any = None,
    ) -> None:
        args = args if args is not None else RewardConfig(output_dir="reward_model")
        if isinstance(model, str):
            processing_class = processing_class or tokenizer or AutoTokenizer.from_pretrained(model)
            model = AutoModelForSequenceClassification.from_pretrained(model, num_labels=1)
        processing_class = processing_class if processing_class is not None else tokenizer
        if processing_class is None:
            raise ValueError("RewardTrainer needs the tokenizer: pass tokenizer= or processing_class=")
        if args.remove_unused_columns:
            logger.warning("remove_unused_columns=True would drop the pair columns; using False")
            args.remove_unused_columns = False
        self.peft_config = peft_config
        if model is not None:
            model = self._prepare_model(model, processing_class, args)
        if model_init is not None:
            model_init = self._wrap_model_init(model_init, processing_class, args)

        length = max_length or getattr(args, "max_length", None)
        self.max_length = length or model_max_length(model, processing_class)
        num_proc = getattr(args, "dataset_num_proc", None)
        self.truncated_counts: dict[str, int] = {}
        if train_dataset is not None:
            train_dataset = self._prepare_split(train_dataset, processing_class, num_proc, "train")
        if isinstance(eval_dataset, dict):
            eval_dataset = {
                k: self._prepare_split(v, processing_class, num_proc, f"eval_{k}") for k, v in eval_dataset.items()
            }
        elif eval_dataset is not None:
            eval_dataset = self._prepare_split(eval_dataset, processing_class, num_proc, "eval")

        self._tokens_real = 0
        self._tokens_computed = 0
        self._eval_order: list[int] | None = None
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator or RewardDataCollatorWithPadding(processing_class),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            model_init=model_init,
            compute_metrics=compute_metrics or compute_reward_metrics,
            callbacks=[*(callbacks or []), StopOnInterrupt()],  # Ctrl-C: save a complete checkpoint, stop
            optimizers=optimizers,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        mode = getattr(args, "prefix_sharing", "false")
        self._share_prefix = self.model is not None and prefix_sharing_applies(self.model, mode)
        self._pack = getattr(args, "padding_free", False) and self.model is not None and supports_packing(self.model)

    # ----- set-up -------------------------------------------------------------------------------
    def _prepare_model(self, model: nn.Module, tokenizer: Any, args: TrainingArguments) -> nn.Module:
        check_reward_model(model)
        ensure_pad_token(model, tokenizer)
        if getattr(args, "disable_dropout", True):
            disable_dropout(model)
        if self.peft_config is not None and not isinstance(model, PeftModel):
            model = apply_peft(model, self.peft_config)
        return model

    def _wrap_model_init(self, model_init: Callable, tokenizer: Any, args: TrainingArguments) -> Callable:
        takes_trial = len(inspect.signature(model_init).parameters) == 1

        def prepared_model_init(trial=None):
            model = model_init(trial) if takes_trial else model_init()
            return self._prepare_model(model, tokenizer, args)

        return prepared_model_init

    def _prepare_split(self, dataset: Dataset, tokenizer: Any, num_proc: int | None, name: str) -> Dataset:
        if isinstance(dataset, IterableDataset):  # a stream arrives tokenized (e.g. tasks.data.store.stream_store)
            self.truncated_counts[name] = 0
            return dataset
        dataset = prepare_pairs(dataset, tokenizer, self.max_length, num_proc, name)
        count = int(sum(dataset["truncated"]))
        self.truncated_counts[name] = count
        if count:
            logger.warning(
                "%s: %d of %d pairs are longer than max_length=%d and were truncated from the left "
                "(the final replies are kept)",
                name,
                count,
                len(dataset),
                self.max_length,
            )
        return dataset

    # ----- batches --------------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Sampler | None:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        window = getattr(self.args, "length_group_batches", 0)
        if window <= 0 or dataset is None or "input_ids_chosen" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)
        return LengthGroupedPairSampler(
            pair_lengths(dataset), self.args.per_device_train_batch_size, window, self.args.seed
        )

    def _get_eval_sampler(self, eval_dataset: Dataset) -> Sampler | None:
        """Longest first, so eval batches pad little; `evaluation_loop` restores the dataset order."""
        if self.args.world_size > 1 or "input_ids_chosen" not in getattr(eval_dataset, "column_names", []):
            self._eval_order = None
            return super()._get_eval_sampler(eval_dataset)
        lengths = pair_lengths(eval_dataset)
        self._eval_order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        return self._eval_order

    # ----- loss -----------------------------------------------------------------------------------
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # Our reward paths call the backbone and head directly, past accelerate's autocast wrapper of
        # model.forward, so mixed precision is entered here (a no-op when it is off).
        with self.accelerator.autocast():
            rewards_chosen, rewards_rejected, tokens = self._pair_rewards(model, inputs)
        loss = pairwise_loss(
            rewards_chosen,
            rewards_rejected,
            inputs.get("margin"),
            getattr(self.args, "center_rewards_coefficient", None),
        )
        if model.training:
            self._tokens_real += tokens[0]
            self._tokens_computed += tokens[1]
        if return_outputs:
            return loss, {"rewards_chosen": rewards_chosen, "rewards_rejected": rewards_rejected}
        return loss

    def _pair_rewards(self, model: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """Rewards by the cheapest exact path: shared prompt (decoders), packed sequences, or a padded batch.

        Returns:
            (rewards_chosen [B], rewards_rejected [B], (real tokens, padded tokens of the unshared batch)).
        """
        pad_id = self.processing_class.pad_token_id or 0
        tokens = padded_token_counts(inputs)
        if (self._share_prefix or self._pack) and is_distributed_wrapper(model):
            warnings.warn(  # shown once: packing and prefix sharing call the backbone, past its gradient sync
                f"{type(model).__name__} wraps the model: padded batches through its forward", stacklevel=2
            )
            return *pair_rewards(model, inputs, pad_id), tokens
        if self._share_prefix:
            shared = shared_prefix_pair_rewards(model, inputs, pad_id)
            if shared is not None:
                return *shared, tokens
        if self._pack:
            rewards_chosen, rewards_rejected, packed = packed_pair_rewards(model, inputs)
            return rewards_chosen, rewards_rejected, (packed.real_tokens, packed.computed_tokens)
        return *pair_rewards(model, inputs, pad_id), tokens

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        loss = loss.detach()
        if prediction_loss_only:
            return loss, None, None
        logits = torch.stack([outputs["rewards_chosen"], outputs["rewards_rejected"]], dim=1).float()
        return loss, logits, torch.zeros(logits.shape[0], device=logits.device)

    # ----- reporting ------------------------------------------------------------------------------
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._tokens_computed and "loss" in logs:
            logs["padding_efficiency"] = round(self._tokens_real / self._tokens_computed, 4)
            logs["train_truncated"] = self.truncated_counts.get("train", 0)
            self._tokens_real = self._tokens_computed = 0
        super().log(logs, start_time)

    def train(self, *args: Any, **kwargs: Any):
        output = super().train(*args, **kwargs)
        output.metrics["train_truncated"] = self.truncated_counts.get("train", 0)
        return output

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        order = self._eval_order
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        predictions = output.predictions
        if order is not None and predictions is not None and len(order) == len(predictions):
            restored = np.empty_like(predictions)
            restored[order] = predictions
            output = output._replace(predictions=restored)
        split = metric_key_prefix
        output.metrics[f"{split}_truncated"] = self.truncated_counts.get(split, 0)
        if output.predictions is not None and self.is_world_process_zero():
            self._write_eval_report(dataloader.dataset, output.predictions, split)
        return output

    def _write_eval_report(self, dataset: Dataset, predictions: np.ndarray, split: str) -> None:
        chosen, rejected = pair_texts(dataset, self.processing_class)
        write_eval_report(
            chosen,
            rejected,
            predictions[:, 0].tolist(),
            predictions[:, 1].tolist(),
            self.args.output_dir,
            split,
            title=f"{split} rewards at step {self.state.global_step}",
            table_rows=getattr(self.args, "eval_table_rows", 0),
            seed=self.args.seed,
            plots=getattr(self.args, "eval_plots", False),
        )

    # ----- saving ---------------------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save; with `merge_adapter_on_save`, the final save merges LoRA into plain weights."""
        merge = getattr(self.args, "merge_adapter_on_save", False)
        if _internal_call or not merge or not isinstance(self.model, PeftModel):
            super().save_model(output_dir, _internal_call)
            return
        output_dir = output_dir or self.args.output_dir
        if self.is_world_process_zero():
            merged = copy.deepcopy(self.model).merge_and_unload()
            merged.save_pretrained(output_dir)
            self.processing_class.save_pretrained(output_dir)
