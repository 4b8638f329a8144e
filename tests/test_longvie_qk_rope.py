"""The fused query/key RMSNorm + RoPE of Wan self-attention (``longvie.qk_rope``).

On CPU the op runs its plain-torch reference, which must equal diffusers' own processor; the Triton
kernel runs under Triton's CPU interpreter (``TRITON_INTERPRET=1``, in a subprocess, since the
variable is read when the kernel is built) against the reference, and is compiled for sm_90 here
(the interpreter skips the compiler's checks).
"""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from diffusers.models.transformers import transformer_wan
from longvie_kernels import check_model_switch, compile_for_sm90, compiled_graph_calls, run_interpreted

from longvie import qk_rope


def _attention(dim: int = 32, heads: int = 2) -> transformer_wan.WanAttention:
    torch.manual_seed(0)
    attn = transformer_wan.WanAttention(dim=dim, heads=heads, dim_head=dim // heads, eps=1e-6,
                                        processor=transformer_wan.WanAttnProcessor()).eval()
    with torch.no_grad():
        attn.norm_q.weight.normal_(1.0, 0.2)
        attn.norm_k.weight.normal_(1.0, 0.2)
    return attn


def _rope_tables(length: int, head: int) -> tuple[torch.Tensor, torch.Tensor]:
    rope = transformer_wan.WanRotaryPosEmbed(head, (1, 2, 2), 64)
    cos, sin = rope(torch.zeros(1, 1, 1, 2, 2 * length))  # (1, L, 1, head) for a 1x1xL token grid
    return cos, sin


def test_fused_processor_equals_diffusers_processor_on_cpu() -> None:
    attn = _attention()
    x = torch.randn(2, 6, 32)
    cos, sin = _rope_tables(6, 16)
    with torch.no_grad():
        reference = attn(x, None, None, (cos, sin))
        attn.set_processor(qk_rope.FusedQKRopeAttnProcessor())
        fused = attn(x, None, None, (cos, sin))
    assert torch.allclose(fused, reference, atol=1e-6), (fused - reference).abs().max()


def test_cross_attention_and_autograd_take_diffusers_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fused op must not run here")

    monkeypatch.setattr(qk_rope, "qk_norm_rope_reference", forbidden)
    attn = _attention()
    attn.set_processor(qk_rope.FusedQKRopeAttnProcessor())
    x = torch.randn(1, 6, 32, requires_grad=True)
    cos, sin = _rope_tables(6, 16)
    attn(x, None, None, (cos, sin)).sum().backward()  # autograd records: diffusers' path
    assert x.grad is not None
    with torch.no_grad():
        attn(x, torch.randn(1, 4, 32), None, None)  # cross-attention: no RoPE


def test_model_switch_keeps_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    check_model_switch(monkeypatch, qk_rope, "qk_norm_rope_reference", "set_fused_qk_rope", 1)


def test_op_is_opaque_to_compile() -> None:
    q, k = torch.randn(2, 6, 32), torch.randn(2, 6, 32)
    cos, sin = _rope_tables(6, 16)
    weight = torch.ones(32)
    torch.library.opcheck(torch.ops.longvie.qk_norm_rope.default, (q, k, weight, weight, 1e-6, cos, sin, 2),
                          test_utils=("test_schema", "test_faketensor"))
    out_q, out_k = compiled_graph_calls(lambda *a: torch.ops.longvie.qk_norm_rope(*a),
                                        (q, k, weight, weight, 1e-6, cos, sin, 2), "qk_norm_rope")
    assert out_q.shape == out_k.shape == (2, 6, 2, 16)
    torch.library.opcheck(torch.ops.longvie.qk_norm_rope.default, (q[:, 2:], k, weight, weight, 1e-6, cos, sin, 2, 2),
                          test_utils=("test_schema", "test_faketensor"))


