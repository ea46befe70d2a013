"""rmcore.training.launch: the `accelerate launch` command, worker detection, sampler sharding, and 2 gloo processes
training the same model as 1 process with twice the per-device batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader

from rewardflow import train_cmd
from rmcore.training.launch import (
    LaunchArguments,
    accelerate_command,
    check_sharded_training,
    cpu_threads_per_process,
    is_launched_worker,
    run_distributed,
    sharding_of,
)
from rmcore.training.sampler import LengthGroupedPairSampler
from tests.tiny_models import save_tiny_bert

REPO = Path(__file__).resolve().parents[3]


def test_command_runs_the_module_under_accelerate_with_multi_gpu_and_loopback():
    cmd = accelerate_command(LaunchArguments(num_processes=2), ["rewardflow.cli", "train", "--x", "1"], use_cpu=True)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[cmd.index("--main_process_ip") + 1] == "127.0.0.1"
    assert "--multi_gpu" in cmd and "--cpu" not in cmd  # --cpu takes accelerate's one-process simple launcher
    assert cmd[cmd.index("--num_cpu_threads_per_process") + 1] == str(cpu_threads_per_process(2))
    assert cmd[-5:] == ["-m", "rewardflow.cli", "train", "--x", "1"]


def test_config_file_replaces_the_plain_ddp_flags():
    args = LaunchArguments(num_processes=8, accelerate_config_file="examples/accelerate/fsdp.yaml")
    cmd = accelerate_command(args, ["m"], use_cpu=False)
    assert cmd[cmd.index("--config_file") + 1] == "examples/accelerate/fsdp.yaml"
    assert "--multi_gpu" not in cmd and "--num_cpu_threads_per_process" not in cmd


def test_workers_are_told_from_the_launcher():
    assert is_launched_worker({"WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert not is_launched_worker({})


@pytest.mark.parametrize("bad", [{"num_processes": 0}, {"main_process_port": 70000}])
def test_bad_values_name_the_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        LaunchArguments(**bad)


def test_length_grouped_sampler_is_sharded_disjointly_and_covers_the_epoch_once():
    """accelerate deals out whole batches of the seeded sampler: rank r gets batches r, r + N, ..."""
    lengths = [(i * 7) % 23 + 1 for i in range(40)]
    shards = []
    for rank in range(2):
        sampler = LengthGroupedPairSampler(lengths, batch_size=4, window_batches=2, seed=3)
        loader = DataLoader(list(range(40)), batch_size=4, sampler=sampler)
        prepared = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False)
        shards.append([i for batch in prepared for i in batch.tolist()])
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(40))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT with a saved score head, so both runs start from identical weights."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), layers=2)


def pairs_file(path: Path) -> str:
    chosen = [f"Human: q{i} Assistant: a kind answer {i}" + " yes" * (i % 7) for i in range(32)]
    rows = [{"chosen": c, "rejected": f"Human: q{i} Assistant: no"} for i, c in enumerate(chosen)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def step_losses(output_dir: Path) -> list[float]:
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_gloo_processes_match_one_process_with_twice_the_batch(tiny_bert, tmp_path):
    """fp32, dropout off, random (not length-grouped) batches: rank r's batch of 4 is half of the 1-process
    batch of 8, and DDP averages the gradients, so per-step losses agree to float rounding (< 1e-5).
    Both runs pack (padding_free=True): the packed forward runs through DDP's forward, so the ranks'
    gradients are reduced; if it bypassed DDP each rank would train on its own and the losses would part."""
    common = ["--dataset_name", pairs_file(tmp_path / "pairs.jsonl"), "--model_name_or_path", str(tiny_bert)]
    common += ["--max_steps", "4", "--max_length", "64", "--report_to", "none", "--disable_tqdm", "true"]
    common += ["--eval_fraction", "0", "--logging_steps", "1", "--length_group_batches", "0", "--bf16", "false"]
    common += ["--use_cpu", "true", "--learning_rate", "1e-2", "--save_strategy", "steps", "--save_steps", "4"]
    two, one = tmp_path / "two", tmp_path / "one"
    argv = [*common, "--output_dir", str(two), "--per_device_train_batch_size", "4", "--num_processes", "2"]
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = [*argv, "--report_to", "mlflow"]  # the last --report_to wins: only the 2-process run logs to MLflow
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env |= {"MLFLOW_TRACKING_URI": tracking, "MLFLOW_EXPERIMENT_NAME": "launch"}
    done = subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", "train", *argv], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "padded batches" not in done.stderr and "wraps the model" not in done.stderr
    one_argv = [*common, "--output_dir", str(one), "--per_device_train_batch_size", "8"]
    assert train_cmd.main(one_argv) == 0

    losses_two, losses_one = step_losses(two), step_losses(one)
    assert len(losses_two) == len(losses_one) == 4
    assert max(abs(a - b) for a, b in zip(losses_two, losses_one, strict=True)) < 1e-5
    assert losses_one[-1] < losses_one[0] - 0.01  # it trained: a test of equal no-ops would prove nothing
    state = json.loads((two / "checkpoint-4" / "trainer_state.json").read_text())
    assert {e["padding_efficiency"] for e in state["log_history"] if "loss" in e} == {1.0}  # packed, no padding
    assert done.stdout.count("rewardflow train") == 1  # only the main process prints the summary
    assert (two / "model.safetensors").is_file()
    assert mlflow_losses(tracking, "launch") == pytest.approx(losses_two, abs=1e-6)  # one run, logged by rank 0


def mlflow_losses(tracking_uri: str, experiment: str) -> list[float]:
    """The per-step training losses of the experiment's only run (fails if the workers logged more than one)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)]


