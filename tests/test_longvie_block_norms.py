"""A Wan block's LayerNorms with their residual adds and modulation as Triton kernels (``longvie.block_norms``).

On CPU the ops run their plain-torch reference, and the fused block must equal diffusers' own forward;
the Triton kernel runs under Triton's CPU interpreter (``TRITON_INTERPRET=1``, in a subprocess, since
the variable is read when the kernel is built) against the reference, and is compiled for sm_90 here.
The interpreter rounds float32 to bfloat16 by truncation where the GPU rounds to nearest, so there the
residual stream may differ from the reference by one unit in the last place.
"""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from diffusers.models.transformers.transformer_wan import WanTransformerBlock
from longvie_kernels import check_model_switch, compile_for_sm90, compiled_graph_calls, run_interpreted

from longvie import block_norms


def _block(dim: int = 32, heads: int = 2, cross_attn_norm: bool = True) -> WanTransformerBlock:
    torch.manual_seed(0)
    block = WanTransformerBlock(dim, 48, heads, cross_attn_norm=cross_attn_norm, eps=1e-6, added_kv_proj_dim=dim)
    with torch.no_grad():
        for name, p in block.named_parameters():
            if "norm" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    return block.eval()


def _block_inputs(dim: int = 32, batch: int = 2, length: int = 6) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(batch, length, dim, generator=g) * 2
    context = torch.randn(batch, 257 + 512, dim, generator=g)  # image tokens, then 512 text tokens
    temb = torch.randn(batch, 6, dim, generator=g) * 0.5
    return hidden, context, temb


def test_fused_block_equals_diffusers_block_on_cpu() -> None:
    block = _block()
    hidden, context, temb = _block_inputs()
    with torch.no_grad():
        reference = block(hidden, context, temb, None)
        assert block_norms.set_fused_block_norms([block], True) == 1
        assert isinstance(block, block_norms.FusedNormWanBlock)
        fused = block(hidden, context, temb, None)
        block_norms.set_fused_block_norms([block], False)
        assert type(block) is WanTransformerBlock
    assert torch.allclose(fused, reference, atol=1e-5), (fused - reference).abs().max()


def test_bf16_block_matches_diffusers_up_to_rounding() -> None:
    block = _block().to(torch.bfloat16)
    hidden, context, temb = (t.to(torch.bfloat16) for t in _block_inputs())
    with torch.no_grad():
        reference = block(hidden, context, temb, None).float()
        block_norms.set_fused_block_norms([block], True)
        fused = block(hidden, context, temb, None).float()
    assert torch.allclose(fused, reference, rtol=0, atol=2e-2 * reference.abs().max()), (fused - reference).abs().max()


def test_autograd_and_blocks_without_cross_norm_take_diffusers_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fused ops must not run here")

    monkeypatch.setattr(block_norms, "residual_layernorm_reference", forbidden)
    block = _block()
    block_norms.set_fused_block_norms([block], True)
    hidden, context, temb = _block_inputs()
    hidden.requires_grad_(True)
    block(hidden, context, temb, None).sum().backward()  # autograd records: diffusers' forward
    assert hidden.grad is not None
    plain = _block(cross_attn_norm=False)
    block_norms.set_fused_block_norms([plain], True)
    with torch.no_grad():
        plain(hidden.detach(), context, temb, None)


def test_model_switch_keeps_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # three calls a block: before self-attention, after it, after cross-attention
    check_model_switch(monkeypatch, block_norms, "residual_layernorm_reference", "set_fused_block_norms", 3)


def test_ops_are_opaque_to_compile() -> None:
    x, y = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    gate, scale, shift = torch.randn(2, 1, 16), torch.randn(2, 1, 16), torch.randn(2, 1, 16)
    weight, bias = torch.rand(16) + 0.5, torch.randn(16)
    torch.library.opcheck(torch.ops.longvie.layernorm_modulate.default, (x, scale, shift, 1e-6),
                          test_utils=("test_schema", "test_faketensor"))
    torch.library.opcheck(torch.ops.longvie.residual_layernorm.default,
                          (x, y, gate, weight, bias, None, None, 1e-6), test_utils=("test_schema", "test_faketensor"))
    torch.library.opcheck(torch.ops.longvie.residual_layernorm.default,
                          (x, y, gate, None, None, scale, shift, 1e-6, torch.randn(2, 3, 16), 2),
                          test_utils=("test_schema", "test_faketensor"))
    stream, normed = compiled_graph_calls(lambda *a: torch.ops.longvie.residual_layernorm(*a),
                                          (x, y, None, None, None, scale, shift, 1e-6), "residual_layernorm")
    assert stream.shape == normed.shape == x.shape


