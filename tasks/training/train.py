"""Train task: a thin shell over `rmcore.RewardTrainer` that turns pairs into a saved reward model.

The output folder has TRL's layout: the final model (config, safetensors, tokenizer) in the folder itself,
checkpoints in `checkpoint-N` beside it, and the pipeline's own files next to them (`metrics.json`, written
last, says the model is whole; `work.json` names the inputs). Reports and caches go in subfolders.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from datasets import Dataset
from filelock import FileLock
from prefect import task
from prefect.cache_policies import NO_CACHE
from transformers import AutoConfig, TrainerCallback, set_seed

from rmcore import RewardConfig, RewardTrainer
from rmcore.data.tokenization import check_max_length, resolve_max_length
from rmcore.models.loading import (
    WEIGHT_FILES,
    default_model_path,
    load_reward_backbone,
    load_tokenizer,
    parse_model_init_kwargs,
)
from rmcore.models.tokenizer import setup_tokenizer, tokenizer_as_trained
from rmcore.training.launch import LaunchArguments, check_sharded_training, is_launched_worker, run_distributed
from tasks.atomic import write_atomic
from tasks.training.checkpoints import (
    CompleteCheckpointCallback,
    checkpoint_dirs,
    discard_incomplete,
    newest_complete_checkpoint,
)

logger = logging.getLogger(__name__)

# The pipeline's files beside the model in the output folder; not part of the model.
RUN_FILES = ("metrics.json", "work.json", ".train.lock")


@dataclass
class TrainResult:
    """What a training run leaves behind, as paths and numbers (cheap to pass between tasks)."""

    model_dir: str  # the folder holding the final model: `output_dir` itself (TRL's layout)
    output_dir: str
    train_metrics: dict[str, float] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)


def build_reward_config(output_dir: Path, overrides: dict[str, Any]) -> RewardConfig:
    """A `RewardConfig` for the pipeline: our defaults, then the caller's overrides (unknown keys fail)."""
    defaults: dict[str, Any] = {
        "output_dir": str(output_dir),
        "eval_strategy": "no",
        "report_to": "none",
        # Checkpoints make a killed or retried run resume where it stopped (see tasks.training.checkpoints);
        # two are kept so a kill between rotating and marking the newest still leaves a complete one.
        "save_strategy": "steps",
        "save_steps": 50,
        "save_total_limit": 2,
        # Worker processes would each draw their own random state; resume is exact only without them.
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
    }
    known = RewardConfig.__dataclass_fields__
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown RewardConfig field(s) {unknown}; see `rewardflow train --help` for the flags")
    return RewardConfig(**{**defaults, **overrides})


def training_max_length(model_name_or_path: str, config: RewardConfig) -> int:
    """The token limit training will use: the config's, else the model's own (read from its config).

    It reads the model's tokenizer and config, so every model-side mistake (a missing folder, a folder
    without a tokenizer, a bad `model_init_kwargs`, `chat_template_path` or `max_length`) is named here,
    before any pair is tokenized or any file written.
    """
    tokenizer = setup_tokenizer(model_name_or_path, None, config)
    parse_model_init_kwargs(config.model_init_kwargs, config.trust_remote_code)
    model = SimpleNamespace(
        config=AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=config.trust_remote_code)
    )
    if config.max_length:
        check_max_length(config.max_length, model)
    return resolve_max_length(config.max_length, model, tokenizer)


def finished_result(output_dir: str | Path) -> TrainResult | None:
    """The result of an earlier run that finished in `output_dir` (its `metrics.json` is written last)."""
    out = Path(output_dir)
    try:
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not any((out / name).is_file() for name in WEIGHT_FILES):
        return None
    artifacts = [str(p) for p in (out / "eval_logit_table.json", out / "eval_rewards.png") if p.exists()]
    return TrainResult(str(out), str(out), metrics.get("train", {}), metrics.get("eval", {}), artifacts)


def resume_point(output_dir: str | Path) -> str | None:
    """The newest complete checkpoint to resume from, after deleting half-written ones (logged)."""
    for folder in discard_incomplete(output_dir):
        logger.warning("%s: incomplete checkpoint (killed while saving?) deleted, not loaded", folder)
    checkpoint = newest_complete_checkpoint(output_dir)
    if checkpoint is not None:
        logger.info("resuming from %s", checkpoint)
    return str(checkpoint) if checkpoint else None


def drop_pickled_args(model_dir: Path, config: RewardConfig) -> None:
    """Replace the Trainer's pickled `training_args.bin` by JSON: the model folder is registered and
    shared, and loading a pickle runs code. `to_json_string` masks `*_token` values."""
    (model_dir / "training_args.bin").unlink(missing_ok=True)
    (model_dir / "training_args.json").write_text(config.to_json_string())


def disk_full_error(err: OSError, output_dir: str | Path) -> OSError:
    """ENOSPC with what survives: the newest complete checkpoint is intact and a rerun resumes from it."""
    kept = newest_complete_checkpoint(output_dir)
    where = f"the newest complete checkpoint {kept} is intact and" if kept else "no checkpoint was complete yet;"
    return OSError(errno.ENOSPC, f"no space left on device while writing under {output_dir}: {where} a rerun resumes")


