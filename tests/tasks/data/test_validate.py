"""tasks/data/validate.py: each bad row refused with the right named rules, every good row passes, counts add up."""

from __future__ import annotations

import base64
import json

import pytest

from tasks.data.config import DataConfig
from tasks.data.load import read_pair_records
from tasks.data.schema import PairModel
from tasks.data.store import pair_id
from tasks.data.validate import DataQualityError, check_good_fraction, validate_records


def corpus_result(corpus, config=None, stored=None):
    return validate_records(read_pair_records([str(corpus.folder)]), config or DataConfig(), stored or set())


def test_every_bad_row_has_its_rules_and_every_good_row_passes(bad_corpus):
    result = corpus_result(bad_corpus)
    found = {(row["source_file"], row["line"]): row["rules"] for row in result.bad}
    assert found == bad_corpus.bad
    good = dict(
        zip(zip(result.good.source_file, result.good.source_line, strict=True), result.good.chosen, strict=True)
    )
    assert good == bad_corpus.good


def test_counts_add_up(bad_corpus):
    result = corpus_result(bad_corpus)
    assert len(result.good) + len(result.bad) == result.read == bad_corpus.read
    expected = {}
    for rules in bad_corpus.bad.values():
        for rule in rules:
            expected[rule] = expected.get(rule, 0) + 1
    assert result.counts_by_rule == expected
    assert result.summary() == {
        "read": bad_corpus.read,
        "good": len(bad_corpus.good),
        "quarantined": len(bad_corpus.bad),
        "by_rule": expected,
    }


def test_messages_name_the_rule_and_column(bad_corpus):
    messages = {row["line"]: row["message"] for row in corpus_result(bad_corpus).bad if row["line"] <= 21}
    assert messages[4] == "required_fields: `rejected` is missing or null"
    assert messages[12] == "margin_finite: `margin` must be a finite number, |margin| <= 10000, got '1.5'"
    assert messages[21].startswith("non_empty: `chosen` is empty or only whitespace; margin_finite:")
    assert "row of 1000" in messages[9]


def test_bad_rows_are_kept_verbatim(bad_corpus):
    rows = {row["line"]: row for row in corpus_result(bad_corpus).bad if row["source_file"].endswith("mixed.jsonl")}
    assert rows[3]["raw"] == '{"chosen": "x", "rejected": ' and rows[3]["raw_encoding"] == "text"
    assert rows[8]["raw_encoding"] == "base64"
    assert base64.b64decode(rows[8]["raw"]) == b'{"chosen": "caf\xe9", "rejected": "x"}'
    assert len(rows[9]["raw"]) > 1_000_000


def test_good_frame_columns_and_derived_margin(bad_corpus):
    good = corpus_result(bad_corpus).good
    assert list(good.columns) == ["chosen", "rejected", "margin", "pair_id", "source_file", "source_line"]
    margins = dict(zip(good.chosen, good.margin, strict=True))
    assert margins["good three"] == 2.0 and margins["good four"] == 3.5 and margins["good one"] == 0.0
    assert good.pair_id.tolist() == [pair_id(c, r) for c, r in zip(good.chosen, good.rejected, strict=True)]


def test_duplicates_of_the_store_exact_and_swapped(bad_corpus):
    stored = {pair_id("good three", "bad three"), pair_id("bad four", "good four")}
    result = corpus_result(bad_corpus, stored=stored)
    rules = {row["raw"]: row["rules"] for row in result.bad if row["raw_encoding"] == "text"}
    assert [r for raw, r in rules.items() if "good three" in raw] == [["duplicate_of_stored"]]
    assert [r for raw, r in rules.items() if "good four" in raw] == [["swapped_duplicate"]]
    assert len(result.good) + len(result.bad) == result.read


def test_duplicate_rule_only_counts_rows_that_pass_the_row_rules(tmp_path, write_pairs):
    """A twin refused for its margin does not make the good twin a duplicate."""
    path = write_pairs(
        tmp_path / "twins.jsonl",
        [{"chosen": "a", "rejected": "b", "margin": float("nan")}, {"chosen": "a", "rejected": "b", "margin": 1.0}],
    )
    result = validate_records(read_pair_records([str(path)]), DataConfig(), set())
    assert [row["rules"] for row in result.bad] == [["margin_finite"]]
    assert result.good.margin.tolist() == [1.0]


def test_max_row_bytes_is_configurable(tmp_path, write_pairs):
    path = write_pairs(
        tmp_path / "sizes.jsonl", [{"chosen": "a" * 50, "rejected": "b"}, {"chosen": "c", "rejected": "d"}]
    )
    result = validate_records(read_pair_records([str(path)]), DataConfig(max_row_bytes=40), set())
    assert [(row["line"], row["rules"]) for row in result.bad] == [(1, ["row_size"])]


