"""Reading pair files and refusing bad pairs with errors that name the file, row and column."""

from __future__ import annotations

import gzip
import json

import pytest
from datasets import Dataset

from rmcore.data.pairs import check_pair_columns, load_pairs, prepare_pairs

ROWS = [
    {"chosen": "human hello assistant hello", "rejected": "human hello assistant no"},
    {"chosen": "human yes assistant yes", "rejected": "human yes assistant no"},
]


def write_jsonl(path, rows) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.jsonl.gz", "pairs.parquet"])
def test_load_pairs_reads_each_file_type(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        Dataset.from_list(ROWS).to_parquet(str(path))
    else:
        write_jsonl(path, ROWS)
    dataset = load_pairs(str(path))
    assert dataset["chosen"] == [r["chosen"] for r in ROWS]
    assert dataset["rejected"] == [r["rejected"] for r in ROWS]


def test_load_pairs_reads_a_folder_of_files(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ROWS[:1])
    write_jsonl(tmp_path / "b.jsonl", ROWS[1:])
    assert load_pairs(str(tmp_path))["chosen"] == [r["chosen"] for r in ROWS]


def test_load_pairs_reports_the_files_of_a_folder_it_does_not_read(tmp_path, caplog):
    write_jsonl(tmp_path / "a.jsonl", ROWS)
    (tmp_path / "notes.txt").write_text("not pairs")
    (tmp_path / ".hidden").write_text("passed over")
    with caplog.at_level("WARNING", logger="rmcore.data.pairs"):
        assert len(load_pairs(str(tmp_path))) == len(ROWS)
    assert "not read" in caplog.text and "notes.txt" in caplog.text and ".hidden" not in caplog.text


def test_load_pairs_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_pairs(str(tmp_path / "nope.jsonl"))


def test_load_pairs_refuses_an_unknown_file_type(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("chosen rejected")
    with pytest.raises(ValueError, match=r"pairs.txt.*\.txt"):
        load_pairs(str(path))


def test_check_pair_columns_tells_text_from_tokens():
    assert check_pair_columns(Dataset.from_list(ROWS)) == "text"
    tokens = {c: [[1, 2]] for c in ("input_ids_chosen", "attention_mask_chosen")}
    tokens |= {c: [[1]] for c in ("input_ids_rejected", "attention_mask_rejected")}
    assert check_pair_columns(Dataset.from_dict(tokens)) == "tokens"


def test_missing_column_is_named_with_the_source():
    dataset = Dataset.from_dict({"chosen": ["a"], "answer": ["b"]})
    with pytest.raises(ValueError, match=r"pairs\.jsonl lacks column\(s\) \['rejected'\]"):
        check_pair_columns(dataset, "pairs.jsonl")


def test_empty_dataset_is_refused():
    with pytest.raises(ValueError, match="pairs.jsonl is empty"):
        check_pair_columns(Dataset.from_dict({"chosen": [], "rejected": []}), "pairs.jsonl")


@pytest.mark.parametrize(("margins", "row"), [(["1.0", "high"], 0), ([1.0, float("nan")], 1), ([True, False], 0)])
def test_non_numeric_margin_is_named_with_row(margins, row):
    dataset = Dataset.from_dict({"chosen": ["a", "b"], "rejected": ["c", "d"], "margin": margins})
    with pytest.raises(ValueError, match=rf"pairs.jsonl row {row}: column `margin` must be a finite number"):
        check_pair_columns(dataset, "pairs.jsonl")


def test_non_numeric_margin_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, [{**r, "margin": "big"} for r in ROWS])
    with pytest.raises(ValueError, match=r"pairs\.jsonl row 0: column `margin`"):
        check_pair_columns(load_pairs(str(path)), str(path))


def test_prepare_pairs_tokenizes_text_and_keeps_every_row(gpt2_tokenizer):
    dataset = Dataset.from_dict({"chosen": ["hello", "yes"], "rejected": ["no", "no"], "margin": [0.5, 1]})
    out = prepare_pairs(dataset, gpt2_tokenizer, max_length=16)
    assert len(out) == 2
    assert out["margin"] == [0.5, 1.0]
    assert out["truncated"] == [False, False]
    assert out["input_ids_chosen"][0] == gpt2_tokenizer("hello")["input_ids"]


def test_prepare_pairs_adds_truncated_to_pre_tokenized_pairs(gpt2_tokenizer):
    columns = ("input_ids_chosen", "attention_mask_chosen", "input_ids_rejected", "attention_mask_rejected")
    dataset = Dataset.from_dict({c: [[5, 6], [7]] for c in columns})
    assert prepare_pairs(dataset, gpt2_tokenizer, max_length=16)["truncated"] == [False, False]


def test_prepare_pairs_refuses_non_text_replies(gpt2_tokenizer):
    dataset = Dataset.from_dict({"chosen": [1, 2], "rejected": ["a", "b"]})
    with pytest.raises(ValueError, match="column `chosen` must hold strings"):
        prepare_pairs(dataset, gpt2_tokenizer, max_length=16, name="train")


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.jsonl.gz"])
def test_an_empty_file_is_named_not_a_stop_iteration(tmp_path, name):
    path = tmp_path / name
    write_jsonl(path, [])
    with pytest.raises(ValueError, match=rf"{name} is empty"):
        load_pairs(str(path))


def test_empty_files_in_a_folder_are_skipped(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ROWS)
    (tmp_path / "b.jsonl").write_text("\n")
    assert len(load_pairs(str(tmp_path))) == len(ROWS)
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(ValueError, match="every pair file in this folder is empty"):
        load_pairs(str(tmp_path))


def test_large_string_columns_and_one_element_margins_are_accepted(gpt2_tokenizer):
    import pyarrow as pa

    table = pa.table(
        {
            "chosen": pa.array([r["chosen"] for r in ROWS], pa.large_string()),
            "rejected": pa.array([r["rejected"] for r in ROWS], pa.large_string()),
            "margin": [[1.0], [0.5]],
        }
    )
    out = prepare_pairs(Dataset(table), gpt2_tokenizer, max_length=16)
    assert out["margin"] == [1.0, 0.5]
    assert out["chosen_ids"] == out["input_ids_chosen"] and len(out) == 2


def test_evaluation_texts_decode_token_columns(gpt2_tokenizer):
    from rmcore.data.pairs import pair_texts

    ids = gpt2_tokenizer(["human hello", "human yes"])["input_ids"]
    dataset = Dataset.from_dict(
        {
            "input_ids_chosen": ids,
            "attention_mask_chosen": ids,
            "input_ids_rejected": ids,
            "attention_mask_rejected": ids,
        }  # noqa: E501
    )
    assert pair_texts(dataset, gpt2_tokenizer)[0] == ["human hello", "human yes"]
