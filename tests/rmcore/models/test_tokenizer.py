"""The tokenizer saved beside a model says how training tokenized."""

from __future__ import annotations

from rmcore.data.chat import render_hh
from rmcore.data.tokenization import tokenize_texts
from rmcore.models.tokenizer import tokenizer_as_trained


def test_the_saved_chat_template_renders_what_training_tokenized(minilm_tokenizer):
    saved = tokenizer_as_trained(minilm_tokenizer, 64)
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    messages.append({"role": "assistant", "content": 'He said "hello"\nthen left.'})
    expected, _ = tokenize_texts([render_hh(messages)], minilm_tokenizer, 64)  # training: hh text + [CLS]/[SEP]
    assert saved.apply_chat_template(messages, tokenize=True, return_dict=False) == expected[0]
    assert (saved.truncation_side, saved.model_max_length) == ("left", 64)
    assert minilm_tokenizer.chat_template is None, "the training tokenizer is left as it was"
