"""FlashAttention-4 routing for LongVie 2 (``longvie.fa4``), on CPU with a stand-in FA4 module.

The stand-in ``flash_attn.cute.interface.flash_attn_func`` computes exact softmax attention with
plain torch math in FA4's (B, L, H, D) layout and returns ``(out, lse)`` like the real b36 one; it
counts its calls, so a broken routing (nothing reaching FA4, or the wrong calls reaching it) fails.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass, field

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from diffusers.models import attention_dispatch
from diffusers.models.transformers import transformer_wan

from longvgenbench.errors import OptionError
from longvie import fa4
from longvie.config import TINY_CONFIG
from longvie.pipeline import ATTENTION_BACKENDS, attention_backend


@dataclass
class FakeFA4:
    """Records the shapes of every ``flash_attn_func`` call."""

    calls: list[tuple[tuple[int, ...], tuple[int, ...], float | None]] = field(default_factory=list)
    tiles: list[tuple[tuple[int, int], bool | None, bool | None]] = field(default_factory=list)

    def flash_attn_func(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, softmax_scale: float | None = None,
                        causal: bool = False, **_: object) -> tuple[torch.Tensor, None]:
        assert not causal
        self.calls.append((tuple(q.shape), tuple(k.shape), softmax_scale))
        scale = 1.0 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
        scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) * scale
        out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(dim=-1), v.float())
        return out.to(q.dtype).contiguous(), None  # FA4 allocates a contiguous (B, Lq, H, Dv) output

    def _flash_attn_fwd(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, softmax_scale: float | None = None,
                        tile_mn: tuple[int, int] | None = None, mma_pv_is_rs: bool | None = None,
                        intra_wg_overlap: bool | None = None, **_: object) -> tuple[torch.Tensor, None, None]:
        assert tile_mn is not None
        self.tiles.append((tile_mn, mma_pv_is_rs, intra_wg_overlap))
        return (self.flash_attn_func(q, k, v, softmax_scale)[0], None, None)  # b36 returns five; lse etc. None


@pytest.fixture
def fake_fa4(monkeypatch: pytest.MonkeyPatch) -> FakeFA4:
    """A stand-in FA4 importable as ``flash_attn.cute.interface``, a 'Hopper' GPU, fp32 CPU routing allowed."""
    fake = FakeFA4()
    interface = types.ModuleType(fa4.FA4_INTERFACE)
    interface.flash_attn_func = fake.flash_attn_func  # type: ignore[attr-defined]
    interface._flash_attn_fwd = fake._flash_attn_fwd  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flash_attn", types.ModuleType("flash_attn"))
    monkeypatch.setitem(sys.modules, "flash_attn.cute", types.ModuleType("flash_attn.cute"))
    monkeypatch.setitem(sys.modules, fa4.FA4_INTERFACE, interface)
    monkeypatch.setattr(fa4, "_gpu_capability_major", lambda: 9)
    monkeypatch.setattr(fa4, "SUPPORTED_DTYPES", (torch.float16, torch.bfloat16, torch.float32))
    monkeypatch.setattr(fa4, "SUPPORTED_DEVICE_TYPES", ("cuda", "cpu"))
    return fake


def _qkv(batch: int = 2, lq: int = 7, lk: int = 5, heads: int = 3, dim: int = 16,
         dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(batch, n, heads, dim, generator=g).to(dtype) for n in (lq, lk, lk))  # type: ignore


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v))).transpose(1, 2)


def test_tiny_longvie2_transformer_gives_the_same_output_with_fa4_routing(fake_fa4: FakeFA4) -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    with torch.no_grad():
        reference = model(**inputs)
        assert fake_fa4.calls == []
        with attention_backend("fa4"):
            assert transformer_wan.dispatch_attention_fn is fa4.dispatch_with_fa4
            routed = model(**inputs)
    assert transformer_wan.dispatch_attention_fn is attention_dispatch.dispatch_attention_fn
    # every attention call of every block went to FA4: self-attention, text and image cross-attention
    attentions = [m for m in model.modules() if type(m).__name__ == "WanAttention"]
    expected = sum(2 if m.add_k_proj is not None else 1 for m in attentions)
    assert len(fake_fa4.calls) == expected > 0
    heads = {q[2] for q, _, _ in fake_fa4.calls}
    assert heads == {TINY_CONFIG.num_heads, TINY_CONFIG.control_heads}  # (B, L, H, D): no transposes
    assert torch.allclose(routed, reference, atol=1e-5, rtol=0), (routed - reference).abs().max()


def test_dispatch_calls_fa4_for_plain_attention_and_passes_the_scale(fake_fa4: FakeFA4) -> None:
    q, k, v = _qkv()
    with fa4.fa4_attention_routing():
        out = transformer_wan.dispatch_attention_fn(q, k, v)
        scaled = transformer_wan.dispatch_attention_fn(q, k, v, scale=0.5)
    assert [c[2] for c in fake_fa4.calls] == [None, 0.5]
    assert out.shape == q.shape
    assert torch.allclose(out, _sdpa(q, k, v), atol=1e-5)
    assert not torch.allclose(scaled, out, atol=1e-3)


@pytest.mark.parametrize("kwargs", [
    {"attn_mask": "mask"}, {"is_causal": True}, {"dropout_p": 0.1}, {"backend": "native"},
    {"attention_kwargs": {"return_lse": False}}, {"dtype": torch.float64}, {"dim": 12}, {"dim": 160},
    {"kv_heads": 1, "enable_gqa": True},
], ids=lambda k: "-".join(map(str, k)))
def test_calls_fa4_cannot_run_go_to_the_original_function(fake_fa4: FakeFA4, monkeypatch: pytest.MonkeyPatch,
                                                          kwargs: dict) -> None:
    kwargs = dict(kwargs)
    original_calls: list[dict] = []

    def spy(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **rest: object) -> torch.Tensor:
        original_calls.append(rest)
        return torch.zeros_like(query)

    monkeypatch.setattr(transformer_wan, "dispatch_attention_fn", spy)
    q, k, v = _qkv(dim=kwargs.pop("dim", 16), dtype=kwargs.pop("dtype", torch.float32))
    if "kv_heads" in kwargs:
        k, v = k[:, :, : kwargs.pop("kv_heads")], v[:, :, :1]
    if kwargs.get("attn_mask") == "mask":
        kwargs["attn_mask"] = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool)
    with fa4.fa4_attention_routing():
        transformer_wan.dispatch_attention_fn(q, k, v, **kwargs)
    assert fake_fa4.calls == []
    assert len(original_calls) == 1
    assert transformer_wan.dispatch_attention_fn is spy


def test_default_routing_keeps_fp32_and_cpu_on_the_original(fake_fa4: FakeFA4, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fa4, "SUPPORTED_DTYPES", (torch.float16, torch.bfloat16))
    monkeypatch.setattr(fa4, "SUPPORTED_DEVICE_TYPES", ("cuda",))
    with fa4.fa4_attention_routing():
        for dtype in (torch.float32, torch.bfloat16):  # fp32 fails the dtype test, bf16 CPU the device test
            q, k, v = _qkv(dtype=dtype)
            transformer_wan.dispatch_attention_fn(q, k, v)
    assert fake_fa4.calls == []


def test_global_is_restored_after_the_context_an_exception_and_nesting(fake_fa4: FakeFA4) -> None:
    original = transformer_wan.dispatch_attention_fn
    with fa4.fa4_attention_routing():
        with fa4.fa4_attention_routing():
            assert transformer_wan.dispatch_attention_fn is fa4.dispatch_with_fa4
        assert transformer_wan.dispatch_attention_fn is fa4.dispatch_with_fa4
    assert transformer_wan.dispatch_attention_fn is original
    with pytest.raises(KeyError, match="boom"), fa4.fa4_attention_routing():
        raise KeyError("boom")
    assert transformer_wan.dispatch_attention_fn is original
    assert fa4._fallback is None


def test_compiled_function_keeps_fa4_as_one_opaque_op(fake_fa4: FakeFA4) -> None:
    q, k, v = _qkv()
    torch.library.opcheck(torch.ops.longvie.fa4_attention.default, (q, k, v, None),
                          test_utils=("test_schema", "test_faketensor"))
    fake_fa4.calls.clear()

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return transformer_wan.dispatch_attention_fn(q, k, v) * 2

    torch._dynamo.reset()
    with fa4.fa4_attention_routing():
        out = torch.compile(attend, backend="aot_eager", fullgraph=True)(q, k, v)
    assert len(fake_fa4.calls) == 1
    assert torch.allclose(out, 2 * _sdpa(q, k, v), atol=1e-5)


def test_fa4_is_a_pipeline_attention_backend() -> None:
    assert "fa4" in ATTENTION_BACKENDS


@pytest.mark.parametrize("situation, words", [
    ("no-cuda", "no CUDA device"), ("ampere", "compute capability 8.x"), ("not-installed", "cannot be imported"),
])
def test_fa4_unavailable_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch, situation: str, words: str) -> None:
    monkeypatch.setattr(fa4, "_gpu_capability_major", lambda: {"no-cuda": None, "ampere": 8}.get(situation, 9))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA A100")
    monkeypatch.setitem(sys.modules, fa4.FA4_INTERFACE, None)  # import fails
    assert not fa4.fa4_available()
    original = transformer_wan.dispatch_attention_fn
    for attempt in (lambda: attention_backend("fa4"), lambda: fa4.fa4_attention_routing().__enter__(), fa4.require_fa4):
        with pytest.raises(fa4.FlashAttention4Unavailable, match=words) as info:
            attempt()
        assert isinstance(info.value, OptionError)
        assert "pip install flash-attn-4" in str(info.value) and "Hopper" in str(info.value)
    assert transformer_wan.dispatch_attention_fn is original


def test_adapter_rejects_fa4_without_cuda_or_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    from longvie.adapter import LongVie2Model

    with pytest.raises(OptionError, match="CUDA device and dtype bf16"):
        LongVie2Model(device="cpu", attention="fa4")
    with pytest.raises(OptionError, match="CUDA device and dtype bf16"):
        LongVie2Model(device="cuda", attention="fa4", dtype="fp32")
    monkeypatch.setattr(fa4, "_gpu_capability_major", lambda: None)
    with pytest.raises(fa4.FlashAttention4Unavailable, match="no CUDA device"):
        LongVie2Model(device="cuda", attention="fa4")


def test_attention_benchmark_cpu_smoke_times_math_and_the_fa4_op(fake_fa4: FakeFA4,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "attention_kernels.py"
    spec = importlib.util.spec_from_file_location("attention_kernels_under_test", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    rows = bench.main(["--cpu-smoke", "--repeats", "2", "--warmup", "1"])
    attention = [r for r in rows if r["kind"] == "attention"]
    assert [(r["name"], r["backend"]) for r in attention] == [("self", "math"), ("self", "fa4"),
                                                              ("cross", "math"), ("cross", "fa4")]
    assert all("error" not in r and r["ms"] > 0 and r["reference"] == "math" for r in attention)
    assert max(r["max_abs_diff"] for r in attention) < 1e-5
    assert len(fake_fa4.calls) == 2 * (1 + 2)  # first call + 2 timed repeats per shape (warm-up 1 = first call)
    assert rows[-1]["kind"] == "gemm" and rows[-1]["tflops"] >= 0


def test_a_block_compiled_outside_the_routing_recompiles_inside_it(fake_fa4: FakeFA4) -> None:
    """dynamo guards on the Wan module's global: entering the routing never silently keeps an SDPA graph."""
    torch.manual_seed(0)
    attn = transformer_wan.WanAttention(dim=32, heads=2, dim_head=16, processor=transformer_wan.WanAttnProcessor())
    attn.eval()
    x = torch.randn(1, 10, 32)
    torch._dynamo.reset()
    compiled = torch.compile(attn, backend="aot_eager")
    with torch.no_grad():
        before = compiled(x)
        assert fake_fa4.calls == []
        with fa4.fa4_attention_routing():
            inside = compiled(x)
            assert len(fake_fa4.calls) == 1
            compiled(x)  # the second call inside reuses the fa4 graph
            assert len(fake_fa4.calls) == 2
        after = compiled(x)
    assert len(fake_fa4.calls) == 2
    assert torch.allclose(inside, before, atol=1e-5) and torch.equal(after, before)