_INTERPRETED = """
import json, sys, torch
from longvie import block_norms
cases = json.loads(sys.argv[1])
results = []
for seed, (batch, length, dim, dtype, kind, mod_batch) in enumerate(cases):
    start = 2 if kind == "inject" else 0
    g = torch.Generator().manual_seed(seed)
    dtype = getattr(torch, dtype)
    x = (torch.randn(batch, length, dim, generator=g) * 3).to(dtype)
    y = torch.randn(batch, length, dim, generator=g).to(dtype)
    mod = lambda: torch.randn(mod_batch, 1, dim, generator=g) * 0.5
    weight, bias = torch.rand(dim, generator=g) + 0.5, torch.randn(dim, generator=g)
    args = {"mod": (x, None, None, None, None, mod(), mod()),
            "gate_affine": (x, y, mod(), weight, bias, None, None),
            "add_mod": (x, y, None, None, None, mod(), mod()),
            "inject": (x, y, mod(), None, None, mod(), mod())}[kind]
    extra = (torch.randn(batch, length - start, dim, generator=g).to(dtype), start) if kind == "inject" else ()
    ref = block_norms.residual_layernorm_reference(*args, 1e-6, *extra)
    out = block_norms.residual_layernorm_triton(*args, 1e-6, *extra)
    ulp = torch.finfo(dtype).eps
    err = [float(((o.float() - r.float()).abs() / (r.float().abs() + 1) / ulp).max()) for o, r in zip(out, ref)]
    results.append([[list(o.shape) == list(r.shape) for o, r in zip(out, ref)], err])
print(json.dumps(results))
"""


def test_kernel_equals_the_reference_under_the_interpreter() -> None:
    cases = [(2, 5, 48, "float32", "mod", 2), (2, 3, 40, "bfloat16", "gate_affine", 2),
             (1, 4, 24, "float16", "add_mod", 1), (3, 2, 32, "bfloat16", "add_mod", 1),  # non-power-of-2 rows too
             (2, 5, 40, "bfloat16", "inject", 2), (2, 4, 16, "float32", "inject", 1)]  # + injection from row 2
    results = run_interpreted(_INTERPRETED, cases)
    assert all(all(same) for same, _ in results)
    stream_errors = [err[0] for _, err in results]
    normed_errors = [err[1] for _, err in results]
    assert max(stream_errors) <= 2.0, results  # truncation vs round-to-nearest: one ulp of |x| (+1 relative)
    assert max(normed_errors) <= 4.0, results  # plus summation order and rsqrt


def test_the_kernel_compiles_for_an_h100_without_one() -> None:
    pointers = {name: "*bf16" for name in ("x", "y", "out_stream", "out_normed")}
    pointers |= {name: "*fp32" for name in ("gate", "weight", "bias", "scale", "shift")}
    signature = {**pointers, "length": "i32", "gate_stride": "i32", "scale_stride": "i32", "shift_stride": "i32",
                 "eps": "fp32", "injection": "*bf16", "injection_start": "i32", "DIM": "constexpr",
                 "BLOCK": "constexpr", "HAS_RESIDUAL": "constexpr", "HAS_GATE": "constexpr", "HAS_AFFINE": "constexpr",
                 "HAS_MODULATION": "constexpr", "HAS_INJECTION": "constexpr"}
    order = ["x", "y", "gate", "weight", "bias", "scale", "shift", "out_stream", "out_normed", "length",
             "gate_stride", "scale_stride", "shift_stride", "eps", "injection", "injection_start", "DIM", "BLOCK",
             "HAS_RESIDUAL", "HAS_GATE", "HAS_AFFINE", "HAS_MODULATION", "HAS_INJECTION"]
    compiled = compile_for_sm90(block_norms._kernel(), {k: signature[k] for k in order},
                                {"DIM": 5120, "BLOCK": 8192, "HAS_RESIDUAL": True, "HAS_GATE": True,
                                 "HAS_AFFINE": False, "HAS_MODULATION": True, "HAS_INJECTION": True})
    assert compiled.asm["cubin"]


def test_mismatched_shapes_are_refused_clearly() -> None:
    x = torch.randn(2, 4, 16)
    with pytest.raises(ValueError, match="must be the same"):
        block_norms.residual_layernorm_triton(x, torch.randn(2, 5, 16), None, None, None, None, None, 1e-6)
    with pytest.raises(ValueError, match=r"is not \(B, 1, 16\)"):
        block_norms.residual_layernorm_triton(x, None, None, None, None, torch.randn(2, 16), torch.randn(2, 16), 1e-6)
    with pytest.raises(ValueError, match="come in pairs"):
        block_norms.residual_layernorm_triton(x, None, None, torch.ones(16), None, None, None, 1e-6)
    with pytest.raises(ValueError, match=r"is not \(2, 3, 16\) for rows 1:"):
        block_norms.residual_layernorm(x, x, None, None, None, None, None, 1e-6, torch.randn(2, 4, 16), 1)
    with pytest.raises(ValueError, match="needs y and a start row"):
        block_norms.residual_layernorm(x, x, None, None, None, None, None, 1e-6, torch.randn(2, 0, 16), 4)