def test_queries_from_a_row_equal_those_rows_of_all_queries() -> None:
    q, k = torch.randn(2, 6, 32), torch.randn(2, 6, 32)
    cos, sin = _rope_tables(6, 16)
    weight_q, weight_k = torch.rand(32) + 0.5, torch.rand(32) + 0.5
    full_q, full_k = qk_rope.qk_norm_rope(q, k, weight_q, weight_k, 1e-6, cos, sin, 2)
    part_q, part_k = qk_rope.qk_norm_rope(q[:, 4:], k, weight_q, weight_k, 1e-6, cos, sin, 2, 4)
    assert torch.equal(part_k, full_k) and torch.equal(part_q, full_q[:, 4:])
    with pytest.raises(ValueError, match="from row 3"):
        qk_rope.qk_norm_rope(q[:, 4:], k, weight_q, weight_k, 1e-6, cos, sin, 2, 3)


_INTERPRETED = """
import json, sys, torch
from longvie import qk_rope
cases = json.loads(sys.argv[1])
errors = []
for seed, (batch, length, heads, head, dtype, start) in enumerate(cases):
    g = torch.Generator().manual_seed(seed)
    dtype = getattr(torch, dtype)
    q = (torch.randn(batch, length, heads * head, generator=g) * 3).to(dtype)
    k = torch.randn(batch, length, heads * head, generator=g).to(dtype)
    wq = torch.rand(heads * head, generator=g).to(dtype) + 0.5
    wk = torch.rand(heads * head, generator=g).to(dtype) + 0.5
    angles = torch.rand(1, length, 1, head, generator=g) * 6
    cos, sin = angles.cos(), angles.sin()
    q = q[:, start:].contiguous()  # queries of rows start: only (the last block's clip rows)
    ref = qk_rope.qk_norm_rope_reference(q, k, wq, wk, 1e-6, cos, sin, heads, start)
    out = qk_rope.qk_norm_rope_triton(q, k, wq, wk, 1e-6, cos, sin, heads, start)
    ulp = torch.finfo(dtype).eps
    relative = [float(((o.float() - r.float()).abs() / (r.float().abs() + 1) / ulp).max()) for o, r in zip(out, ref)]
    errors.append([[list(o.shape) == list(r.shape) for o, r in zip(out, ref)], max(relative)])
print(json.dumps(errors))
"""


def test_kernel_equals_the_reference_under_the_interpreter() -> None:
    cases = [(2, 5, 2, 16, "float32", 0), (1, 3, 3, 8, "bfloat16", 0), (1, 4, 5, 16, "float16", 0),  # 5 heads: masked
             (2, 6, 2, 16, "bfloat16", 2), (3, 5, 3, 8, "float32", 4)]  # queries from row 2 / 4 only
    results = run_interpreted(_INTERPRETED, cases)
    assert all(all(same) for same, _ in results)
    # relative error in units of the dtype's epsilon: a few ulps at most (rsqrt and summation order differ)
    assert max(error for _, error in results) <= 4.0, results


def test_the_kernel_compiles_for_an_h100_without_one() -> None:
    signature = {"query": "*bf16", "key": "*bf16", "weight_q": "*bf16", "weight_k": "*bf16", "cos": "*fp32",
                 "sin": "*fp32", "out_q": "*bf16", "out_k": "*bf16", "length": "i32", "eps": "fp32",
                 "query_start": "i32", "DIM": "constexpr", "HEAD": "constexpr", "BLOCK": "constexpr"}
    compiled = compile_for_sm90(qk_rope._kernel(), signature, {"DIM": 5120, "HEAD": 128, "BLOCK": 4096})
    assert compiled.asm["cubin"]


def test_mismatched_shapes_are_refused_clearly() -> None:
    q = torch.randn(1, 4, 32)
    cos, sin = _rope_tables(5, 16)
    with pytest.raises(ValueError, match="do not fit together"):
        qk_rope.qk_norm_rope_triton(q, q, torch.ones(32), torch.ones(32), 1e-6, cos, sin, 2)
