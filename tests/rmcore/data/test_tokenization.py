"""Left truncation: a pair too long for the model keeps its ending and its special tokens, and is counted."""

from __future__ import annotations

import pytest
from datasets import Dataset

from rmcore.data.tokenization import model_max_length, special_affixes, tokenize_pairs, tokenize_texts, truncate_left


def test_truncate_left_keeps_the_end_inside_the_special_tokens():
    ids, cut = truncate_left(list(range(10, 20)), prefix=[1], suffix=[2], max_length=5)
    assert (ids, cut) == ([1, 17, 18, 19, 2], True)


def test_truncate_left_leaves_short_content_alone():
    assert truncate_left([10, 11], prefix=[1], suffix=[2], max_length=5) == ([1, 10, 11, 2], False)
    assert truncate_left([10, 11, 12], prefix=[1], suffix=[2], max_length=5) == ([1, 10, 11, 12, 2], False)


def test_truncate_left_refuses_a_length_with_no_room_for_text():
    with pytest.raises(ValueError, match="max_length=2"):
        truncate_left([10], prefix=[1], suffix=[2], max_length=2)


def test_special_affixes_of_bert_and_llama_style_tokenizers(minilm_tokenizer, llama_tokenizer, gpt2_tokenizer):
    cls, sep = minilm_tokenizer.cls_token_id, minilm_tokenizer.sep_token_id
    assert special_affixes(minilm_tokenizer) == ((cls,), (sep,))
    assert special_affixes(llama_tokenizer) == ((llama_tokenizer.bos_token_id,), ())
    assert special_affixes(gpt2_tokenizer) == ((), ())


def test_bert_truncation_keeps_cls_sep_and_the_last_words(minilm_tokenizer):
    text = "one two three four five six seven eight nine ten"
    (ids,), (cut,) = tokenize_texts([text], minilm_tokenizer, max_length=6)
    assert cut is True
    assert len(ids) == 6
    assert ids[0] == minilm_tokenizer.cls_token_id and ids[-1] == minilm_tokenizer.sep_token_id
    assert minilm_tokenizer.decode(ids[1:-1]) == "seven eight nine ten"


def test_tokenize_pairs_flags_a_pair_when_either_side_is_cut(llama_tokenizer):
    batch = {
        "chosen": ["hello", "human tell me a joke assistant the cat sat on the mat", "yes"],
        "rejected": ["no", "no", "human tell me a joke assistant sorry i cannot help with that"],
    }
    out = tokenize_pairs(batch, llama_tokenizer, max_length=6)
    assert out["truncated"] == [False, True, True]
    assert llama_tokenizer.decode(out["input_ids_chosen"][1]) == "<s> cat sat on the mat"
    assert llama_tokenizer.decode(out["input_ids_rejected"][2]) == "<s> i cannot help with that"
    assert all(len(ids) <= 6 for ids in out["input_ids_chosen"] + out["input_ids_rejected"])
    assert out["attention_mask_chosen"] == [[1] * len(ids) for ids in out["input_ids_chosen"]]


def test_prompt_is_prepended_to_both_replies(gpt2_tokenizer):
    out = tokenize_pairs(
        {"prompt": ["human hello "], "chosen": ["assistant hello"], "rejected": ["no"]}, gpt2_tokenizer, 64
    )
    assert gpt2_tokenizer.decode(out["input_ids_chosen"][0]) == "human hello assistant hello"
    assert gpt2_tokenizer.decode(out["input_ids_rejected"][0]) == "human hello no"


def test_no_pair_is_dropped_by_map(minilm_tokenizer):
    long = " ".join(["word"] * 200)
    dataset = Dataset.from_dict({"chosen": [long, "short", long], "rejected": ["short", long, long]})
    out = dataset.map(tokenize_pairs, batched=True, fn_kwargs={"tokenizer": minilm_tokenizer, "max_length": 16})
    assert len(out) == len(dataset)
    assert out["truncated"] == [True, True, True]


def test_model_max_length_is_the_smaller_limit(minilm, minilm_tokenizer, make_gpt2, gpt2_tokenizer):
    assert model_max_length(minilm, minilm_tokenizer) == 512
    # the word tokenizer sets no limit (a huge sentinel), so the position embeddings decide
    assert model_max_length(make_gpt2(), gpt2_tokenizer) == 64


def test_conversations_stored_as_json_text_with_empty_prompts(minilm_tokenizer):
    import json

    chosen = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    rejected = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}]
    batch = {"prompt": [""], "chosen": [json.dumps(chosen)], "rejected": [json.dumps(rejected)]}
    out = tokenize_pairs(batch, minilm_tokenizer, max_length=32)
    assert minilm_tokenizer.decode(out["input_ids_rejected"][0], skip_special_tokens=True) == (
        "human : hi assistant : go away"
    )


@pytest.mark.parametrize("name", ["minilm_tokenizer", "llama_tokenizer"])
def test_templated_text_cut_from_the_left_keeps_the_special_tokens_its_template_wrote(name, request):
    """A chat template writes [CLS] ... [SEP] (or <s> ...) itself; a long conversation keeps them when cut."""
    tokenizer = request.getfixturevalue(name)
    prefix, suffix = special_affixes(tokenizer)
    head = tokenizer.decode(list(prefix)) if prefix else ""
    tail = tokenizer.decode(list(suffix)) if suffix else ""
    long_text = f"{head}{' '.join(f'word{i}' for i in range(200))}{tail}"
    (ids,), (cut,) = tokenize_texts([long_text], tokenizer, max_length=16, templated=True)
    assert cut and len(ids) == 16
    assert tuple(ids[: len(prefix)]) == prefix and tuple(ids[len(ids) - len(suffix) :]) == suffix
    (short,), (short_cut,) = tokenize_texts([f"{head}hello{tail}"], tokenizer, max_length=16, templated=True)
    assert not short_cut and short == tokenizer(f"{head}hello{tail}", add_special_tokens=False)["input_ids"]