def test_prompt_column_kept_and_in_the_id(tmp_path, write_pairs):
    path = write_pairs(
        tmp_path / "prompts.jsonl",
        [{"prompt": "Q1", "chosen": "a", "rejected": "b"}, {"prompt": "Q2", "chosen": "a", "rejected": "b"}],
    )
    good = validate_records(read_pair_records([str(path)]), DataConfig(), set()).good
    assert good.prompt.tolist() == ["Q1", "Q2"]
    assert good.pair_id.tolist() == [pair_id("a", "b", "Q1"), pair_id("a", "b", "Q2")]


def test_model_names_each_rule():
    checks = {check.name for column in PairModel.to_schema().columns.values() for check in column.checks}
    checks |= {check.name for check in PairModel.to_schema().checks}
    assert {"required_fields", "string_type", "utf8", "non_empty", "margin_finite", "chosen_ne_rejected"} <= checks


def test_check_good_fraction(bad_corpus, tmp_path, write_pairs):
    result = corpus_result(bad_corpus)
    check_good_fraction(result, DataConfig(min_good_fraction=0.5))
    with pytest.raises(DataQualityError, match=r"mixed.jsonl are good, under min_good_fraction=0.9: read"):
        check_good_fraction(result, DataConfig(min_good_fraction=0.9))
    path = write_pairs(tmp_path / "all_bad.jsonl", [{"chosen": "x", "rejected": "x"}])
    nothing = validate_records(read_pair_records([str(path)]), DataConfig(), set())
    with pytest.raises(DataQualityError, match=r"no good preference pair in .*all_bad.jsonl: read 1, good 0"):
        check_good_fraction(nothing, DataConfig(min_good_fraction=0.0))


def test_rows_already_stored_do_not_count_against_the_fraction(tmp_path, write_pairs):
    pairs = [{"chosen": f"c{i}", "rejected": f"r{i}"} for i in range(4)]
    path = write_pairs(tmp_path / "p.jsonl", [*pairs, {"chosen": "x", "rejected": "x"}])
    stored = {pair_id(f"c{i}", f"r{i}") for i in range(3)}
    result = validate_records(read_pair_records([str(path)]), DataConfig(), stored)
    assert len(result.good) == 1 and result.counts_by_rule == {"chosen_ne_rejected": 1, "duplicate_of_stored": 3}
    check_good_fraction(result, DataConfig(min_good_fraction=0.5))  # 1 good of 2 new rows
    with pytest.raises(DataQualityError, match="only 50.0% of the new rows"):
        check_good_fraction(result, DataConfig(min_good_fraction=0.6))
    everything_stored = validate_records(read_pair_records([str(path)]), DataConfig(), stored | {pair_id("c3", "r3")})
    with pytest.raises(DataQualityError, match="no good preference pair"):  # the x/x row is still garbage
        check_good_fraction(everything_stored, DataConfig())


def test_empty_input_is_nothing_good():
    result = validate_records([], DataConfig(), set())
    assert result.read == 0 and result.good.empty and result.bad == []
    with pytest.raises(DataQualityError, match="no good preference pair in the sources: no rows at all"):
        check_good_fraction(result, DataConfig())


def test_an_empty_ingest_says_so_and_names_no_quarantine(tmp_path):
    from tasks.data.ingest import ingest_files

    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataQualityError) as refused:
        ingest_files([str(tmp_path / "empty.jsonl")], tmp_path / "home", DataConfig())
    assert "no rows at all" in str(refused.value) and "no row was quarantined" in str(refused.value)
    assert "None" not in str(refused.value)


def test_real_shared_pairs_validate(shared_pairs):
    result = validate_records(read_pair_records([str(shared_pairs)]), DataConfig(), set())
    assert result.read == 1800 and len(result.good) + result.quarantined == 1800
    assert len(result.good) == 1800


USER = {"role": "user", "content": "What is a cat?"}
GOOD = [USER, {"role": "assistant", "content": "A small animal."}]
BAD_REPLY = [USER, {"role": "assistant", "content": "No."}]


def _call(function: dict) -> dict:
    """An assistant turn calling one tool, with no content (as TRL's toolcall data has it)."""
    return {"role": "assistant", "tool_calls": [{"type": "function", "function": function}]}


TOOL_TURNS = [
    USER,
    {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"x": 1}'}}]},
    {"role": "tool", "name": "f", "tool_call_id": "call_0", "content": "1"},
    {"role": "assistant", "content": "One."},
]


