"""Same weights, same numbers: our LongVie 2 against goldens computed by the upstream implementation.

``tests/parity/longvie/make_goldens.py`` ran upstream's own ``LongViePipeline`` (Vchitect/LongVie)
at a tiny size, fp32 on CPU, and stored its weights in the official file formats plus what it
computed (see the README there). Here the weights go through our real loading path (header
checks, name mapping, the ``dit.safetensors`` overlay) and every stage is compared: conditioning
tensors, one forward pass, the first two Euler/CFG steps, unified-noise start latents, the full
50-step sampling, the decoded video and its uint8 frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("safetensors", reason="the longvie extra is not installed")
import numpy as np
import torch
from safetensors.torch import load_file

from longvie.config import SamplerConfig
from longvie.loading import WeightsFolder, load_transformer
from longvie.pipeline import ClipInputs, ClipPipeline, WanComponents, seeded_noise, to_frames
from longvie.sampler import Conditioning, flow_sigmas, guided_velocity, model_timestep, sample

ROOT = Path(__file__).parent / "parity" / "longvie"
TOL = 1e-5
META = json.loads((ROOT / "goldens.json").read_text())
POSITIVE = META["sampling"]["positive"]
TAGS = ("history", "first")  # second clip (history + unified noise) and first clip (neither)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
    return (a.float() - b.float()).abs().max().item()


@pytest.fixture(scope="module")
def goldens() -> dict[str, torch.Tensor]:
    return load_file(str(ROOT / "goldens.safetensors"))


@pytest.fixture(scope="module")
def pipe(goldens: dict[str, torch.Tensor]) -> ClipPipeline:
    from diffusers import AutoencoderKLWan

    torch.set_num_threads(min(torch.get_num_threads(), 2))
    model = load_transformer(WeightsFolder.find(ROOT / "weights"), torch.float32)
    vae = AutoencoderKLWan.from_pretrained(ROOT / "weights" / "vae", torch_dtype=torch.float32)
    s = META["sampling"]
    sampler = SamplerConfig(steps=s["steps"], shift=s["shift"], cfg_scale=s["cfg_scale"], height=s["height"],
                            width=s["width"], num_frames=s["num_frames"], history_frames=s["history_frames"])
    # The text and CLIP encoders are out of scope (upstream's are other implementations): the
    # goldens give their outputs, so this pipeline's encoders return them.
    components = WanComponents(vae=vae, text_encoder=torch.nn.Module(), tokenizer=None,
                               image_encoder=torch.nn.Module(), image_processor=None)
    clip = ClipPipeline(model, components, sampler)
    texts = {POSITIVE: goldens["input.context_positive"], sampler.negative_prompt: goldens["input.context_negative"]}
    clip.encode_text = lambda prompt: texts[prompt]  # type: ignore[method-assign]
    clip.encode_image = lambda frame: goldens["input.clip_feature"]  # type: ignore[method-assign]
    return clip


def clip_inputs(goldens: dict[str, torch.Tensor], tag: str) -> ClipInputs:
    return ClipInputs(first_frame=goldens["input.first_frame"].numpy(), caption=POSITIVE,
                      depth=goldens["input.depth"].numpy(), track=goldens["input.track"].numpy(),
                      history=goldens["input.history"].numpy() if tag == "history" else None)


@pytest.fixture(scope="module")
def conditioning(pipe: ClipPipeline, goldens: dict[str, torch.Tensor]) -> dict[str, Conditioning]:
    return {tag: pipe.conditioning(clip_inputs(goldens, tag)) for tag in TAGS}


def test_goldens_come_from_upstream_with_the_official_formats() -> None:
    assert META["upstream"]["repo"] == "Vchitect/LongVie" and META["upstream"]["commit"].startswith("2727f85")
    folder = WeightsFolder.find(ROOT / "weights")
    assert folder.overlay is not None and folder.control is not None
    # the base shard is in the original Wan naming, as the Wan-AI/Wan2.1-I2V-14B-480P shards
    from longvie import checkpoint as ck

    assert any(".self_attn." in n for n in ck.read_header(folder.transformer_shards[0]))
    assert META["model_calls"] == {"history": 100, "first": 100}  # 50 steps x (positive + negative)


@pytest.mark.parametrize("tag", TAGS)
def test_conditioning_tensors_match(conditioning: dict[str, Conditioning], goldens: dict[str, torch.Tensor],
                                    tag: str) -> None:
    """y (mask | first-frame latents), dense/sparse (control latents | mask | first control frame), history."""
    cond = conditioning[tag]
    assert max_diff(cond.image_condition, goldens[f"{tag}.forward_y"]) <= TOL
    assert max_diff(cond.dense, goldens[f"{tag}.forward_dense"]) <= TOL
    assert max_diff(cond.sparse, goldens[f"{tag}.forward_sparse"]) <= TOL
    if tag == "history":
        # 8 history frames -> 2 latent frames (VAE chunking), normalised
        assert cond.history.shape[2] == 2
        assert max_diff(cond.history, goldens["history.forward_history"]) <= TOL
    else:
        assert cond.history is None


@pytest.mark.parametrize("tag", TAGS)
def test_unified_noise_and_start_latents_match(pipe: ClipPipeline, conditioning: dict[str, Conditioning],
                                               goldens: dict[str, torch.Tensor], tag: str) -> None:
    noise = seeded_noise(pipe.noise_shape(), META["sampling"]["seed"])
    assert torch.equal(noise, goldens[f"{tag}.noise"])
    start = pipe.start_latents(noise, conditioning[tag].history)
    assert max_diff(start, goldens[f"{tag}.forward_latents"]) <= TOL
    if tag == "history":  # frame 0 is blended with the last history latent, the rest is the noise
        assert max_diff(start[:, :, 0], noise[:, :, 0]) > 0.01
        assert torch.equal(start[:, :, 1:], noise[:, :, 1:])


@pytest.mark.parametrize("tag", TAGS)
def test_forward_matches(pipe: ClipPipeline, goldens: dict[str, torch.Tensor], tag: str) -> None:
    t = goldens[f"{tag}.forward_timestep"]
    assert torch.equal(t, model_timestep(flow_sigmas(50, 5.0)[0], round_bf16=True).reshape(1))
    with torch.no_grad():
        out = pipe.transformer(goldens[f"{tag}.forward_latents"], t, goldens["input.context_positive"],
                               goldens["input.clip_feature"], goldens[f"{tag}.forward_y"],
                               dense=goldens[f"{tag}.forward_dense"], sparse=goldens[f"{tag}.forward_sparse"],
                               history=goldens.get(f"{tag}.forward_history"))
    assert goldens[f"{tag}.forward_output"].abs().max() > 1.0  # the numbers are not trivially small
    assert max_diff(out, goldens[f"{tag}.forward_output"]) <= TOL


@pytest.mark.parametrize("batched", [True, False])
def test_first_two_sampler_steps_match(pipe: ClipPipeline, conditioning: dict[str, Conditioning],
                                       goldens: dict[str, torch.Tensor], batched: bool) -> None:
    """Euler + CFG 5 on upstream's start latents; step 2 sees t = 995.93 rounded to bf16 (996)."""
    cfg = pipe.sampler
    sigmas = flow_sigmas(cfg.steps, cfg.shift)
    assert model_timestep(sigmas[1], True).item() == 996.0
    latents = goldens["history.forward_latents"].clone()
    with torch.no_grad():
        for k in (0, 1):
            t = model_timestep(sigmas[k], cfg.round_timestep_bf16)
            v = guided_velocity(pipe.transformer, latents, t, conditioning["history"], cfg.cfg_scale, batched)
            latents = latents + v * (sigmas[k + 1] - sigmas[k]).item()
            assert max_diff(latents, goldens[f"history.latents_step{k + 1}"]) <= TOL


