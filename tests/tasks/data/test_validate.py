"""tasks/data/validate.py: each bad row refused with the right named rules, every good row passes, counts add up."""

from __future__ import annotations

import base64

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
    assert messages[12] == "margin_finite: `margin` must be a finite number, got '1.5'"
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
    with pytest.raises(DataQualityError, match="no good preference pair"):
        check_good_fraction(result, DataConfig())


def test_real_shared_pairs_validate(shared_pairs):
    result = validate_records(read_pair_records([str(shared_pairs)]), DataConfig(), set())
    assert result.read == 1800 and len(result.good) + result.quarantined == 1800
    assert len(result.good) == 1800