@pytest.mark.parametrize("text, tile", [
    ("", fa4.Fa4Tile()), ("default", fa4.Fa4Tile()), ("128x176", fa4.Fa4Tile(128, 176)),
    ("192x128:nors", fa4.Fa4Tile(192, 128, pv_from_registers=False)),
    ("128X144:rs:nool", fa4.Fa4Tile(128, 144, pv_from_registers=True, overlap=False)),
])
def test_fa4_tile_parses_and_prints_back(text: str, tile: fa4.Fa4Tile) -> None:
    assert fa4.Fa4Tile.parse(text) == tile
    assert fa4.Fa4Tile.parse(str(tile)) == tile


@pytest.mark.parametrize("text, words", [
    ("128", "expected MxN"), ("128x100", "N of 16"), ("100x128", "M a multiple of 64"), ("0x128", "both sizes"),
    ("128x128:fast", "unknown flags"), ("axb", "expected MxN"),
])
def test_fa4_tile_rejects_bad_text_clearly(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        fa4.Fa4Tile.parse(text)


def test_routing_with_tiles_sends_them_to_self_attention_and_restores_the_default(fake_fa4: FakeFA4) -> None:
    q, k, v = _qkv(lq=5, lk=5, heads=3)
    q2, k2, v2 = _qkv(lq=5, lk=5, heads=2)
    cross = _qkv(lq=7, lk=5, heads=3)  # fewer keys than queries, as LongVie 2's text and image contexts
    with fa4.fa4_attention_routing(tiles=fa4.Fa4TilePlan.parse("128x176:nors")):
        out = transformer_wan.dispatch_attention_fn(q, k, v)
        transformer_wan.dispatch_attention_fn(*cross)  # cross-attention: FA4's own tile (public function)
        with fa4.fa4_attention_routing(tiles=fa4.Fa4TilePlan.parse("3=192x128,2=128x144")):  # nested: inside only
            transformer_wan.dispatch_attention_fn(q, k, v)
            transformer_wan.dispatch_attention_fn(q2, k2, v2)
        transformer_wan.dispatch_attention_fn(q, k, v)
        transformer_wan.dispatch_attention_fn(*_qkv(lq=3, lk=5, heads=3))  # history rows as keys only: self
    with fa4.fa4_attention_routing():
        transformer_wan.dispatch_attention_fn(q, k, v)  # default tile: the public flash_attn_func
    assert fake_fa4.tiles == [((128, 176), False, None), ((192, 128), None, None), ((128, 144), None, None),
                              ((128, 176), False, None), ((128, 176), False, None)]
    assert len(fake_fa4.calls) == 7
    assert fa4._plan == fa4.Fa4TilePlan()
    assert torch.allclose(out, _sdpa(q, k, v), atol=1e-5)


@pytest.mark.parametrize("text", ["default", "128x176", "40=192x128:nors,20=128x176", "40=192x128:nors,128x144",
                                  "192x128:nors,x=sdpa", "default,x=sdpa"])
def test_tile_plan_parses_and_prints_back(text: str) -> None:
    plan = fa4.Fa4TilePlan.parse(text)
    assert str(plan) == text
    assert fa4.Fa4TilePlan.parse(text.replace(",", "/")) == plan


def test_plan_can_send_cross_attention_to_the_original_function(fake_fa4: FakeFA4,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    original_calls: list[tuple] = []

    def spy(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **rest: object) -> torch.Tensor:
        original_calls.append(tuple(key.shape))
        return torch.zeros_like(query)

    monkeypatch.setattr(transformer_wan, "dispatch_attention_fn", spy)
    self_attention, cross = _qkv(lq=5, lk=5, heads=3), _qkv(lq=7, lk=5, heads=3)
    with fa4.fa4_attention_routing(tiles=fa4.Fa4TilePlan.parse("128x176:nors,x=sdpa")):
        transformer_wan.dispatch_attention_fn(*self_attention)
        transformer_wan.dispatch_attention_fn(*cross)
        transformer_wan.dispatch_attention_fn(*_qkv(lq=3, lk=5, heads=3))  # history rows as keys only: stays
    assert len(fake_fa4.calls) == 2 and fake_fa4.tiles == [((128, 176), False, None)] * 2  # self-attention only
    assert original_calls == [tuple(cross[1].shape)]


def test_auto_plan_is_the_tuned_one_on_hopper_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fa4, "_gpu_capability_major", lambda: 9)
    assert fa4.Fa4TilePlan.parse("auto") == fa4.TUNED_SM90_PLAN
    assert str(fa4.TUNED_SM90_PLAN) == "192x128:nors"
    assert fa4.TUNED_SM90_PLAN.for_call(*_qkv(lq=4, lk=4, dim=128)[:2]) == fa4.Fa4Tile(192, 128, False)
    assert fa4.TUNED_SM90_PLAN.for_call(*_qkv(lq=4, lk=4, dim=64)[:2]) == fa4.Fa4Tile()  # measured for 128 only
    monkeypatch.setattr(fa4, "_gpu_capability_major", lambda: 10)
    assert fa4.Fa4TilePlan.parse("auto") == fa4.Fa4TilePlan()
    with pytest.raises(ValueError, match="HEADS=TILE"):
        fa4.Fa4TilePlan.parse("x=128x128")


def test_adapter_speed_options_are_checked_and_reported() -> None:
    from longvie.adapter import LongVie2Model, options_of

    with pytest.raises(OptionError, match="needs attention=fa4"):
        LongVie2Model(device="cpu", fa4_tile="192x128:nors")
    with pytest.raises(OptionError, match="expected MxN"):
        LongVie2Model(device="cpu", fa4_tile="fast")
    with pytest.raises(OptionError, match="needs compile=true"):
        LongVie2Model(device="cpu", compile_mode="max-autotune-no-cudagraphs")
    model = LongVie2Model(device="cpu", compile=True, compile_mode="max-autotune-no-cudagraphs")
    options = options_of(model)
    assert model.compile_mode == "max-autotune-no-cudagraphs"
    assert options["fa4_tile"] == "default"  # auto on a machine without a Hopper GPU
    assert options["gelu_epilogue"] is True and options["fused_qk_rope"] is True and options["batched_vae"] is False
    assert options["fused_norms"] is True and options["cache_cross_attention"] is True
    assert options["broadcast_guidance"] is True