@pytest.mark.parametrize("qk_rope", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_handoff_between_blocks_keeps_the_model_output(monkeypatch: pytest.MonkeyPatch, qk_rope: bool,
                                                        shared: bool) -> None:
    """The base blocks leave their feed-forward residual and the control injection to the next block's first
    kernel, and the last block computes the clip's rows only: the same predictions as block by block."""
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    from longvie.config import TINY_CONFIG

    model = tiny_transformer()
    model.set_fused_block_norms(True)
    model.set_fused_qk_rope(qk_rope)
    inputs = tiny_forward_inputs()
    if shared:  # batched guidance: latents of batch 1, text of batch 2 (block 0 runs through longvie.broadcast)
        g = torch.Generator().manual_seed(3)
        inputs["text_embeds"] = torch.cat([inputs["text_embeds"], torch.randn(inputs["text_embeds"].shape,
                                                                                 generator=g)])
    injections: list[int] = []
    original = block_norms.residual_layernorm_reference

    def recording(*args: object, **kwargs: object) -> object:
        injection = args[8] if len(args) > 8 else kwargs.get("injection")
        if injection is not None:
            injections.append(injection.shape[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(block_norms, "residual_layernorm_reference", recording)
    ffn_rows: list[int] = []
    model.base.blocks[-1].ffn.register_forward_hook(lambda module, args, out: ffn_rows.append(args[0].shape[1]))
    clip_tokens = 3 * 2 * 3  # the (3, 4, 6) latent grid in 1x2x2 patches
    with torch.no_grad():
        assert model.set_fused_handoff(False) is False
        reference = model(**inputs)
        assert injections == [] and ffn_rows == [clip_tokens + 2 * 2 * 3]  # every row, history (2 frames) too
        assert model.set_fused_handoff(True) is True
        handed = model(**inputs)
    assert injections == [clip_tokens] * TINY_CONFIG.control_layers  # every injection inside the next block's kernel
    assert ffn_rows[-1] == clip_tokens  # the last block: the clip's rows only
    torch.testing.assert_close(handed, reference, rtol=0, atol=1e-5)


def test_deferred_residual_finishes_on_the_unfused_path() -> None:
    """A block that cannot take the fused path (here: autograd recording) finishes a handed-over residual and
    its injection itself, and ``query_start`` still returns the later rows only."""
    block = _block()
    block_norms.set_fused_block_norms([block], True)
    hidden, context, temb = _block_inputs()
    g = torch.Generator().manual_seed(5)
    branch, gate = torch.randn(hidden.shape, generator=g), torch.randn(2, 1, hidden.shape[2], generator=g)
    injection = torch.randn(2, 4, hidden.shape[2], generator=g)
    pending = block_norms.DeferredResidual(hidden, branch, gate)
    with torch.no_grad():
        fused = block(pending, context, temb, None, injection=injection, injection_start=2, query_start=1)
        finished = block_norms.complete_residual(pending, injection, 2)
        expected = block(finished, context, temb, None)[:, 1:]
        deferred = block(finished, context, temb, None, defer=True)
    assert isinstance(deferred, block_norms.DeferredResidual)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)
    unfused = block(pending._replace(stream=hidden.clone().requires_grad_(True)), context, temb, None,
                    injection=injection, injection_start=2, query_start=1, defer=True)
    assert isinstance(unfused, torch.Tensor) and unfused.requires_grad
    torch.testing.assert_close(unfused.detach(), expected, rtol=0, atol=1e-5)
    assert torch.equal(finished[:, :2], (hidden + branch * gate)[:, :2])


def test_handoff_with_a_control_branch_beside_every_base_block() -> None:
    """When the last base block is followed by an injection, it keeps every row (the injection goes to the clip's
    rows of the full stream) and the handoff still equals the block-by-block path."""
    from dataclasses import replace

    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    from longvie.config import TINY_CONFIG

    config = replace(TINY_CONFIG, control_layers=TINY_CONFIG.num_layers)
    model = tiny_transformer(config)
    model.set_fused_block_norms(True)
    inputs = tiny_forward_inputs(config)
    with torch.no_grad():
        model.set_fused_handoff(False)
        reference = model(**inputs)
        model.set_fused_handoff(True)
        handed = model(**inputs)
    torch.testing.assert_close(handed, reference, rtol=0, atol=1e-5)
