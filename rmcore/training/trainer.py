"""`RewardTrainer`: a `transformers.Trainer` for pairwise reward models, TRL-compatible.

The Trainer subclass only wires hooks: loss and rewards come from `rmcore.training.loss` / `rmcore.forward.rewards`,
data preparation from `rmcore.data.pairs`, reports from `rmcore.evaluation.report` / `rmcore.evaluation.plots`.
"""

from __future__ import annotations

import copy
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
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import EvalLoopOutput

from rmcore.data.pairs import is_prepared, pair_texts, prepare_split
from rmcore.data.tokenization import check_max_length, resolve_max_length
from rmcore.evaluation.metrics import compute_reward_metrics
from rmcore.evaluation.report import write_eval_report
from rmcore.evaluation.summary import evaluation_summary, headline_metrics
from rmcore.forward.packing import supports_packing
from rmcore.forward.prefix_sharing import prefix_sharing_applies
from rmcore.forward.reward_forward import padding_free_pair_rewards
from rmcore.forward.rewards import pair_rewards
from rmcore.models.loading import (
    TAGS,
    add_model_tags,
    prepare_reward_model,
    resolve_model,
    wrap_model_init,
)
from rmcore.models.tokenizer import setup_tokenizer
from rmcore.training.collator import RewardDataCollatorWithPadding
from rmcore.training.config import RewardConfig
from rmcore.training.interrupt import StopOnInterrupt
from rmcore.training.loss import pairwise_loss
from rmcore.training.sampler import LengthGroupedPairSampler, pair_lengths

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

    _tag_names = TAGS

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
        if train_dataset is None:
            raise ValueError("`train_dataset` is required: RewardTrainer trains on preference pairs")
        if args.remove_unused_columns:
            warnings.warn("remove_unused_columns=True would drop the pair columns; using False", stacklevel=2)
            args.remove_unused_columns = False
        set_seed(args.seed)  # the new score head of a model loaded by name starts the same in every run
        model = resolve_model(model, args)
        processing_class = setup_tokenizer(model, processing_class or tokenizer, args)
        self.peft_config = peft_config
        if model is not None:
            model = prepare_reward_model(model, processing_class, args, peft_config)
        if model_init is not None:
            model_init = wrap_model_init(model_init, processing_class, args, peft_config)

        length = max_length or getattr(args, "max_length", None)
        if length is not None and model is not None:
            check_max_length(length, model)
        self.max_length = resolve_max_length(length, model, processing_class)
        self.truncated_counts: dict[str, int] = {}
        self._num_proc = getattr(args, "dataset_num_proc", None)
        if train_dataset is not None:
            train_dataset = self._prepare_split(train_dataset, processing_class, "train")
        if isinstance(eval_dataset, dict):
            eval_dataset = {k: self._prepare_split(v, processing_class, f"eval_{k}") for k, v in eval_dataset.items()}
        elif eval_dataset is not None:
            eval_dataset = self._prepare_split(eval_dataset, processing_class, "eval")

        pad_multiple = getattr(args, "pad_to_multiple_of", None)
        self._tokens_real = 0
        self._tokens_computed = 0
        self._eval_order: list[int] | None = None
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator
            or RewardDataCollatorWithPadding(processing_class, pad_to_multiple_of=pad_multiple),
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
        packable = self.model is not None
        self._share_prefix = packable and prefix_sharing_applies(self.model, mode)
        self._pack = packable and getattr(args, "padding_free", False) and supports_packing(self.model)
        if self.model is not None:  # TRL's tags, on the model and so on its model card
            add_model_tags(self.model)

    # ----- set-up -------------------------------------------------------------------------------
    def _prepare_split(self, dataset: Dataset | IterableDataset, tokenizer: Any, name: str) -> Dataset:
        if is_prepared(dataset):
            return dataset
        prepared = prepare_split(dataset, tokenizer, self.max_length, self._num_proc, name)
        dataset, self.truncated_counts[name] = prepared
        return dataset

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list | None = None, metric_key_prefix: str = "eval"):
        """Evaluate; a raw text or conversational dataset, a DatasetDict or a dict of them is prepared first."""
        if isinstance(eval_dataset, dict):  # Trainer evaluates each and prefixes with its name
            eval_dataset = dict(eval_dataset)
        elif eval_dataset is not None and not isinstance(eval_dataset, str):  # a str names one of self.eval_dataset
            eval_dataset = self._prepare_split(eval_dataset, self.processing_class, metric_key_prefix)
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def predict(self, test_dataset: Any, ignore_keys: list | None = None, metric_key_prefix: str = "test"):
        test_dataset = self._prepare_split(test_dataset, self.processing_class, metric_key_prefix)
        return super().predict(test_dataset, ignore_keys, metric_key_prefix)

    def training_step(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not getattr(self.args, "activation_offloading", False):
            return super().training_step(*args, **kwargs)
        with torch.autograd.graph.save_on_cpu(pin_memory=torch.cuda.is_available()):
            return super().training_step(*args, **kwargs)

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
        """Rewards by the cheapest exact path: shared prompts (decoders), packed sequences, or a padded batch;
        the padding-free ones run through the distributed wrapper's forward, so gradients synchronise.

        Returns:
            (rewards_chosen [B], rewards_rejected [B], (real tokens, computed tokens)).
        """
        if not (self._share_prefix or self._pack):
            return *pair_rewards(model, inputs, self.processing_class.pad_token_id or 0), padded_token_counts(inputs)
        always_share = getattr(self.args, "prefix_sharing", "false") == "true"
        return padding_free_pair_rewards(model, inputs, self._share_prefix, always_share)

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
            summary = self._write_eval_report(dataloader.dataset, output.predictions, split)
            output.metrics.update({f"{split}_{k}": v for k, v in headline_metrics(summary).items()})
        return output

    def _write_eval_report(self, dataset: Dataset, predictions: np.ndarray, split: str) -> dict:
        """Print and write the eval report; returns its summary (slices, calibration, length bias)."""
        chosen, rejected = pair_texts(dataset, self.processing_class)
        summary = evaluation_summary(chosen, rejected, predictions[:, 0], predictions[:, 1])
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
            summary=summary,
        )
        return summary

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
