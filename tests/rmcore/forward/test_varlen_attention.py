"""Variable-length attention equals fused attention over each sequence alone, forward and backward."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AttentionInterface, LlamaConfig, LlamaForSequenceClassification

from rmcore.forward.packing import pack_sequences, packed_rewards
from rmcore.forward.rewards import compute_rewards
from rmcore.forward.segments import VarlenSegments
from rmcore.forward.varlen_attention import NAME, _math, varlen_attention, varlen_attention_forward


class _Attention(nn.Module):
    def __init__(self, is_causal: bool):
        super().__init__()
        self.is_causal = is_causal


def _qkv(lengths, heads=3, kv_heads=3, dim=8, seed=0):
    torch.manual_seed(seed)
    total = sum(lengths)
    q = torch.randn(1, heads, total, dim, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, kv_heads, total, dim, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, kv_heads, total, dim, dtype=torch.float64, requires_grad=True)
    return q, k, v


def _reference(q, k, v, lengths, is_causal):
    """Fused SDPA on each sequence alone, as [1, T, heads, dim]."""
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    outs = [
        nn.functional.scaled_dot_product_attention(a, b, c, is_causal=is_causal)
        for a, b, c in zip(q.split(lengths, 2), k.split(lengths, 2), v.split(lengths, 2), strict=True)
    ]
    return torch.cat(outs, 2).transpose(1, 2)


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("kv_heads", [3, 1])
def test_varlen_forward_and_gradients_equal_each_sequence_alone(is_causal, kv_heads):
    lengths = [5, 1, 9, 3]
    q, k, v = _qkv(lengths, kv_heads=kv_heads)
    out, weights = varlen_attention_forward(
        _Attention(is_causal), q, k, v, None, rmcore_segments=VarlenSegments(lengths)
    )
    expected = _reference(q, k, v, lengths, is_causal)
    assert weights is None and out.shape == (1, sum(lengths), 3, 8)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    expected_grads = torch.autograd.grad(expected.square().sum(), (q, k, v))
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_long_sequences_take_the_fused_kernel_on_cpu(monkeypatch):
    """Above MATH_MAX_LENGTH the [heads, n, n] scores would be large: the memory-lean kernel takes over."""
    import rmcore.forward.varlen_attention as varlen

    used = []

    def spy(name, kernel):
        def wrapped(*args):
            used.append(name)
            return kernel(*args)

        return wrapped

    monkeypatch.setattr(varlen, "MATH_MAX_LENGTH", 4)
    monkeypatch.setattr(varlen, "_math", spy("math", varlen._math))
    monkeypatch.setattr(varlen, "_sdpa", spy("sdpa", varlen._sdpa))
    lengths = [3, 9, 4]
    q, k, v = _qkv(lengths)
    out, _ = varlen_attention_forward(_Attention(True), q, k, v, None, rmcore_segments=VarlenSegments(lengths))
    assert used == ["math", "sdpa", "math"]
    torch.testing.assert_close(out, _reference(q, k, v, lengths, True))


def test_dropout_in_training_drops_probabilities_and_keeps_gradients():
    torch.manual_seed(0)
    lengths = [6, 4]
    q, k, v = _qkv(lengths)
    module = _Attention(False).train()
    segments = VarlenSegments(lengths)
    dropped, _ = varlen_attention_forward(module, q, k, v, None, dropout=0.5, rmcore_segments=segments)
    assert not torch.allclose(dropped, _reference(q, k, v, lengths, False))
    dropped.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (q, k, v))
    evaluated, _ = varlen_attention_forward(module.eval(), q, k, v, None, dropout=0.5, rmcore_segments=segments)
    torch.testing.assert_close(evaluated, _reference(q, k, v, lengths, False))


def test_varlen_counts_its_calls_and_refuses_what_it_cannot_do():
    q, k, v = _qkv([2, 3])
    segments = VarlenSegments([2, 3])
    varlen_attention_forward(_Attention(False), q, k, v, None, rmcore_segments=segments)
    assert segments.calls == 1
    with pytest.raises(RuntimeError, match="rmcore_segments"):
        varlen_attention_forward(_Attention(False), q, k, v, None)
    with pytest.raises(ValueError, match="one packed row"):
        varlen_attention_forward(
            _Attention(False), *(t.expand(2, -1, -1, -1) for t in (q, k, v)), None, rmcore_segments=segments
        )


@pytest.mark.parametrize("is_causal", [False, True])
def test_math_path_matches_fused_attention_in_bf16(is_causal):
    """The CPU path rounds probabilities to bf16, as the fused kernels do: close to SDPA within bf16 precision."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 4, 37, 32, dtype=torch.bfloat16) for _ in range(3))
    ours = _math(q, k, v, is_causal, 32**-0.5, 0.0).float()
    fused = nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=is_causal)
    torch.testing.assert_close(ours, fused, atol=3e-2, rtol=3e-2)