CONFIGS = REPO / "examples" / "accelerate"


@pytest.mark.parametrize(
    ("name", "kind", "sharding"),
    [("ddp.yaml", "MULTI_GPU", None), ("fsdp.yaml", "FSDP", "fsdp"), ("deepspeed_zero3.yaml", "DEEPSPEED", "zero3")],
)
def test_shipped_accelerate_configs_parse_with_accelerates_loader(name, kind, sharding):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))
    assert str(config.distributed_type).endswith(kind)
    assert config.num_processes == 8 and config.use_cpu is False
    assert sharding_of(str(CONFIGS / name)) == sharding
    assert (CONFIGS / name).read_text().startswith("# ")  # documented at the top


def test_lora_pitfalls_are_set_as_peft_advises():
    from accelerate.commands.config.config_args import load_config_from_file

    fsdp = load_config_from_file(str(CONFIGS / "fsdp.yaml")).fsdp_config
    assert fsdp["fsdp_use_orig_params"] is False and fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    zero3 = load_config_from_file(str(CONFIGS / "deepspeed_zero3.yaml")).deepspeed_config
    assert zero3["zero3_init_flag"] is True and zero3["zero3_save_16bit_model"] is True


def test_merge_on_save_is_refused_with_sharded_parameters_and_allowed_with_ddp():
    for name in ("fsdp.yaml", "deepspeed_zero3.yaml"):
        with pytest.raises(ValueError, match="merge_adapter_on_save"):
            check_sharded_training(str(CONFIGS / name), merge_adapter_on_save=True)
    check_sharded_training(str(CONFIGS / "ddp.yaml"), merge_adapter_on_save=True)
    check_sharded_training(None, merge_adapter_on_save=True)


def test_zero3_without_16bit_save_is_refused(tmp_path):
    text = (CONFIGS / "deepspeed_zero3.yaml").read_text().replace("zero3_save_16bit_model: true", "")
    (tmp_path / "z3.yaml").write_text(text)
    with pytest.raises(ValueError, match="zero3_save_16bit_model"):
        check_sharded_training(str(tmp_path / "z3.yaml"), merge_adapter_on_save=False)


def test_train_refuses_merge_with_fsdp_before_launching(tmp_path, capsys):
    argv = ["--dataset_name", "x.jsonl", "--output_dir", str(tmp_path / "o"), "--num_processes", "2"]
    argv += ["--accelerate_config_file", str(CONFIGS / "fsdp.yaml"), "--merge_adapter_on_save", "true"]
    assert train_cmd.main(argv) == 1
    assert "fsdp" in capsys.readouterr().err and not (tmp_path / "o").exists()


def world_and_rank_sum(offset: int) -> tuple[int, int]:
    """Run in every process: the world size and an all-reduced sum of ranks (needs a live process group)."""
    import torch.distributed as dist
    from accelerate import PartialState

    state = PartialState(cpu=True)
    total = torch.tensor([state.process_index])
    dist.all_reduce(total)
    return state.num_processes, int(total) + offset


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_run_distributed_runs_a_function_in_every_process_and_returns_rank_zeros_result(tmp_path):
    result = run_distributed(world_and_rank_sum, (100,), LaunchArguments(num_processes=2), tmp_path)
    assert result == (2, 101)  # 2 processes; ranks 0 + 1 all-reduced, plus the argument


def failing(_: int) -> None:
    raise RuntimeError("boom")


@pytest.mark.timeout(180)
def test_run_distributed_raises_when_a_worker_fails(tmp_path):
    with pytest.raises(RuntimeError, match="failing in 2 processes failed"):
        run_distributed(failing, (1,), LaunchArguments(num_processes=2), tmp_path)
