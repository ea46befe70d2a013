"""Train a reward model from the shell, in the shape of TRL's `examples/scripts/reward_modeling.py`.

Full training (offline, MiniLM, the shared hh-rlhf pairs):

    python examples/reward_modeling.py \\
        --dataset_name ../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz \\
        --output_dir outputs/minilm-reward --per_device_train_batch_size 16 \\
        --num_train_epochs 1 --learning_rate 1e-4 --eval_strategy steps --eval_steps 50 --max_length 512

LoRA:

    python examples/reward_modeling.py --dataset_name ... --output_dir outputs/minilm-reward-lora \\
        --use_peft --lora_r 32 --lora_alpha 16 --learning_rate 1e-4

`rewardflow train` takes the same flags and prints a summary table.
"""

from __future__ import annotations

from transformers import HfArgumentParser

from rmcore import RewardConfig, RewardTrainer
from rmcore.data.pairs import load_pairs
from rmcore.models.loading import default_model_path, load_reward_backbone, load_tokenizer
from rmcore.training.script_args import LoraArguments, ScriptArguments, build_peft_config


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = HfArgumentParser((ScriptArguments, RewardConfig, LoraArguments))
    script_args, training_args, lora_args = parser.parse_args_into_dataclasses(args=argv)

    ################
    # Model & Tokenizer
    ################
    model_name = script_args.model_name_or_path or default_model_path()
    tokenizer = load_tokenizer(model_name, training_args.trust_remote_code)
    model = load_reward_backbone(model_name, training_args.model_init_kwargs, training_args.trust_remote_code)

    ##############
    # Load dataset
    ##############
    dataset = load_pairs(script_args.dataset_name, split=script_args.dataset_train_split)
    if script_args.dataset_test_split:
        train_dataset = dataset
        eval_dataset = load_pairs(script_args.dataset_name, split=script_args.dataset_test_split)
    elif script_args.eval_fraction > 0:
        splits = dataset.train_test_split(test_size=script_args.eval_fraction, seed=training_args.seed)
        train_dataset, eval_dataset = splits["train"], splits["test"]
    else:
        train_dataset, eval_dataset = dataset, None

    ##########
    # Training
    ##########
    trainer = RewardTrainer(
        model=model,
        processing_class=tokenizer,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=build_peft_config(lora_args),
    )
    trainer.train()

    ############################
    # Save model and evaluate
    ############################
    trainer.save_model(training_args.output_dir)
    metrics: dict[str, float] = {}
    if eval_dataset is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    return metrics


if __name__ == "__main__":
    main()
