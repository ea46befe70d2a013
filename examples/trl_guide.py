"""The code of TRL's reward-modeling guide, run on rmcore: only the `trl` import line differs.

The guide (huggingface/trl `docs/source/reward_trainer.mdx`) trains with LoRA (`peft_config`), adds a
`margin` column with `dataset.map(add_margin)` and centres rewards with `center_rewards_coefficient=0.01`.
Its "..." gaps are filled with offline stand-ins, marked below: all-MiniLM-L6-v2 instead of "gpt2",
the shared hh-rlhf pairs instead of a hub dataset, and made-up ratings so that `add_margin` has its
`score_chosen` / `score_rejected` columns. The model is loaded with `num_labels=1`: the guide's bare
`from_pretrained("gpt2")` builds a two-label classifier, which TRL trains silently and rmcore refuses.

    python examples/trl_guide.py --max_steps 10 --pairs 64
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from datasets import load_dataset
from peft import LoraConfig, TaskType
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rmcore import RewardConfig, RewardTrainer  # the guide: from trl import RewardTrainer, RewardConfig
from rmcore.models.loading import default_model_path

SHARED_PAIRS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("RM_GUIDE_DATA", str(SHARED_PAIRS)), help="pairs file")
    parser.add_argument("--model", default=None, help="model folder; default all-MiniLM-L6-v2 (offline)")
    parser.add_argument("--pairs", type=int, default=64, help="how many pairs to train on")
    parser.add_argument(
        "--max_steps", type=int, default=int(os.environ.get("RM_GUIDE_MAX_STEPS", "10")), help="training steps"
    )
    parser.add_argument("--output_dir", default="outputs/trl_guide", help="where the trainer writes")
    return parser.parse_args(argv)


def rated_pairs(path: str, n: int):
    """Offline stand-in for a rated preference dataset: hh-rlhf pairs with made-up 1-10 ratings."""
    dataset = load_dataset("json", data_files=path, split="train").select(range(n))
    return dataset.map(lambda row, i: {"score_chosen": 8.0, "score_rejected": 7.0 if i % 2 else 5.0}, with_indices=True)


def main(argv: list[str] | None = None) -> RewardTrainer:
    options = parse_args(argv)
    model_name = options.model or default_model_path()  # stand-in for "gpt2"
    dataset = rated_pairs(options.data, options.pairs)  # stand-in for the guide's dataset

    # ---- the guide's code, unchanged but for the import -------------------------------------------
    model = AutoModelForSequenceClassification.from_pretrained(model_name, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    peft_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        inference_mode=False,
        r=8,
        lora_alpha=32,
        lora_dropout=0.1,
    )

    def add_margin(row):
        # Assume you have a score_chosen and score_rejected columns that you want to use to compute the margin
        return {"margin": row["score_chosen"] - row["score_rejected"]}

    dataset = dataset.map(add_margin)

    training_args = RewardConfig(
        center_rewards_coefficient=0.01,
        output_dir=options.output_dir,
        max_steps=options.max_steps,
        per_device_train_batch_size=8,
        learning_rate=1e-4,
        max_length=256,
        logging_steps=1,
        report_to="none",
    )

    trainer = RewardTrainer(
        model=model,
        args=training_args,
        tokenizer=tokenizer,
        train_dataset=dataset,
        peft_config=peft_config,
    )

    trainer.train()
    # ------------------------------------------------------------------------------------------------
    return trainer


if __name__ == "__main__":
    main()
