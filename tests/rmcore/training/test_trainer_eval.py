"""Evaluation: the reward metrics, the logit table and the histogram PNG written to output_dir."""

from __future__ import annotations

import json

import pytest

from rmcore import RewardTrainer

METRICS = ("accuracy", "mean_margin", "chosen_mean", "chosen_std", "rejected_mean", "rejected_std", "truncated")


def test_evaluate_reports_reward_metrics_and_writes_table_and_png(
    tmp_path, make_llama, llama_tokenizer, text_pairs, make_config, capsys
):
    trainer = RewardTrainer(
        model=make_llama(),
        args=make_config(tmp_path, eval_table_rows=3, eval_plots=True),
        tokenizer=llama_tokenizer,
        train_dataset=text_pairs,
        eval_dataset=text_pairs,
    )
    metrics = trainer.evaluate()
    for key in METRICS:
        assert f"eval_{key}" in metrics, key
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    assert metrics["eval_mean_margin"] == pytest.approx(metrics["eval_chosen_mean"] - metrics["eval_rejected_mean"])
    assert 0.0 <= metrics["eval_ece"] <= 1.0 and 0.0 <= metrics["eval_brier"] <= 1.0
    assert "eval_spearman_reward_length" in metrics
    summary = json.loads((tmp_path / "eval_summary.json").read_text())
    assert summary["overall"]["n"] == len(text_pairs)
    assert (tmp_path / "eval_reliability.png").read_bytes().startswith(b"\x89PNG")

    rows = json.loads((tmp_path / "eval_logit_table.json").read_text())
    assert len(rows) == 3
    for row in rows:
        assert row["correct"] == (row["reward_chosen"] > row["reward_rejected"])
        shown = " ".join(f"{row['prompt']} {row['chosen']}".split())
        assert shown == " ".join(text_pairs[row["index"]]["chosen"].split())
    png = (tmp_path / "eval_rewards.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "eval rewards at step 0" in capsys.readouterr().out


def test_logit_table_rewards_match_each_pair(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    """Eval batches run longest first; the table must still pair each text with its own rewards."""
    from rmcore import score_texts

    model = make_gpt2()
    trainer = RewardTrainer(
        model=model,
        args=make_config(tmp_path, eval_table_rows=len(text_pairs)),
        tokenizer=gpt2_tokenizer,
        train_dataset=text_pairs,
        eval_dataset=text_pairs,
    )
    trainer.evaluate()
    rows = json.loads((tmp_path / "eval_logit_table.json").read_text())
    chosen = score_texts(model, gpt2_tokenizer, text_pairs["chosen"])
    rejected = score_texts(model, gpt2_tokenizer, text_pairs["rejected"])
    assert [r["reward_chosen"] for r in rows] == pytest.approx([round(x, 4) for x in chosen], abs=2e-4)
    assert [r["reward_rejected"] for r in rows] == pytest.approx([round(x, 4) for x in rejected], abs=2e-4)


def test_compute_metrics_can_be_overridden(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    def only_count(eval_pred):
        return {"pairs": float(len(eval_pred.predictions))}

    trainer = RewardTrainer(
        model=make_gpt2(),
        args=make_config(tmp_path),
        tokenizer=gpt2_tokenizer,
        train_dataset=text_pairs,
        eval_dataset=text_pairs,
        compute_metrics=only_count,
    )
    metrics = trainer.evaluate()
    assert metrics["eval_pairs"] == len(text_pairs)
    assert "eval_accuracy" not in metrics
    assert metrics["eval_truncated"] == 0
    assert not (tmp_path / "eval_rewards.png").exists()  # eval_plots=False in the test config


@pytest.mark.parametrize("kind", ["llama", "bert"])
def test_packed_evaluation_equals_the_padded_path(
    kind, tmp_path, make_llama, llama_tokenizer, bert_with_minilm_vocab, minilm_tokenizer, text_pairs, make_config
):
    """evaluate/predict run the padding-free path (packing; prefix sharing for decoders) without gradients,
    and give the rewards of padded batches (1e-5, fp32)."""
    import numpy as np

    model, tokenizer = (bert_with_minilm_vocab, minilm_tokenizer) if kind == "bert" else (make_llama(), llama_tokenizer)
    predictions = {}
    for mode in ("padded", "packed", "shared"):
        settings = {"padded": {"padding_free": False, "prefix_sharing": "false"}, "packed": {"prefix_sharing": "false"}}
        trainer = RewardTrainer(
            model=model,
            args=make_config(tmp_path / mode, **settings.get(mode, {"prefix_sharing": "auto"})),
            tokenizer=tokenizer,
            train_dataset=text_pairs,
            eval_dataset=text_pairs,
        )
        assert trainer._pack is (mode != "padded")
        assert trainer._share_prefix is (mode == "shared" and kind == "llama")
        predictions[mode] = trainer.predict(trainer.eval_dataset).predictions
        assert all(p.grad is None for p in model.parameters())
    np.testing.assert_allclose(predictions["packed"], predictions["padded"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(predictions["shared"], predictions["padded"], atol=1e-5, rtol=0)
