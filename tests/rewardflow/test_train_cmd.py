"""`rewardflow train` end to end on a few pairs with the offline MiniLM, and its refusals of bad input."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rewardflow import cli, evaluate_cmd, train_cmd
from rmcore import load_reward_model, score_texts
from tests.tiny_models import save_tiny_remote_bert

PAIRS = [
    {"chosen": "Human: hi Assistant: Hello! How can I help?", "rejected": "Human: hi Assistant: Go away."},
    {"chosen": "Human: 2+2? Assistant: 4.", "rejected": "Human: 2+2? Assistant: 5."},
    {"chosen": "Human: thanks Assistant: You're welcome.", "rejected": "Human: thanks Assistant: Whatever."},
    {
        "chosen": "Human: a joke? Assistant: Why did the cat sit on the mat?",
        "rejected": "Human: a joke? Assistant: No.",
    },
    {"chosen": "Human: help me Assistant: Sure, with what?", "rejected": "Human: help me Assistant: I won't."},
    {"chosen": "Human: capital of France? Assistant: Paris.", "rejected": "Human: capital of France? Assistant: Rome."},
]
QUICK = ["--max_steps", "2", "--per_device_train_batch_size", "2", "--max_length", "64", "--report_to", "none"]
QUICK += ["--disable_tqdm", "true", "--eval_fraction", "0.34", "--eval_table_rows", "2", "--logging_steps", "1"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """MiniLM on a few pairs gains nothing from threads; on a shared 2-core machine they spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_pairs(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_trains_and_saves_model_and_tokenizer_in_the_output_dir_as_trl_does(tmp_path, capsys):
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "rm"
    assert train_cmd.main(["--dataset_name", data, "--output_dir", str(out), *QUICK]) == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json"):
        assert (out / name).is_file(), name
    for name in ("eval_scores.parquet", "eval_logit_table.json"):
        assert (out / "eval" / name).is_file(), name
    assert not (out / "training_args.bin").exists(), "no pickle in a model folder"
    model, tokenizer = load_reward_model(out)
    assert len(score_texts(model, tokenizer, [PAIRS[0]["chosen"]])) == 1
    plain = AutoModelForSequenceClassification.from_pretrained(out)  # TRL's habit: the folder is the model
    assert plain.config.num_labels == 1
    printed = capsys.readouterr().out
    assert "rewardflow train" in printed and "eval accuracy" in printed and "saved to" in printed


def test_the_saved_files_say_how_training_tokenized(tmp_path):
    """Left truncation at the training max_length, the chat template conversations were rendered with,
    and OpenRLHF's top-level mean/std beside `reward_stats`."""
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "rm"
    assert train_cmd.main(["--dataset_name", data, "--output_dir", str(out), *QUICK]) == 0
    saved = AutoTokenizer.from_pretrained(out)
    assert (saved.truncation_side, saved.model_max_length) == ("left", 64)
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]
    assert saved.apply_chat_template(messages, tokenize=False) == "[CLS]\n\nHuman: hi\n\nAssistant: Hello![SEP]"
    config = json.loads((out / "config.json").read_text())
    assert config["mean"] == config["reward_stats"]["mean"] and config["std"] == config["reward_stats"]["std"]


def test_evaluate_on_a_folder_without_a_final_model_says_where_one_is(tmp_path, capsys):
    """A run stopped before its final save leaves checkpoints only: the error names the newest one."""
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "run"
    assert train_cmd.main(checkpoint_argv(data, out)) == 0
    for name in ("config.json", "model.safetensors"):
        (out / name).unlink()
    assert evaluate_cmd.main(["--model", str(out), "--data", data, "--json"]) == 1
    assert f"no config.json in {out}; a model is in {out / 'checkpoint-2'}" in capsys.readouterr().err


