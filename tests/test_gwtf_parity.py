"""Go-with-the-Flow parity with the published code (goldens from tests/parity/gwtf/make_goldens.py).

Same flows + same seed -> the same warped noise as upstream's ``NoiseWarper``; same weights
(tiny, random, official LoRA naming) + same noise -> the same latents after one, two and 30
denoising steps and the same frames as upstream's pipeline invocation, in fp32 within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("peft", reason="the cogvideox extra (peft) is not installed")
import torch
from safetensors.torch import load_file

from baselines.cogvideox import configs
from baselines.cogvideox.base import NativeSegment
from baselines.gwtf import noise_warp
from baselines.gwtf.adapter import GoWithTheFlowModel

HERE = Path(__file__).parent / "parity" / "gwtf"
GOLDENS = load_file(str(HERE / "goldens.safetensors"))
CONFIG = json.loads((HERE / "goldens.json").read_text())["config"]


def test_warped_noise_equals_upstream_noise_warper() -> None:
    g = torch.Generator().manual_seed(CONFIG["noise_seed"])
    flows = list(GOLDENS["flows"])
    h, w = CONFIG["height"] // 8, CONFIG["width"] // 8
    per_frame = noise_warp.warped_noise_video(flows, 16, h, w, upscale=CONFIG["downscale_factor"], generator=g)
    assert (per_frame - GOLDENS["per_frame_noise"]).abs().max().item() < 1e-5
    latents = noise_warp.temporal_downsample(per_frame, (CONFIG["native_frames"] - 1) // 4 + 1, "nearest")[None]
    latents = noise_warp.mix_new_noise(latents, CONFIG["degradation"], g)
    assert (latents - GOLDENS["noise"]).abs().max().item() < 1e-5


class GoldenNoise(GoWithTheFlowModel):
    def initial_latents(self, segment: NativeSegment) -> torch.Tensor:
        return GOLDENS["noise"].clone()


def test_denoising_steps_and_frames_equal_upstream_pipeline() -> None:
    weights = HERE / "weights"
    model = GoldenNoise(weights=str(weights), lora_path=str(weights / "lora.safetensors"),
                        lora_rank=CONFIG["lora_rank"], dtype="fp32", steps=CONFIG["steps"], cfg_scale=CONFIG["cfg"],
                        native_frames=CONFIG["native_frames"], native_height=CONFIG["height"],
                        native_width=CONFIG["width"])
    model.latent_log = []
    first = GOLDENS["first_frame"].numpy()
    shape = configs.latent_shape(CONFIG["native_frames"], CONFIG["height"], CONFIG["width"])

    class _Request:  # generate_native only reads the ids for its progress bar
        class sample:
            video_id = "parity"

        class segment:
            index = 0

    segment = NativeSegment(request=_Request, first_frame=first, caption=CONFIG["prompt"], seed=CONFIG["pipe_seed"],
                            latent_shape=shape, mapping=model.mapping)
    frames = model.generate_native(segment)
    for k, key in ((0, "latents_step1"), (1, "latents_step2"), (-1, "latents_final")):
        assert (model.latent_log[k] - GOLDENS[key]).abs().max().item() < 1e-5, key
    golden = GOLDENS["frames"].numpy()
    assert np.array_equal(frames, golden)  # uint8 as upstream's PIL frames (round(x * 255))
