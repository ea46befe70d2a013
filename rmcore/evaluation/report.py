"""What a person reads after an evaluation: the logit table of the TRL guide (sampled pairs with both
rewards), the accuracy by slice, and the summary with its plots, printed and saved."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from rmcore.evaluation.length_bias import split_prompt
from rmcore.evaluation.plots import plot_reliability_diagram, plot_reward_histograms
from rmcore.evaluation.summary import ReportConfig, evaluation_summary


def excerpt(text: str, width: int = 80) -> str:
    """The end of a text (where the replies differ), on one line, at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else "…" + flat[-(width - 1) :]


def logit_table_rows(
    chosen: list[str],
    rejected: list[str],
    rewards_chosen: list[float],
    rewards_rejected: list[float],
    n: int,
    seed: int = 0,
    prompts: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Sample n pairs (reproducibly) into rows of the logit table."""
    picked = sorted(random.Random(seed).sample(range(len(chosen)), min(n, len(chosen))))
    return [
        {
            "index": i,
            "prompt": excerpt(prompts[i]) if prompts else "",
            "chosen": excerpt(chosen[i]),
            "rejected": excerpt(rejected[i]),
            "reward_chosen": round(float(rewards_chosen[i]), 4),
            "reward_rejected": round(float(rewards_rejected[i]), 4),
            "correct": bool(rewards_chosen[i] > rewards_rejected[i]),
        }
        for i in picked
    ]


def print_logit_table(rows: list[dict[str, Any]], title: str, console: Console | None = None) -> None:
    """Print the rows as a rich table."""
    table = Table(title=title, show_lines=True)
    if any(row.get("prompt") for row in rows):
        table.add_column("prompt", overflow="fold", max_width=40)
    for name in ("chosen", "rejected"):
        table.add_column(name, overflow="fold", max_width=50)
    table.add_column("r(chosen)", justify="right")
    table.add_column("r(rejected)", justify="right")
    table.add_column("ok", justify="center")
    for row in rows:
        prompt = [row.get("prompt", "")] if any(r.get("prompt") for r in rows) else []
        table.add_row(
            *prompt,
            row["chosen"],
            row["rejected"],
            f"{row['reward_chosen']:.3f}",
            f"{row['reward_rejected']:.3f}",
            "[green]✓[/green]" if row["correct"] else "[red]✗[/red]",
        )
    (console or Console()).print(table)


def write_logit_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the rows as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    return path


def print_slice_table(summary: dict[str, Any], title: str, console: Console | None = None) -> None:
    """Print accuracy by slice with counts and 95% intervals, then calibration and length bias in one line."""
    table = Table(title=title)
    for name, justify in (("slice", "left"), ("pairs", "right"), ("accuracy", "right"), ("95% interval", "right")):
        table.add_column(name, justify=justify)
    for row in [summary["overall"], *summary["slices"]]:
        table.add_row(row["name"], str(row["n"]), f"{row['accuracy']:.3f}", f"[{row['low']:.3f}, {row['high']:.3f}]")
    cal, bias = summary["calibration"], summary["length_bias"]
    console = console or Console()
    console.print(table)
    console.print(
        f"ECE {cal['ece']:.4f}, Brier {cal['brier']:.4f}; Spearman(reward, length) "
        f"{bias['spearman_reward_length']:+.3f}, prefers the longer reply {bias['prefers_longer']:.3f}"
    )


def write_eval_report(
    chosen: list[str],
    rejected: list[str],
    rewards_chosen: list[float],
    rewards_rejected: list[float],
    out_dir: str | Path,
    split: str = "eval",
    title: str = "",
    table_rows: int = 8,
    seed: int = 0,
    plots: bool = True,
    console: Console | None = None,
    summary: dict[str, Any] | None = None,
    categories: pd.DataFrame | None = None,
    report_config: ReportConfig | None = None,
) -> list[Path]:
    """What a person looks at after an evaluation: the logit table and slice table (printed, and
    `<split>_logit_table.json`), the summary (`<split>_summary.json`: slices, calibration, length bias,
    reward statistics), the reward/margin histograms (`<split>_rewards.png`) and the reliability diagram
    (`<split>_reliability.png`). `summary` is computed here when not given. Returns the files written."""
    out_dir, written = Path(out_dir), []
    if not chosen:
        return written
    if summary is None:
        summary = evaluation_summary(chosen, rejected, rewards_chosen, rewards_rejected, categories, report_config)
    if table_rows:
        prompts, replies_c, replies_r = map(list, zip(*map(split_prompt, chosen, rejected), strict=True))
        rows = logit_table_rows(replies_c, replies_r, rewards_chosen, rewards_rejected, table_rows, seed, prompts)
        print_logit_table(rows, title or f"{split} rewards", console)
        print_slice_table(summary, f"{split} accuracy by slice", console)
        written.append(write_logit_table(rows, out_dir / f"{split}_logit_table.json"))
    written.append(write_summary(summary, out_dir / f"{split}_summary.json"))
    if plots:
        written.append(
            plot_reward_histograms(rewards_chosen, rewards_rejected, out_dir / f"{split}_rewards.png", title)
        )
        written.append(plot_reliability_diagram(summary["reliability"], out_dir / f"{split}_reliability.png", title))
    return written


def write_summary(summary: dict[str, Any], path: str | Path) -> Path:
    """Write the evaluation summary as JSON (NaN as null, so strict readers accept it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(summary), indent=2, ensure_ascii=False))
    return path


def json_safe(value: Any) -> Any:
    """NaN and infinities as None, recursively through dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
