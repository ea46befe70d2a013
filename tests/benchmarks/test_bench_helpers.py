"""The pure parts of the benchmarks: splits, summaries and reports say what the runs measured."""

from __future__ import annotations

import gzip
import json

import pytest

from benchmarks import bench_serve, bench_serve_fairness, bench_serve_precision, bench_vs_trl, sweep_defaults
from benchmarks.runs import load_rows, pick
from benchmarks.serving import free_port, load_texts, serve_argv


def _run(system, seed, accuracy, pairs_per_s, **extra):
    base = {
        "system": system,
        "seed": seed,
        "accuracy": accuracy,
        "pairs_per_s": pairs_per_s,
        "pairs_per_cpu_s": pairs_per_s / 2,
        "padding_efficiency": 1.0,
        "peak_rss_mb": 1000.0,
        "mfu": 0.4,
        "limit_pairs_per_s": 40.0,
        "dropped_train": 0,
        "dropped_eval": 0,
        "precision": "bf16",
    }
    return {**base, **extra}


def test_load_rows_splits_head_and_tail_and_refuses_overlap(tmp_path):
    path = tmp_path / "pairs.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for i in range(10):
            f.write(json.dumps({"chosen": f"c{i}", "rejected": f"r{i}"}) + "\n")
    train, held_out = load_rows(path, 6, 3)
    assert [r["chosen"] for r in train] == [f"c{i}" for i in range(6)]
    assert [r["chosen"] for r in held_out] == ["c7", "c8", "c9"]
    with pytest.raises(ValueError, match="fewer than --n-train 8 \\+ --n-eval 3"):
        load_rows(path, 8, 3)


def test_bench_summary_takes_median_speed_and_mean_accuracy():
    results = [
        _run("rmcore", 0, 0.60, 20.0),
        _run("rmcore", 1, 0.64, 22.0),
        _run("trl", 0, 0.58, 5.0, peak_rss_mb=2000.0),
        _run("trl", 1, 0.60, 4.0, peak_rss_mb=2500.0),
    ]
    summary = bench_vs_trl.summarize(results)
    assert summary["rmcore"]["pairs_per_s"] == pytest.approx(21.0)
    assert summary["rmcore"]["accuracy"] == pytest.approx(0.62)
    assert summary["trl"]["peak_rss_mb"] == 2500.0
    report = bench_vs_trl.format_report(summary, {"bf16": 900.0, "fp32": 200.0})
    assert "rmcore / trl: speed x4.67" in report
    assert "accuracy +3.0 points" in report and "memory x0.40" in report


def test_sweep_summary_pairs_each_setting_with_the_defaults_of_its_seed():
    results = [
        {**_run("rmcore", 0, 0.60, 20.0), "setting": "defaults"},
        {**_run("rmcore", 1, 0.70, 20.0), "setting": "defaults"},
        {**_run("rmcore", 0, 0.62, 19.0), "setting": "lr 1e-4"},
        {**_run("rmcore", 1, 0.74, 21.0), "setting": "lr 1e-4"},
    ]
    summary = sweep_defaults.summarize(results)
    assert summary["defaults"]["delta"] == 0.0
    assert summary["lr 1e-4"]["accuracy"] == pytest.approx(0.68)
    assert summary["lr 1e-4"]["delta"] == pytest.approx(0.03)  # mean of +0.02 and +0.04
    assert summary["lr 1e-4"]["delta_stderr"] == pytest.approx(0.01)
    assert "+3.0 ± 1.0 pts" in sweep_defaults.format_report(summary)


def test_sweep_settings_are_real_config_fields():
    from rmcore import RewardConfig

    for overrides, head_init in sweep_defaults.SETTINGS.values():
        RewardConfig(output_dir="unused", **overrides)
        assert head_init in ("default", "zero")


def test_pick_names_from_a_flag_and_refuses_unknown_ones():
    assert pick("--systems", "rmcore,,trl", bench_vs_trl.SYSTEMS) == ["rmcore", "trl"]
    with pytest.raises(SystemExit, match=r"--settings: unknown \['lr 9'\]"):
        pick("--settings", "defaults,lr 9", sweep_defaults.SETTINGS)


def test_trl_bf16_default_is_left_out_where_bf16_is_emulated():
    assert bench_vs_trl.default_systems(native_bf16=True) == bench_vs_trl.SYSTEMS
    assert "trl" not in bench_vs_trl.default_systems(native_bf16=False)
    assert "trl-matched" in bench_vs_trl.default_systems(native_bf16=False)


def test_fp32_precision_runs_as_on_a_cpu_without_native_bf16():
    from rmcore.forward.precision import bf16_supported

    assert bench_vs_trl.runs_bf16("fp32") is False
    assert bench_vs_trl.runs_bf16("auto") is bf16_supported()
    assert bench_vs_trl.parse_args(["--precision", "fp32"]).precision == "fp32"


def test_load_texts_reads_the_first_rows_as_prompt_plus_chosen(tmp_path):
    path = tmp_path / "pairs.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"prompt": "Q: hi\n", "chosen": "A: hello", "rejected": "A: go away"}) + "\n")
        f.write(json.dumps({"chosen": "no prompt", "rejected": "x"}) + "\n")
        f.write(json.dumps({"prompt": "unread", "chosen": "", "rejected": ""}) + "\n")
    assert load_texts(path, 2) == ["Q: hi\nA: hello", "no prompt"]
    assert len(load_texts(path, 10)) == 3


def test_serve_argv_is_a_command_rewardflow_serve_accepts(tmp_path):
    from deployments.flags import from_arguments
    from deployments.serving.config import ServeConfig
    from rewardflow.serve_cmd import build_parser

    extra = bench_serve_fairness.SETTINGS["one slice per request"]
    argv = serve_argv(str(tmp_path), tmp_path / "model", 8123, "bf16", *extra)
    assert argv[1:4] == ["-m", "rewardflow.cli", "serve"]
    config = from_arguments(ServeConfig, build_parser().parse_args(argv[4:]))
    assert (config.port, config.precision, config.max_batch_tokens) == (8123, "bf16", 100_000_000)
    assert config.model == str(tmp_path / "model")
    parsed = build_parser().parse_args(serve_argv(str(tmp_path), tmp_path, 8123, "fp32", "--max-wait-ms", "2.5")[4:])
    assert from_arguments(ServeConfig, parsed).max_wait_ms == 2.5


def test_free_port_can_be_bound():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


def test_each_serve_benchmark_keeps_its_own_flags_and_defaults():
    throughput = bench_serve.parse_args([])
    assert (throughput.levels, throughput.min_requests, throughput.precision) == ("1,8,32", 16, "fp32")
    assert bench_serve.parse_args(["--one-at-a-time-server", "m", "--port", "9"]).port == 9
    fairness = bench_serve_fairness.parse_args([])
    assert (fairness.probes, fairness.n_texts, fairness.precision) == (9, 256, "fp32")
    assert bench_serve_precision.parse_args(["--n-texts", "4"]).n_texts == 4
