"""Cross-attention keys and values computed once per clip (``longvie.cross_cache``): same output, fewer projections."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from diffusers.models.transformers.transformer_wan import WanAttention, WanAttnProcessor

from longvie.config import TINY_CONFIG, SamplerConfig
from longvie.cross_cache import CachedCrossAttnProcessor, cross_kv
from longvie.sampler import Conditioning, sample


def test_forward_with_the_cache_equals_the_forward_without() -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    with torch.no_grad():
        reference = model(**inputs)
        cache = model.cross_attention_cache(inputs["text_embeds"], inputs["image_embeds"])
        cached = model(**inputs, cross_cache=cache)
    assert len(cache.base) == TINY_CONFIG.num_layers
    assert len(cache.dense) == len(cache.sparse) == TINY_CONFIG.control_layers
    assert cache.nbytes() > 0
    torch.testing.assert_close(cached, reference, rtol=0, atol=1e-6)


def test_a_cache_for_another_batch_is_refused() -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    with torch.no_grad():
        two = {k: torch.cat([inputs[k]] * 2) for k in ("text_embeds", "image_embeds")}
        cache = model.cross_attention_cache(two["text_embeds"], two["image_embeds"])
        three = {k: torch.cat([v] * 3) for k, v in inputs.items()}  # batch 1 would share its latents (broadcast)
        with pytest.raises(ValueError, match="text of batch 2 for latents of batch 3"):
            model(**three, cross_cache=cache)


def _conditioning(inputs: dict[str, torch.Tensor]) -> Conditioning:
    g = torch.Generator().manual_seed(5)
    return Conditioning(text=inputs["text_embeds"], negative_text=torch.randn(inputs["text_embeds"].shape, generator=g),
                        image_embeds=inputs["image_embeds"], image_condition=inputs["image_condition"],
                        dense=inputs["dense"], sparse=inputs["sparse"], history=inputs["history"])


@pytest.mark.parametrize("cfg_scale, batched", [(5.0, True), (5.0, False), (1.0, True)])
def test_sampling_with_the_cache_equals_sampling_without(cfg_scale: float, batched: bool) -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    cond = _conditioning(inputs)
    config = SamplerConfig(steps=3, cfg_scale=cfg_scale, height=32, width=48, num_frames=9)
    key_calls = []
    handle = model.base.blocks[0].attn2.to_k.register_forward_hook(lambda *args: key_calls.append(1))
    reference = sample(model, inputs["latents"], cond, config, batched_cfg=batched)
    uncached_calls = len(key_calls)
    key_calls.clear()
    assert model.set_cross_attention_cache(True)
    cached = sample(model, inputs["latents"], cond, config, batched_cfg=batched)
    handle.remove()
    passes = 1 if cfg_scale == 1.0 or batched else 2
    assert uncached_calls == 3 * passes and len(key_calls) == passes  # once per clip, not once per step
    torch.testing.assert_close(cached, reference, rtol=0, atol=1e-5)


def test_processor_takes_a_tensor_as_diffusers_does_and_a_tuple_as_cached_keys() -> None:
    torch.manual_seed(0)
    attn = WanAttention(dim=32, heads=2, dim_head=16, eps=1e-6, added_kv_proj_dim=32, cross_attention_dim_head=16,
                        processor=WanAttnProcessor()).eval()
    x, context = torch.randn(2, 5, 32), torch.randn(2, 257 + 512, 32)
    with torch.no_grad():
        reference = attn(x, context)
        attn.set_processor(CachedCrossAttnProcessor())
        from_tensor = attn(x, context)
        from_cache = attn(x, cross_kv(attn, context))
    assert torch.equal(from_tensor, reference)
    torch.testing.assert_close(from_cache, reference, rtol=0, atol=1e-6)


def test_sampling_with_caches_built_by_the_caller_equals_building_them_inside() -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    from longvie.sampler import cross_caches

    model = tiny_transformer()
    model.set_cross_attention_cache(True)
    inputs = tiny_forward_inputs()
    cond = _conditioning(inputs)
    config = SamplerConfig(steps=2, cfg_scale=5.0, height=32, width=48, num_frames=9)
    caches = cross_caches(model, cond, config.cfg_scale, True, None)  # outside no_grad, as a benchmark may call it
    assert not any(t.requires_grad for t in caches.doubled.base[0])  # else compiled blocks would recompile
    key_calls = []
    handle = model.base.blocks[0].attn2.to_k.register_forward_hook(lambda *args: key_calls.append(1))
    given = sample(model, inputs["latents"], cond, config, batched_cfg=True, caches=caches)
    assert key_calls == []  # nothing projected again
    built = sample(model, inputs["latents"], cond, config, batched_cfg=True)
    handle.remove()
    assert key_calls == [1]
    torch.testing.assert_close(given, built, rtol=0, atol=0)
