"""`RewardConfig`: flags, help text, and the copy/pickle round trips Prefect relies on."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from transformers import HfArgumentParser, TrainingArguments

from rmcore import RewardConfig
from rmcore.training.config import clamped_logging_steps

# Fields that rmcore declares or re-declares (new defaults), as opposed to inherited unchanged.
OURS = sorted(RewardConfig.__annotations__)

FLAGS = [
    "--max_length", "256",
    "--dataset_num_proc", "2",
    "--center_rewards_coefficient", "0.01",
    "--length_group_batches", "0",
    "--disable_dropout", "false",
    "--bf16", "false",
    "--eval_table_rows", "3",
    "--eval_plots", "false",
    "--merge_adapter_on_save", "true",
    "--learning_rate", "1e-4",
    "--report_to", "none",
]  # fmt: skip


def parse(argv: list[str]) -> RewardConfig:
    (config,) = HfArgumentParser(RewardConfig).parse_args_into_dataclasses(args=argv)
    return config


def as_flags(config: RewardConfig, names: list[str]) -> list[str]:
    values = config.to_dict()
    flags: list[str] = []
    for name in names:
        value = values[name]
        if value is not None:
            flags += [f"--{name}", str(value)]
    return flags


def test_is_training_arguments_with_trl_fields():
    config = RewardConfig(output_dir="out", report_to="none")
    assert isinstance(config, TrainingArguments)
    assert config.center_rewards_coefficient is None  # off by default, as in TRL
    assert config.max_length is None  # None = the model's own limit
    assert config.remove_unused_columns is False  # the collator needs the pair columns


def test_flags_parse_into_fields(tmp_path):
    config = parse(["--output_dir", str(tmp_path), *FLAGS])
    assert config.max_length == 256
    assert config.dataset_num_proc == 2
    assert config.center_rewards_coefficient == 0.01
    assert config.length_group_batches == 0
    assert config.disable_dropout is False
    assert config.bf16 is False
    assert config.eval_table_rows == 3
    assert config.eval_plots is False
    assert config.merge_adapter_on_save is True
    assert config.learning_rate == 1e-4


def test_flags_round_trip_through_to_dict(tmp_path):
    first = parse(["--output_dir", str(tmp_path), *FLAGS])
    second = parse(["--output_dir", str(tmp_path), *as_flags(first, OURS), "--report_to", "none"])
    assert {n: getattr(second, n) for n in OURS} == {n: getattr(first, n) for n in OURS}


def test_whole_config_round_trips_through_parse_dict(tmp_path):
    config = RewardConfig(output_dir=str(tmp_path), report_to="none", max_length=64, center_rewards_coefficient=0.01)
    (again,) = HfArgumentParser(RewardConfig).parse_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize("name", OURS)
def test_every_rmcore_field_has_help(name):
    field = next(f for f in dataclasses.fields(RewardConfig) if f.name == name)
    assert field.metadata.get("help", "").strip(), f"RewardConfig.{name} has no help text"


def test_help_reaches_the_command_line():
    text = HfArgumentParser(RewardConfig).format_help()
    assert "--center_rewards_coefficient" in text
    assert "Eisenstein" in text


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy, lambda c: pickle.loads(pickle.dumps(c))])
def test_copy_and_pickle_round_trip(tmp_path, clone):
    config = RewardConfig(
        output_dir=str(tmp_path), report_to="none", max_length=128, center_rewards_coefficient=0.01, bf16=False
    )
    again = clone(config)
    assert again is not config
    assert again.to_dict() == config.to_dict()
    assert again.center_rewards_coefficient == 0.01


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_length": 1}, "max_length"),
        ({"length_group_batches": -1}, "length_group_batches"),
        ({"center_rewards_coefficient": -0.5}, "center_rewards_coefficient"),
    ],
)
def test_bad_values_are_refused_naming_the_field(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        RewardConfig(output_dir=str(tmp_path), report_to="none", **kwargs)


def test_unknown_flag_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match="--no_such_flag"):
        parse(["--output_dir", str(tmp_path), "--no_such_flag", "1"])


def test_trl_user_fields(tmp_path):
    config = RewardConfig(
        output_dir=str(tmp_path), report_to="none", prefix_sharing=False, model_init_kwargs='{"dtype": "bfloat16"}'
    )
    assert config.prefix_sharing == "false"
    assert config.model_init_kwargs == {"dtype": "bfloat16"}
    assert config.save_strategy == "steps"  # transformers' and TRL's default
    assert config.trust_remote_code is False and config.chat_template_path is None


def test_batch_size_zero_is_refused_naming_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--per_device_train_batch_size must be at least 1, got 0"):
        RewardConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=0)
    assert not (tmp_path / "out").exists()


def test_logging_steps_clamp_to_a_short_run():
    """A run with fewer than two log entries at logging_steps logs every max(1, max_steps // 10) steps."""
    assert RewardConfig(output_dir="x", max_steps=5, report_to="none").logging_steps == 1
    assert RewardConfig(output_dir="x", max_steps=15, report_to="none").logging_steps == 1
    assert RewardConfig(output_dir="x", max_steps=50, logging_steps=40, report_to="none").logging_steps == 5
    assert RewardConfig(output_dir="x", max_steps=20, report_to="none").logging_steps == 10  # two entries
    assert RewardConfig(output_dir="x", report_to="none").logging_steps == 10  # total unknown yet
    assert RewardConfig(output_dir="x", max_steps=5, logging_steps=0.5, report_to="none").logging_steps == 0.5
    assert clamped_logging_steps(10, 3) == 1 and clamped_logging_steps(500, 1000) == 500