def test_registered_and_restored_around_a_forward():
    assert AttentionInterface._global_mapping[NAME] is varlen_attention_forward
    model = LlamaForSequenceClassification(
        LlamaConfig(
            vocab_size=40,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            num_labels=1,
            pad_token_id=0,
        )
    )
    with pytest.raises(KeyError), varlen_attention(model):
        assert model.config._attn_implementation == NAME
        raise KeyError("boom")
    assert model.config._attn_implementation == "sdpa"


def test_packed_rewards_with_grouped_query_attention():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=0,
    )
    model = LlamaForSequenceClassification(config).eval()
    sequences = [torch.randint(1, 40, (n,)) for n in (6, 1, 11, 4)]
    with torch.no_grad():
        packed = packed_rewards(model, pack_sequences(sequences))
        alone = torch.cat([compute_rewards(model, s[None], torch.ones(1, len(s), dtype=torch.long)) for s in sequences])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


def _with_prefixes(q, k, v, lengths, prefixes):
    """Reference: each piece's queries over [its prefix span, itself], causal aligned bottom-right, by sdpa."""
    outs, start = [], 0
    for n, (p_start, p_len) in zip(lengths, prefixes, strict=True):
        keys = torch.cat([k[:, :, p_start : p_start + p_len], k[:, :, start : start + n]], 2)
        values = torch.cat([v[:, :, p_start : p_start + p_len], v[:, :, start : start + n]], 2)
        allowed = torch.ones(n, p_len + n, dtype=torch.bool).tril(p_len)
        outs.append(nn.functional.scaled_dot_product_attention(q[:, :, start : start + n], keys, values, allowed))
        start += n
    return torch.cat(outs, 2).transpose(1, 2)


def test_a_piece_sees_its_whole_prefix_and_itself_causally_with_gradients():
    lengths, prefixes = [4, 2, 3, 3], [(0, 0), (0, 3), (0, 0), (6, 2)]  # pieces 1 and 3 reuse a prompt
    q, k, v = _qkv(lengths)
    segments = VarlenSegments(lengths, prefixes)
    out, _ = varlen_attention_forward(_Attention(True), q, k, v, None, rmcore_segments=segments)
    expected = _with_prefixes(q, k, v, lengths, prefixes)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    for a, b in zip(grads, torch.autograd.grad(expected.square().sum(), (q, k, v)), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="causal attention only"):
        varlen_attention_forward(_Attention(False), q, k, v, None, rmcore_segments=VarlenSegments(lengths, prefixes))


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize(
    ("is_causal", "kv_heads", "prefixes"), [(False, 3, None), (True, 1, None), (True, 3, "shared")]
)
def test_flex_attention_block_mask_equals_the_loop(is_causal, kv_heads, prefixes):
    """The GPU path's FlexAttention mask, run eagerly (forward only on CPUs), against the per-piece loop."""
    lengths = [4, 2, 3, 3]
    prefixes = [(0, 0), (0, 3), (0, 0), (6, 2)] if prefixes else None
    q, k, v = (x.detach().float() for x in _qkv(lengths, kv_heads=kv_heads))
    attend = lambda backend: varlen_attention_forward(  # noqa: E731
        _Attention(is_causal), q, k, v, None, rmcore_segments=VarlenSegments(lengths, prefixes, backend=backend)
    )[0]
    torch.testing.assert_close(attend("flex"), attend("loop"), atol=1e-5, rtol=0)


def test_backend_choice_by_device():
    from rmcore.forward.varlen_attention import choose_backend

    assert choose_backend(torch.device("cpu"), torch.bfloat16, 0.0) == "loop"
    # fp32 on CUDA: flash kernels take half precision only, so FlexAttention (or the loop with dropout)
    assert choose_backend(torch.device("cuda"), torch.float32, 0.0) == "flex"
    assert choose_backend(torch.device("cuda"), torch.float32, 0.1) == "loop"
    assert choose_backend(torch.device("cuda"), torch.bfloat16, 0.0) in ("flash_attn", "torch_varlen")
    with pytest.raises(ValueError, match="backend must be one of"):
        VarlenSegments([1], backend="cudnn")


def test_bf16_autocast_with_float_queries_and_bf16_values_trains():
    """Llama's rotary embedding leaves q, k in fp32 while v comes out of a bf16 linear under autocast."""
    lengths, prefixes = [4, 2], [(0, 0), (0, 3)]
    q, k, v = (x.detach().float().requires_grad_() for x in _qkv(lengths))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = varlen_attention_forward(
            _Attention(True), q, k, v.bfloat16(), None, rmcore_segments=VarlenSegments(lengths, prefixes)
        )
    assert out.dtype == torch.bfloat16
    out.float().square().sum().backward()
    assert q.grad.dtype == k.grad.dtype == torch.float32 and v.grad is not None
    expected = _with_prefixes(q.detach(), k.detach(), v.detach(), lengths, prefixes)
    torch.testing.assert_close(out.float(), expected, atol=3e-2, rtol=3e-2)