def test_a_base_with_its_own_code_is_trained_and_evaluated_with_trust_remote_code(tmp_path):
    base, data = save_tiny_remote_bert(tmp_path / "remote"), write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    argv = ["--dataset_name", data, "--model_name_or_path", str(base), *QUICK, "--trust_remote_code"]
    assert train_cmd.main([*argv, "--output_dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "eval" / "eval_scores.parquet").is_file()
    model, _ = load_reward_model(tmp_path / "out", trust_remote_code=True)
    assert type(model).__name__ == "TinyRemoteForSequenceClassification"


def test_use_peft_saves_an_adapter_that_loads_back(tmp_path):
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "lora"
    argv = [
        "--dataset_name",
        data,
        "--output_dir",
        str(out),
        *QUICK,
        "--use_peft",
        "--lora_r",
        "4",
        "--lora_alpha",
        "8",
    ]
    assert train_cmd.main(argv) == 0
    assert json.loads((out / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"
    model, tokenizer = load_reward_model(out)
    assert type(model).__name__.startswith("Peft")
    assert len(score_texts(model, tokenizer, ["Human: hi Assistant: hello"])) == 1


def test_unknown_flag_is_named_and_nothing_is_written(tmp_path, capsys):
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--dataset_name", "x.jsonl", "--output_dir", str(out), "--lora_rank", "8"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --lora_rank 8" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output_dir", "unused"], "--dataset_name"),
        (["--dataset_name", "x.jsonl"], "--output_dir"),
        (["--dataset_name", "x.jsonl", "--output_dir", "unused", "--eval_fraction", "1.5"], "eval_fraction"),
        (
            ["--dataset_name", "x.jsonl", "--output_dir", "unused", "--per_device_train_batch_size", "0"],
            "--per_device_train_batch_size must be at least 1, got 0",
        ),
        (["--dataset_name", "x.jsonl", "--output_dir", "unused", "--learning_rate", "fast"], "--learning_rate"),
    ],
)
def test_missing_or_bad_flags_exit_with_argparse_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cmd.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"chosen": "a", "answer": "b"}] * 4, "pairs.jsonl:1: required_fields: `rejected` is missing or null"),
        ([{**row, "margin": "big"} for row in PAIRS], "pairs.jsonl:1: margin_finite: `margin` must be a finite number"),
        ([], "no good preference pair"),
        ([{"chosen": "same", "rejected": "same"}, *PAIRS], "pairs.jsonl:1: chosen_ne_rejected"),
        ([*PAIRS, PAIRS[0]], "pairs.jsonl:7: duplicate"),
    ],
    ids=["missing-column", "non-numeric-margin", "empty", "chosen-is-rejected", "duplicate"],
)
def test_bad_data_is_named_and_nothing_is_written(tmp_path, capsys, rows, message):
    data, out = write_pairs(tmp_path / "pairs.jsonl", rows), tmp_path / "model"
    assert train_cmd.main(["--dataset_name", data, "--output_dir", str(out), *QUICK]) == 1
    err = capsys.readouterr().err
    assert message in err and "pairs.jsonl" in err
    assert not out.exists()


