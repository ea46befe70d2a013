"""Multi-process training through `accelerate launch`, the launcher teams already run for DDP/FSDP/DeepSpeed.

One protocol for every caller: `run_distributed` pickles the job (a module-level function and its
arguments) and runs it under `accelerate launch` in N processes (`rmcore.training.launch_worker`); the workers
see `WORLD_SIZE` in their environment and train. `accelerate launch --cpu` starts only one process
(its simple launcher expects mpirun), so on a CPU-only machine we launch with `--multi_gpu`, which
runs torchrun; each worker then finds no GPU and joins a gloo process group on 127.0.0.1.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

WORKER_ENV = ("WORLD_SIZE", "LOCAL_RANK")


@dataclass
class LaunchArguments:
    """How many processes train, and with which accelerate config (multi-GPU DDP, FSDP, DeepSpeed)."""

    num_processes: int = field(
        default=1,
        metadata={
            "help": "Training processes on this machine. 1 = train here; N > 1 = re-run under `accelerate launch` "
            "(one process per GPU; on a CPU-only machine N gloo processes share the cores)."
        },
    )
    accelerate_config_file: str | None = field(
        default=None,
        metadata={
            "help": "An `accelerate config` YAML (see examples/accelerate/: ddp, fsdp, deepspeed_zero3). "
            "Its num_processes is overridden by --num_processes. None = plain DDP."
        },
    )
    main_process_port: int = field(
        default=0,
        metadata={"help": "TCP port of the rank-0 rendezvous on 127.0.0.1. 0 = a free port chosen by accelerate."},
    )

    def __post_init__(self) -> None:
        if self.num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {self.num_processes}")
        if not 0 <= self.main_process_port < 65536:
            raise ValueError(f"main_process_port must be in [0, 65535], got {self.main_process_port}")


def is_launched_worker(env: Mapping[str, str] | None = None) -> bool:
    """True inside a process started by accelerate/torchrun: it must train, not launch again."""
    env = os.environ if env is None else env
    return all(name in env for name in WORKER_ENV)


def accelerate_command(args: LaunchArguments, target: Sequence[str], use_cpu: bool | None = None) -> list[str]:
    """The `accelerate launch` argv that runs `python -m <target...>` in `args.num_processes` processes.

    Args:
        args: process count, optional accelerate config file, rendezvous port.
        target: a module and its arguments, e.g. `["rewardflow.cli", "train", "--output_dir", "out"]`.
        use_cpu: no GPU here; None = ask torch.

    Returns:
        argv for `subprocess.run`, starting with this Python interpreter.
    """
    use_cpu = (not torch.cuda.is_available()) if use_cpu is None else use_cpu
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(args.num_processes)]
    cmd += ["--num_machines", "1", "--main_process_ip", "127.0.0.1", "--main_process_port", str(args.main_process_port)]
    if args.accelerate_config_file:
        cmd += ["--config_file", args.accelerate_config_file]
    else:
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if use_cpu:
        cmd += ["--num_cpu_threads_per_process", str(cpu_threads_per_process(args.num_processes))]
    return [*cmd, "-m", *target]


def cpu_threads_per_process(num_processes: int) -> int:
    """Split the cores between processes: N processes each using every core would thrash."""
    return max(1, (os.cpu_count() or 1) // num_processes)


def launch_env(use_cpu: bool, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The workers' environment: gloo pinned to loopback on CPU (its hostname lookup is flaky, as accelerate notes)."""
    out = dict(os.environ if env is None else env)
    if use_cpu:
        out.setdefault("GLOO_SOCKET_IFNAME", "lo")
        out.setdefault("ACCELERATE_USE_CPU", "true")
    return out


def sharding_of(config_file: str) -> str | None:
    """ "fsdp" or "zero3" when the accelerate config shards parameters, else None (DDP, ZeRO-1/2)."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(config_file)  # FileNotFoundError names the file
    kind = str(config.distributed_type).rsplit(".", 1)[-1]
    if kind == "FSDP":
        return "fsdp"
    if kind == "DEEPSPEED" and int((config.deepspeed_config or {}).get("zero_stage", 0)) == 3:
        return "zero3"
    return None


def check_sharded_training(config_file: str | None, merge_adapter_on_save: bool) -> None:
    """Refuse settings the libraries do not support with sharded parameters, before any process starts.

    PEFT cannot merge an adapter under FSDP, and a merge under ZeRO-3 would copy empty partitions; a
    ZeRO-3 save without `zero3_save_16bit_model` leaves the score head in shards nobody can load.
    """
    if not config_file:
        return
    sharding = sharding_of(config_file)
    if sharding and merge_adapter_on_save:
        raise ValueError(
            f"{config_file}: --merge_adapter_on_save is not supported with {sharding} (parameters are sharded); "
            "save the adapter and merge it afterwards on one device"
        )
    if sharding == "zero3":
        from accelerate.commands.config.config_args import load_config_from_file

        deepspeed = load_config_from_file(config_file).deepspeed_config or {}
        if not deepspeed.get("zero3_save_16bit_model"):
            raise ValueError(
                f"{config_file}: ZeRO-3 needs deepspeed_config.zero3_save_16bit_model: true, or the saved score "
                "head and weights stay partitioned (see examples/accelerate/deepspeed_zero3.yaml)"
            )


def relaunch(args: LaunchArguments, target: Sequence[str]) -> int:
    """Run `target` under `accelerate launch` and wait; returns its exit status (non-zero if any worker failed)."""
    use_cpu = not torch.cuda.is_available()
    completed = subprocess.run(accelerate_command(args, target, use_cpu), env=launch_env(use_cpu), check=False)
    return completed.returncode


def run_distributed(fn: Callable[..., Any], args: tuple, launch: LaunchArguments, workdir: str | Path) -> Any:
    """Call `fn(*args)` in `launch.num_processes` processes under accelerate; return rank 0's result.

    For callers that hold their inputs in memory (the train task): `fn` and `args` are pickled to
    `workdir`, so `fn` must be importable by name (a module-level function) and `args` picklable.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    job, result = workdir / "launch_job.pkl", workdir / "launch_result.pkl"
    result.unlink(missing_ok=True)
    job.write_bytes(pickle.dumps((fn, args)))
    status = relaunch(launch, ["rmcore.training.launch_worker", str(job), str(result)])
    if status != 0 or not result.is_file():
        raise RuntimeError(f"{fn.__module__}.{fn.__name__} in {launch.num_processes} processes failed (exit {status})")
    return pickle.loads(result.read_bytes())
