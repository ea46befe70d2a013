"""The logit table rows, their rich rendering and their JSON file."""

from __future__ import annotations

import json

from rich.console import Console

from rmcore.evaluation.report import excerpt, logit_table_rows, print_logit_table, write_logit_table


def test_excerpt_keeps_the_end_on_one_line():
    assert excerpt("a\n\nb  c") == "a b c"
    assert excerpt("x" * 100 + "END", width=10) == "…" + "x" * 6 + "END"


def test_rows_are_sampled_reproducibly_with_correctness():
    chosen, rejected = [f"c{i}" for i in range(10)], [f"r{i}" for i in range(10)]
    rewards_chosen, rewards_rejected = [float(i) for i in range(10)], [5.0] * 10
    rows = logit_table_rows(chosen, rejected, rewards_chosen, rewards_rejected, n=4, seed=1)
    assert rows == logit_table_rows(chosen, rejected, rewards_chosen, rewards_rejected, n=4, seed=1)
    assert len(rows) == 4
    for row in rows:
        i = row["index"]
        assert (row["chosen"], row["rejected"]) == (f"c{i}", f"r{i}")
        assert row["correct"] == (i > 5)  # a tie at i = 5 counts as wrong
    assert len(logit_table_rows(chosen, rejected, rewards_chosen, rewards_rejected, n=50)) == 10


def test_table_prints_and_writes(tmp_path):
    rows = logit_table_rows(["good"], ["bad"], [1.0], [-1.0], n=1)
    console = Console(record=True, width=120)
    print_logit_table(rows, "eval rewards", console)
    text = console.export_text()
    assert "eval rewards" in text and "good" in text and "1.000" in text
    path = write_logit_table(rows, tmp_path / "sub" / "table.json")
    assert json.loads(path.read_text()) == rows


def test_split_prompt_shows_shared_turns_once_and_the_replies_apart():
    from rmcore.evaluation.report import split_prompt

    chosen = "\n\nHuman: hi\n\nAssistant: yes, sure"
    rejected = "\n\nHuman: hi\n\nAssistant: yesterday, no"
    assert split_prompt(chosen, rejected) == ("\n\nHuman: hi\n\nAssistant:", " yes, sure", " yesterday, no")
    assert split_prompt("abc", "abd") == ("ab", "c", "d")
    assert split_prompt("same", "other") == ("", "same", "other")
