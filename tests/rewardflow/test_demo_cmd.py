"""rewardflow/demo_cmd.py: the demo's bounds sit beneath the `rewardflow run` flags (end to end: tests/deployments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardflow.demo_cmd import DEMO_RUN, demo_parameters, parse_args


def test_demo_bounds_apply_unless_a_flag_is_given():
    params, own = parse_args(["--max_steps", "2", "--data", "x.jsonl", "--prefect-port", "4300"])
    sent = demo_parameters(params)["params"]
    assert sent["training"] == {**DEMO_RUN["training"], "max_steps": 2}
    assert (sent["max_train_pairs"], sent["max_eval_pairs"]) == (256, 150)
    assert sent["home"] == str(Path(DEMO_RUN["home"]).resolve())
    assert (own.data, own.prefect_port, own.mlflow_port) == ("x.jsonl", 4300, 5000)
    assert set(sent) == {"home", "training", "max_train_pairs", "max_eval_pairs"}  # the rest: the flow's defaults


def test_every_run_flag_works_in_the_demo_and_bad_ones_exit_2(capsys):
    params, _ = parse_args(["--use_peft", "--lora_r", "4", "--num_processes", "2", "--eval_fraction", "0.2"])
    assert (params.lora.lora_r, params.num_processes, params.eval_fraction) == (4, 2, 0.2)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--eval_fraction", "0"])
    assert exit_info.value.code == 2 and "--eval_fraction" in capsys.readouterr().err