def test_missing_data_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert train_cmd.main(["--dataset_name", str(missing), "--output_dir", str(tmp_path / "m"), *QUICK]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def checkpoint_argv(data: str, out) -> list[str]:
    return ["--dataset_name", data, "--output_dir", str(out), *QUICK, "--save_strategy", "steps", "--save_steps", "1"]


def test_rerun_resumes_from_the_newest_complete_checkpoint(tmp_path):
    """Inject: a run killed after checkpoint-1 (later checkpoints and the final files gone). Check the rerun
    resumes there (a fresh start would write checkpoint-1 again) and finishes."""
    import shutil

    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "run"
    assert train_cmd.main(checkpoint_argv(data, out)) == 0
    for gone in ("checkpoint-2", "model.safetensors", "config.json", "metrics.json"):
        shutil.rmtree(out / gone) if (out / gone).is_dir() else (out / gone).unlink()
    stamp = (out / "checkpoint-1" / "optimizer.pt").stat().st_mtime_ns
    assert train_cmd.main(checkpoint_argv(data, out)) == 0
    assert (out / "checkpoint-1" / "optimizer.pt").stat().st_mtime_ns == stamp
    assert json.loads((out / "metrics.json").read_text())["train"]["global_step"] == 2
    assert (out / "model.safetensors").is_file() and (out / "checkpoint-2").is_dir()


def test_resume_from_checkpoint_flag_is_honoured(tmp_path):
    """The flag names checkpoint-1 while checkpoint-2 is the newest: step 2 is trained (and saved) again."""
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "run"
    assert train_cmd.main(checkpoint_argv(data, out)) == 0
    (out / "metrics.json").unlink()  # not finished: the flag decides where it starts
    stamps = [(out / f"checkpoint-{n}" / "optimizer.pt").stat().st_mtime_ns for n in (1, 2)]
    argv = [*checkpoint_argv(data, out), "--resume_from_checkpoint", str(out / "checkpoint-1")]
    assert train_cmd.main(argv) == 0
    after = [(out / f"checkpoint-{n}" / "optimizer.pt").stat().st_mtime_ns for n in (1, 2)]
    assert after[0] == stamps[0] and after[1] != stamps[1]


def test_other_inputs_in_the_same_output_dir_are_refused(tmp_path, capsys):
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "run"
    assert train_cmd.main(checkpoint_argv(data, out)) == 0
    other = write_pairs(tmp_path / "other.jsonl", PAIRS[:5])
    assert train_cmd.main(checkpoint_argv(other, out)) == 1
    assert "holds training of other inputs" in capsys.readouterr().err


def test_quarantine_sets_bad_rows_aside_and_trains_on_the_rest(tmp_path):
    rows = [*PAIRS, {"chosen": "same", "rejected": "same"}, PAIRS[0]]
    data, out, quarantine = write_pairs(tmp_path / "pairs.jsonl", rows), tmp_path / "run", tmp_path / "q"
    assert (
        train_cmd.main(["--dataset_name", data, "--output_dir", str(out), *QUICK, "--quarantine", str(quarantine)]) == 0
    )
    (kept,) = quarantine.glob("quarantine-*.jsonl")
    bad = [json.loads(line) for line in kept.read_text().splitlines()]
    assert [(row["line"], row["rules"]) for row in bad] == [(7, ["chosen_ne_rejected"]), (8, ["duplicate"])]
    assert (out / "model.safetensors").is_file()


def test_truncated_gzip_is_named_by_file_and_line(tmp_path, capsys):
    import gzip

    path = tmp_path / "pairs.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in PAIRS).encode())[:-30])
    assert train_cmd.main(["--dataset_name", str(path), "--output_dir", str(tmp_path / "m"), *QUICK]) == 1
    err = capsys.readouterr().err
    assert "pairs.jsonl.gz:" in err and "truncated_file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model_name_or_path", "./no/such/model"], "'./no/such/model': no such folder"),
        (["--model_name_or_path", "BARE"], "holds no tokenizer"),
        (["--max_length", "100000"], "--max_length 100000 is above this model's position limit of 512"),
        (["--model_init_kwargs", '{"dtype": "float17"}'], "model_init_kwargs['dtype']='float17'"),
        (["--chat_template_path", "./no/template.jinja"], "chat_template_path='./no/template.jinja'"),
    ],
    ids=["missing-model", "no-tokenizer", "max-length", "dtype", "template"],
)
def test_bad_model_setup_is_named_and_nothing_is_written(tmp_path, capsys, extra, message):
    from transformers import AutoModelForSequenceClassification

    from rmcore.models.loading import default_model_path

    if "BARE" in extra:  # a model folder saved without its tokenizer
        AutoModelForSequenceClassification.from_pretrained(default_model_path()).save_pretrained(tmp_path / "bare")
        extra = ["--model_name_or_path", str(tmp_path / "bare")]
    data, out = write_pairs(tmp_path / "pairs.jsonl", PAIRS), tmp_path / "model"
    assert train_cmd.main(["--dataset_name", data, "--output_dir", str(out), *QUICK, *extra]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_output_folder_is_required_and_taken_in_either_spelling(capsys):
    for flag in ("--output_dir", "--output-dir", "--output-dir=out/a"):
        argv = ["--dataset_name", "pairs.jsonl", *([flag, "out/a"] if "=" not in flag else [flag])]
        assert train_cmd.parse_args(argv)[1].output_dir == "out/a"
    with pytest.raises(SystemExit):
        train_cmd.parse_args(["--dataset_name", "pairs.jsonl"])
    assert "required: --output_dir" in capsys.readouterr().err
