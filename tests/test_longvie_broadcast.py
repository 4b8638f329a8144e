"""Batched guidance on one stream of latents (``longvie.broadcast``): the same predictions, the first blocks'
self-attention computed once."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch

from longvie.broadcast import run_block_broadcast, widen
from longvie.config import TINY_CONFIG, SamplerConfig
from longvie.sampler import Conditioning, sample


def _two_texts(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.cat([inputs["text_embeds"], torch.randn(inputs["text_embeds"].shape, generator=g)])


@pytest.mark.parametrize("fused_norms", [False, True])
@pytest.mark.parametrize("cached", [False, True])
def test_one_stream_with_two_texts_equals_the_doubled_batch(fused_norms: bool, cached: bool) -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    model.set_fused_block_norms(fused_norms)
    inputs = tiny_forward_inputs()
    text = _two_texts(inputs)
    doubled = {k: torch.cat([v, v]) for k, v in inputs.items()}
    doubled["text_embeds"] = text
    seen: dict[str, list[int]] = {"base0": [], "base1": [], "dense0": [], "sparse0": [], "dense1": []}
    ctrl = model.controller
    modules = {"base0": model.base.blocks[0], "base1": model.base.blocks[1], "dense0": ctrl.dense_blocks[0],
               "sparse0": ctrl.sparse_blocks[0], "dense1": ctrl.dense_blocks[1]}

    def record(name: str) -> object:
        return lambda module, args, out: seen[name].append(args[0].shape[0])

    hooks = [modules[name].attn1.register_forward_hook(record(name)) for name in modules]
    with torch.no_grad():
        cache = model.cross_attention_cache(text, doubled["image_embeds"]) if cached else None
        reference = model(**doubled, cross_cache=cache)
        for calls in seen.values():
            calls.clear()
        shared = model(**{**inputs, "text_embeds": text}, cross_cache=cache)
    for hook in hooks:
        hook.remove()
    assert shared.shape == reference.shape and shared.shape[0] == 2
    torch.testing.assert_close(shared, reference, rtol=0, atol=1e-5)
    # the first blocks' self-attention ran once for both texts, the later blocks' once per text
    assert seen == {"base0": [1], "base1": [2], "dense0": [1], "sparse0": [1], "dense1": [2]}
    assert not torch.allclose(shared[0], shared[1])  # the two texts still give two predictions


@pytest.mark.parametrize("cfg_scale", [5.0, 1.0])
def test_sampling_with_broadcast_guidance_equals_the_doubled_batch(cfg_scale: float) -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    g = torch.Generator().manual_seed(5)
    cond = Conditioning(text=inputs["text_embeds"], negative_text=torch.randn(inputs["text_embeds"].shape, generator=g),
                        image_embeds=inputs["image_embeds"], image_condition=inputs["image_condition"],
                        dense=inputs["dense"], sparse=inputs["sparse"], history=inputs["history"])
    config = SamplerConfig(steps=3, cfg_scale=cfg_scale, height=32, width=48, num_frames=9)
    assert model.broadcast_guidance  # on by default
    batches: list[int] = []
    hook = model.base.blocks[0].attn1.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
    shared = sample(model, inputs["latents"], cond, config, batched_cfg=True)
    assert batches == [1, 1, 1]
    batches.clear()
    assert not model.set_broadcast_guidance(False)
    doubled = sample(model, inputs["latents"], cond, config, batched_cfg=True)
    hook.remove()
    assert batches == ([2, 2, 2] if cfg_scale != 1.0 else [1, 1, 1])
    torch.testing.assert_close(shared, doubled, rtol=0, atol=1e-5)


def test_texts_and_latents_of_different_batches_are_refused() -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    three = {k: torch.cat([v] * 3) for k, v in inputs.items()}
    three["text_embeds"] = _two_texts(inputs)
    with torch.no_grad(), pytest.raises(ValueError, match="text of batch 2 for latents of batch 3"):
        model(**three)


def test_the_block_forward_refuses_a_stream_of_more_than_one_item() -> None:
    from longvie_tiny import tiny_transformer

    block = tiny_transformer().base.blocks[0]
    dim = TINY_CONFIG.dim
    with torch.no_grad(), pytest.raises(ValueError, match="batch 1"):
        run_block_broadcast(block, torch.zeros(2, 4, dim), torch.zeros(2, 3, dim), torch.zeros(2, 6, dim), None)
    with pytest.raises(ValueError, match="batch of 1"):
        widen(torch.zeros(2, 3), 4)


def test_the_fused_block_forward_compiles_as_one_graph() -> None:
    """No graph break: ``compile_blocks`` compiles it beside the blocks, and a break would run it part eager."""
    from longvie_tiny import tiny_transformer

    model = tiny_transformer()
    model.set_fused_block_norms(True)
    block = model.base.blocks[1]
    dim = TINY_CONFIG.dim
    g = torch.Generator().manual_seed(3)
    stream = torch.randn(1, 9, dim, generator=g)
    context = torch.randn(2, 7, dim, generator=g)
    temb = torch.randn(1, 6, dim, generator=g).expand(2, -1, -1)
    rope = model._rope(1, 3, 3, stream.device)
    with torch.no_grad():
        eager = run_block_broadcast(block, stream, context, temb, rope)
        compiled_fn = torch.compile(run_block_broadcast, backend="eager", fullgraph=True)
        compiled = compiled_fn(block, stream, context, temb, rope)
        reference = block(widen(stream, 2), context, temb, rope)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)
    torch.testing.assert_close(eager, reference, rtol=0, atol=1e-5)


def test_the_base_alone_without_controls_or_history_broadcasts_too() -> None:
    """wan2.1-i2v: no controller, no history."""
    from longvie_tiny import tiny_forward_inputs

    from longvie.model import LongVie2Transformer

    torch.manual_seed(0)
    model = LongVie2Transformer(TINY_CONFIG, with_controller=False).eval()
    inputs = {k: v for k, v in tiny_forward_inputs().items() if k not in ("dense", "sparse", "history")}
    text = _two_texts(inputs)
    doubled = {k: torch.cat([v, v]) for k, v in inputs.items()} | {"text_embeds": text}
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs | {"text_embeds": text}), model(**doubled), rtol=0, atol=1e-5)
