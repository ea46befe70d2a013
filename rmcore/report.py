"""The logit table of the TRL guide: sampled eval pairs with both rewards, printed and saved."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rmcore.plots import plot_reward_histograms


def excerpt(text: str, width: int = 80) -> str:
    """The end of a text (where the replies differ), on one line, at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else "…" + flat[-(width - 1) :]


def split_prompt(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split an implicit-prompt pair into (shared prompt, chosen reply, rejected reply).

    hh-rlhf pairs repeat the whole dialogue in both texts; the table is only readable when the shared
    turns are shown once and the replies beside each other. The cut is at the last turn boundary
    ("\n\nAssistant:") inside the common prefix, or at the common prefix itself.
    """
    n = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        n += 1
    turn = chosen.rfind("\n\nAssistant:", 0, n + 1)
    cut = turn + len("\n\nAssistant:") if turn >= 0 else n
    return chosen[:cut], chosen[cut:], rejected[cut:]


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
) -> list[Path]:
    """What a person looks at after an evaluation: the logit table (printed and `<split>_logit_table.json`)
    and the reward/margin histograms (`<split>_rewards.png`). Returns the files written."""
    out_dir, written = Path(out_dir), []
    if table_rows and chosen:
        prompts, chosen, rejected = map(list, zip(*map(split_prompt, chosen, rejected), strict=True))
        rows = logit_table_rows(chosen, rejected, rewards_chosen, rewards_rejected, table_rows, seed, prompts)
        print_logit_table(rows, title or f"{split} rewards", console)
        written.append(write_logit_table(rows, out_dir / f"{split}_logit_table.json"))
    if plots and chosen:
        written.append(
            plot_reward_histograms(rewards_chosen, rewards_rejected, out_dir / f"{split}_rewards.png", title)
        )
    return written
