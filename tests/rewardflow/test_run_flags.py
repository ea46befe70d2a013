"""rewardflow/run_flags.py: every RewardFlowParams field is a flag, a given flag is passed on, a bad one is named."""

from __future__ import annotations

import dataclasses

import pytest
from datasets import Dataset
from transformers import AutoModelForSequenceClassification

from flows.params import RewardFlowParams
from flows.steps import train_job, training_config
from rewardflow.ingest_cmd import build_parser as ingest_parser
from rewardflow.run_flags import BY_FIELD, NESTED, make_parser, params_from_flags, parse_run_flags
from rmcore import RewardConfig
from rmcore.checks.data_health import HealthConfig
from rmcore.training.script_args import LoraArguments


def parse(argv: list[str]) -> RewardFlowParams:
    return parse_run_flags(make_parser(), argv)[0]


def test_every_field_of_the_flow_parameters_is_a_flag():
    flags = {option for action in make_parser()._actions for option in action.option_strings}
    for name in RewardFlowParams.model_fields:
        if name not in NESTED:
            assert f"--{name}" in flags, name
    assert {"--max_steps", "--bf16", "--use_cpu", "--use_peft", "--lora_r", "--promotion_rule"} <= flags


def test_given_flags_reach_the_parameters_and_nothing_else_does():
    argv = ["--home", "h", "--max_steps", "3", "--bf16", "false", "--use_cpu", "--trust_remote_code"]
    argv += ["--num_processes", "2", "--eval_fraction", "0.2", "--seed", "3", "--use_peft", "--lora_r", "4"]
    argv += ["--promotion_rule", "min_delta", "--promotion_min_delta", "0.01", "--max_train_pairs", "none"]
    params = parse(argv)
    # defaults are not copied in; trust_remote_code is RewardConfig's
    assert params.training == {"max_steps": 3, "bf16": False, "use_cpu": True, "trust_remote_code": True}
    assert (params.num_processes, params.eval_fraction, params.seed) == (2, 0.2, 3)
    assert (params.lora.use_peft, params.lora.lora_r, params.lora.lora_alpha) == (True, 4, 32)
    assert (params.promotion.rule, params.promotion.min_delta) == ("min_delta", 0.01)
    assert parse([]) == RewardFlowParams()


def test_the_data_and_health_settings_are_spelled_as_rewardflow_ingest_spells_them():
    argv = ["--min_good_fraction", "0.8", "--max_row_bytes", "2048", "--chunk-rows", "64", "--length_psi_hold", "0.4"]
    params = parse(argv)
    assert (params.data.min_good_fraction, params.data.max_row_bytes, params.data.chunk_rows) == (0.8, 2048, 64)
    assert params.data.hub_split == "train"  # not given: DataConfig's own default
    assert params.health.length_psi_hold == 0.4 and params.health.length_psi_warn == HealthConfig().length_psi_warn
    ingest_flags = {option for action in ingest_parser()._actions for option in action.option_strings}
    assert {"--min_good_fraction", "--max_row_bytes", "--length_psi_hold"} <= ingest_flags


def test_no_two_parameters_share_a_flag():
    """The run parser resolves clashes (its `--seed` replaces RewardConfig's); any other clash would drop a flag."""
    names = [f.name for f in dataclasses.fields(RewardConfig) if f.name != "seed"]
    names += [f.name for f in dataclasses.fields(LoraArguments)]
    names += [name for name in RewardFlowParams.model_fields if name not in NESTED]
    names += [group.prefix + f.name for group in BY_FIELD for f in dataclasses.fields(group.config)]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_base_values_sit_beneath_the_flags():
    base = {"max_train_pairs": 256, "training": {"max_steps": 32, "max_length": 192}}
    params = params_from_flags({"max_steps": 2, "learning_rate": 1e-4}, base)
    assert params.max_train_pairs == 256
    assert params.training == {"max_steps": 2, "max_length": 192, "learning_rate": 1e-4}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--eval_fraction", "0"], "--eval_fraction 0.0: Input should be greater than 0"),
        (["--output_dir", "x"], "--output_dir is set by the flow"),
        (["--learning_rate", "fast"], "--learning_rate"),
        (["--promotion_rule", "best"], "PromotionRule.rule must be one of"),
        (["--lora_dropout", "2"], "lora_dropout must be in [0, 1)"),
        (["--max_train_pairs", "0"], "--max_train_pairs 0"),
        (["--min_good_fraction", "2"], "min_good_fraction must be between 0 and 1, got 2.0"),
        (["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag 1"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


class _Loaded(Exception):
    """Raised in place of loading the weights: the test needs only the loading arguments."""


@pytest.mark.parametrize(("argv", "trusted"), [(["--trust_remote_code"], True), ([], False)])
def test_trust_remote_code_flag_reaches_the_model_loading(argv, trusted, tmp_path, monkeypatch):
    from tasks.training.train import train_reward_model

    seen = {}

    def from_pretrained(name, **kwargs):
        seen.update(kwargs)
        raise _Loaded

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", from_pretrained)
    params = parse(argv)
    config = training_config(tmp_path, params)
    assert config.trust_remote_code is trusted
    with pytest.raises(_Loaded):
        train_reward_model(Dataset.from_list([]), None, config, train_job(params))
    assert seen["trust_remote_code"] is trusted