@pytest.mark.parametrize(
    ("row", "rule", "says"),
    [
        ({"chosen": [{"content": "x"}], "rejected": BAD_REPLY}, "message_list", "no 'role'"),
        ({"chosen": [{"role": "robot", "content": "x"}], "rejected": BAD_REPLY}, "message_list", "unknown role"),
        ({"chosen": [{"role": "user", "content": 3}], "rejected": BAD_REPLY}, "message_list", "must be a string"),
        ({"chosen": [], "rejected": BAD_REPLY}, "message_list", "empty message list"),
        ({"chosen": GOOD, "rejected": GOOD}, "chosen_ne_rejected", "same"),
        (
            {"prompt": [USER], "chosen": "A small animal.", "rejected": BAD_REPLY[1:]},
            "same_format",
            "message lists in `rejected`, `prompt` but text in `chosen`",
        ),
        ({"chosen": [USER, {"role": "tool", "name": "f"}], "rejected": BAD_REPLY}, "tool_content", "tool result"),
        ({"chosen": [USER, {"role": "tool", "content": None}], "rejected": BAD_REPLY}, "tool_content", "message 1"),
        ({"chosen": [USER, _call({"arguments": {}})], "rejected": BAD_REPLY}, "tool_call_name", "no function name"),
        ({"chosen": [USER, _call({"name": "f", "arguments": 3})], "rejected": BAD_REPLY}, "tool_call_arguments", "3"),
        (
            {"chosen": [USER, _call({"name": "f", "arguments": "[1]"})], "rejected": BAD_REPLY},
            "tool_call_arguments",
            "",
        ),
        ({"chosen": [USER, _call({"name": "f", "arguments": "{x"})], "rejected": BAD_REPLY}, "tool_call_arguments", ""),
        ({"chosen": [USER, _call({"name": "f"})], "rejected": BAD_REPLY}, "tool_call_arguments", "None"),
        ({"chosen": [USER, {"role": "assistant", "tool_calls": []}], "rejected": BAD_REPLY}, "message_list", "content"),
        ({"chosen": GOOD, "rejected": BAD_REPLY, "tools": "{not json"}, "tools_list", "not JSON text"),
        ({"chosen": GOOD, "rejected": BAD_REPLY, "tools": {"name": "f"}}, "tools_list", "list of function schemas"),
        ({"chosen": GOOD, "rejected": BAD_REPLY, "chat_template_kwargs": [1]}, "template_kwargs", "object"),
        ({"chosen": "a", "rejected": "b", "margin": 1e300}, "margin_finite", "|margin| <= 10000"),
    ],
)
def test_malformed_conversations_are_quarantined_by_rule(tmp_path, write_pairs, row, rule, says):
    path = write_pairs(tmp_path / "chat.jsonl", [{"chosen": GOOD, "rejected": BAD_REPLY}, row])
    result = validate_records(read_pair_records([str(path)]), DataConfig(), set())
    assert len(result.good) == 1 and result.read == 2
    assert [(r["line"], r["rules"]) for r in result.bad] == [(2, [rule])]
    assert says in result.bad[0]["message"]


def test_conversations_are_kept_as_json_text_that_rmcore_tokenizes(tmp_path, write_pairs):
    from transformers import AutoTokenizer

    from rmcore.data.tokenization import tokenize_pairs
    from rmcore.models.loading import default_model_path

    minilm_tokenizer = AutoTokenizer.from_pretrained(default_model_path())

    rows = [{"prompt": [USER], "chosen": GOOD[1:], "rejected": BAD_REPLY[1:]}]
    path = write_pairs(tmp_path / "chat.jsonl", rows)
    good = validate_records(read_pair_records([str(path)]), DataConfig(), set()).good
    assert json.loads(good.prompt[0]) == [USER] and json.loads(good.chosen[0]) == GOOD[1:]
    batch = {c: good[c].tolist() for c in ("prompt", "chosen", "rejected")}
    out = tokenize_pairs(batch, minilm_tokenizer, max_length=64)
    text = minilm_tokenizer.decode(out["input_ids_chosen"][0], skip_special_tokens=True)
    assert text == "human : what is a cat? assistant : a small animal."


@pytest.mark.parametrize(
    "row",
    [
        {"chosen": TOOL_TURNS, "rejected": BAD_REPLY},
        {"chosen": TOOL_TURNS, "rejected": BAD_REPLY, "tools": [{"type": "function", "function": {"name": "f"}}]},
        {"chosen": TOOL_TURNS, "rejected": BAD_REPLY, "tools": '[{"type": "function", "function": {"name": "f"}}]'},
        {"chosen": TOOL_TURNS, "rejected": BAD_REPLY, "chat_template_kwargs": {"enable_thinking": False}},
        {"chosen": [USER, _call({"name": "f", "arguments": {"x": 1, "y": None}})], "rejected": BAD_REPLY},
        {"chosen": [USER, {**_call({"name": "f", "arguments": {}}), "content": ""}], "rejected": BAD_REPLY},
    ],
)
def test_well_formed_tool_use_is_kept(tmp_path, write_pairs, row):
    path = write_pairs(tmp_path / "chat.jsonl", [row])
    result = validate_records(read_pair_records([str(path)]), DataConfig(), set())
    assert result.bad == [] and len(result.good) == 1
    assert json.loads(result.good.chosen[0]) == row["chosen"]
    for column in ("tools", "chat_template_kwargs"):
        if column in row:
            stored = result.good[column][0]
            assert isinstance(stored, str)
            assert json.loads(stored) == (json.loads(row[column]) if isinstance(row[column], str) else row[column])