@pytest.mark.parametrize("tag", TAGS)
def test_full_sampling_decode_and_frames_match(pipe: ClipPipeline, conditioning: dict[str, Conditioning],
                                               goldens: dict[str, torch.Tensor], tag: str) -> None:
    """50 steps with CFG from the unified-noise start, then the VAE decode and the uint8 conversion."""
    latents = sample(pipe.transformer, goldens[f"{tag}.forward_latents"], conditioning[tag], pipe.sampler)
    assert max_diff(latents, goldens[f"{tag}.latents_final"]) <= TOL
    video = pipe.decode(latents)
    assert max_diff(video, goldens[f"{tag}.decoded"]) <= 2 * TOL
    frames = to_frames(video)
    diff = np.abs(frames.astype(np.int16) - goldens[f"{tag}.frames"].numpy().astype(np.int16))
    # upstream truncates to uint8; a 1e-5 difference may still cross an integer boundary
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_a_changed_weight_is_detected(pipe: ClipPipeline, goldens: dict[str, torch.Tensor]) -> None:
    """The comparison can fail: one fusion weight changed by 1e-3 moves the output past the tolerance."""
    weight = pipe.transformer.controller.fusion[0].weight
    args = (goldens["history.forward_latents"], goldens["history.forward_timestep"], goldens["input.context_positive"],
            goldens["input.clip_feature"], goldens["history.forward_y"])
    kwargs = {"dense": goldens["history.forward_dense"], "sparse": goldens["history.forward_sparse"],
              "history": goldens["history.forward_history"]}
    original = weight[0, 0].item()
    with torch.no_grad():
        weight[0, 0] += 1e-3
        try:
            out = pipe.transformer(*args, **kwargs)
        finally:
            weight[0, 0] = original
    assert max_diff(out, goldens["history.forward_output"]) > TOL