@dataclass
class TrainJob:
    """How a training runs beside its config: the base model, LoRA, processes, whether to resume."""

    model_name_or_path: str | None = None
    peft_config: Any = None
    resume: bool = True
    launch: LaunchArguments = field(default_factory=LaunchArguments)
    work_key: str | None = None  # names the inputs; a folder holding other work is refused, never mixed
    # Reporters of progress and curves (`ProgressLogCallback`, `MlflowSeriesCallback`); picklable, as
    # a distributed run sends them to its processes.
    callbacks: list[TrainerCallback] = field(default_factory=list)


def claim_output_dir(out: Path, work_key: str | None) -> None:
    """Record which work `out` holds; refuse to resume or reuse a folder that holds other work."""
    marker = out / "work.json"
    if work_key is None:
        return
    try:
        held = json.loads(marker.read_text()).get("work_key")
    except (OSError, ValueError):
        held = None
    if held is not None and held != work_key and (checkpoint_dirs(out) or finished_result(out)):
        raise ValueError(
            f"{out} holds training of other inputs (data, model or flags changed since): resuming there would mix "
            "two runs; choose another --output_dir or delete it"
        )
    write_atomic(marker, json.dumps({"work_key": work_key}))


def train_reward_model(
    train_dataset: Dataset, eval_dataset: Dataset | None, config: RewardConfig, job: TrainJob | None = None
) -> TrainResult:
    """Train, evaluate once, and save model + tokenizer (safetensors) in `config.output_dir`, as TRL does.

    With `job.launch.num_processes` > 1 the training runs in that many processes under accelerate (DDP;
    gloo on a CPU-only machine; FSDP/ZeRO with an accelerate config file), and rank 0's result comes back.

    With `job.resume`, a run that already finished in `config.output_dir` is returned as is, and one that
    was killed resumes from its newest complete checkpoint (or from `config.resume_from_checkpoint` when
    set); the caller keys `output_dir` by its inputs so that only the same work is resumed.
    """
    job = job or TrainJob()
    out = Path(config.output_dir)
    check_sharded_training(job.launch.accelerate_config_file, config.merge_adapter_on_save)
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".train.lock")):  # two runs of the same work never write one folder at once
        claim_output_dir(out, job.work_key)
        if job.resume and (done := finished_result(out)) is not None:
            logger.info("%s: training already finished for these inputs; reusing it", out)
            return done
        checkpoint = config.resume_from_checkpoint or (resume_point(out) if job.resume else None)
        args = (train_dataset, eval_dataset, config, job, checkpoint)
        try:
            if job.launch.num_processes > 1 and not is_launched_worker():
                return run_distributed(_train, args, job.launch, out)
            return _train(*args)
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise disk_full_error(err, out) from err
            raise


def _train(
    train_dataset: Dataset, eval_dataset: Dataset | None, config: RewardConfig, job: TrainJob, checkpoint: str | None
) -> TrainResult:
    if is_launched_worker():  # pickled in the parent, the config caches that process's single-process state
        config = dataclasses.replace(config)
    path = job.model_name_or_path or default_model_path()
    set_seed(config.seed)  # the new score head is initialised here, before the Trainer seeds anything
    tokenizer = load_tokenizer(path, config.trust_remote_code)
    model = load_reward_backbone(path, config.model_init_kwargs, config.trust_remote_code)
    trainer = RewardTrainer(
        model=model,
        args=config,
        processing_class=tokenizer,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=job.peft_config,
        callbacks=[CompleteCheckpointCallback(), *job.callbacks],
    )
    output = trainer.train(resume_from_checkpoint=checkpoint)
    train_metrics = {**output.metrics, "global_step": output.global_step}
    eval_metrics = dict(trainer.evaluate()) if eval_dataset is not None and len(eval_dataset) else {}
    out = Path(config.output_dir)
    trainer.save_model(str(out))  # on every rank: FSDP and ZeRO-3 gather the weights here
    artifacts = [str(p) for p in (out / "eval_logit_table.json", out / "eval_rewards.png") if p.exists()]
    if trainer.is_world_process_zero():
        drop_pickled_args(out, config)
        tokenizer_as_trained(trainer.processing_class, trainer.max_length).save_pretrained(str(out))
        # Written last and atomically: its presence means the model files above are whole.
        write_atomic(out / "metrics.json", json.dumps({"train": train_metrics, "eval": eval_metrics}, indent=2))
    return TrainResult(str(out), str(out), train_metrics, eval_metrics, artifacts)


@task(name="train", cache_policy=NO_CACHE)
def train(train_dataset: Dataset, eval_dataset: Dataset | None, config: RewardConfig, job: TrainJob) -> TrainResult:
    """Train a reward model on tokenized pairs; a retry resumes from the newest complete checkpoint."""
    return train_reward_model(train_dataset, eval_dataset, config, job)
