"""LongVie 2 transformer: tiny forward on CPU, zero-init fusion, history isolation, real-size name coverage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("safetensors", reason="the longvie extra is not installed")
import torch

from longvie import checkpoint as ck
from longvie.config import REAL_CONFIG, TINY_CONFIG
from longvie.model import LongVie2Transformer
from longvie.sampler import flow_sigmas, model_timestep

DATA = Path(__file__).parent / "data" / "longvie"


def _inputs(batch: int = 1, frames: int = 3, h: int = 4, w: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    c = TINY_CONFIG

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    return {"latents": r(batch, 16, frames, h, w), "timestep": torch.full((batch,), 996.0),
            "text_embeds": r(batch, 512, c.text_dim), "image_embeds": r(batch, 257, c.image_dim),
            "image_condition": r(batch, 20, frames, h, w), "dense": r(batch, 36, frames, h, w),
            "sparse": r(batch, 36, frames, h, w), "history": r(batch, 16, 2, h, w)}


@pytest.fixture(scope="module")
def fresh() -> LongVie2Transformer:
    torch.manual_seed(0)
    return LongVie2Transformer(TINY_CONFIG).eval()


@torch.no_grad()
def test_forward_without_control_equals_diffusers_forward(fresh):
    x = _inputs()
    ours = fresh(x["latents"], x["timestep"], x["text_embeds"], x["image_embeds"], x["image_condition"])
    theirs = fresh.base(torch.cat([x["latents"], x["image_condition"]], 1), x["timestep"], x["text_embeds"],
                        x["image_embeds"], return_dict=False)[0]
    assert ours.shape == x["latents"].shape
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


@torch.no_grad()
def test_zero_initialised_fusion_leaves_base_unchanged_and_perturbing_it_changes(fresh):
    x = _inputs()
    plain = fresh(x["latents"], x["timestep"], x["text_embeds"], x["image_embeds"], x["image_condition"])
    controlled = fresh(x["latents"], x["timestep"], x["text_embeds"], x["image_embeds"], x["image_condition"],
                       dense=x["dense"], sparse=x["sparse"])
    assert torch.equal(plain, controlled)
    model = LongVie2Transformer(TINY_CONFIG).eval()
    model.load_state_dict(fresh.state_dict())
    model.controller.dense_in.weight.normal_()  # the branch input must be non-zero too
    model.controller.fusion[1].weight.normal_()
    perturbed = model(x["latents"], x["timestep"], x["text_embeds"], x["image_embeds"], x["image_condition"],
                      dense=x["dense"], sparse=x["sparse"])
    assert (perturbed - plain).abs().max() > 1e-3


@torch.no_grad()
def test_history_tokens_never_reach_the_output_directly():
    """The output has the current clip's shape; history changes it only through attention."""
    from longvie_tiny import tiny_transformer

    model = tiny_transformer()
    x = _inputs()
    args = (x["latents"], x["timestep"], x["text_embeds"], x["image_embeds"], x["image_condition"])
    with_history = model(*args, dense=x["dense"], sparse=x["sparse"], history=x["history"])
    assert with_history.shape == x["latents"].shape
    without = model(*args, dense=x["dense"], sparse=x["sparse"])
    assert (with_history - without).abs().max() > 1e-4  # history is attended to
    # with self-attention output projections zeroed, tokens cannot exchange information:
    # then the history may not change the output at all (no leak through the head or the fusion)
    for block in model.base.blocks:
        block.attn1.to_out[0].weight.zero_()
        block.attn1.to_out[0].bias.zero_()
    isolated_a = model(*args, dense=x["dense"], sparse=x["sparse"], history=x["history"])
    isolated_b = model(*args, dense=x["dense"], sparse=x["sparse"], history=torch.randn_like(x["history"]) * 5)
    torch.testing.assert_close(isolated_a, isolated_b, rtol=0, atol=1e-6)


@torch.no_grad()
def test_history_shifts_the_rope_frame_indices_of_current_tokens():
    from longvie_tiny import tiny_transformer

    model = tiny_transformer()
    cos, _ = model._rope(5, 2, 3, torch.device("cpu"))
    cos_cur, _ = model._rope(3, 2, 3, torch.device("cpu"))
    # current tokens with 2 history frames get frame indices 2..4, not 0..2
    assert not torch.equal(cos[:, 12:], cos_cur)
    torch.testing.assert_close(cos[:, :18], cos_cur)


def test_sampler_sigmas_match_upstream_schedule():
    sigmas = flow_sigmas(50, 5.0)
    assert sigmas.shape == (51,)
    s = 1 - torch.arange(50) / 50
    torch.testing.assert_close(sigmas[:50], 5 * s / (1 + 4 * s))
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0
    assert model_timestep(sigmas[1], True).item() == 996.0  # 995.93 rounded to bf16 as upstream
    assert abs(model_timestep(sigmas[1], False).item() - 1000 * 4.9 / 4.92) < 1e-3  # s = 0.98


def _json_header(name: str) -> dict[str, ck.TensorInfo]:
    return {k: ck.TensorInfo(tuple(v), "BF16") for k, v in json.loads((DATA / name).read_text()).items()}


def test_real_size_model_covers_every_official_tensor_exactly():
    with torch.device("meta"):
        model = LongVie2Transformer(REAL_CONFIG)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    covered: dict[str, str] = {}
    for name, check in (("keys_control_ckpt.json", ck.check_control), ("keys_base_dit.json", ck.check_base)):
        report = check(model, _json_header(name))
        assert report.ok, (report.missing[:3], report.unexpected[:3], report.misshaped[:3])
        for official, mine in report.mapping.items():
            assert ours[mine] == _json_header(name)[official].shape
            assert mine not in covered, f"{mine} is filled twice"
            covered[mine] = official
    assert set(covered) == set(ours)  # every parameter covered, by exactly one official tensor
    assert len(covered) == 800 + 1303
    assert sum(v.numel() for k, v in model.state_dict().items() if k.startswith("controller.")) == 2_633_637_888
    overlay = ck.check_overlay(model, _json_header("keys_dit_overlay.json"))
    assert overlay.ok and len(overlay.mapping) == 400
    diffusers_names = ck.check_base(model, _json_header("keys_diffusers_wan_i2v14b.json"))
    assert diffusers_names.ok and len(diffusers_names.mapping) == 1303
    # the original -> diffusers renaming agrees with diffusers' own naming, name for name
    originals = json.loads((DATA / "keys_base_dit.json").read_text())
    port = json.loads((DATA / "keys_diffusers_wan_i2v14b.json").read_text())
    assert {ck.original_to_diffusers(k): v for k, v in originals.items()} == port
