"""``go-with-the-flow``: CogVideoX-5B-I2V + the published LoRA, started from noise warped along the clip's motion.

As upstream's inference (``cut_and_drag_inference.py`` + ``make_warped_noise.py``): per-frame
noise for the 49 native frames is warped along the driving motion at 32x the latent resolution
(16 channels), downsampled to the 60x90 latents, reduced to the 13 latent frames as the LoRA was
trained (``nearest`` for the default LoRA), degraded by fresh noise (0.5), and handed to
diffusers' ``CogVideoXImageToVideoPipeline`` as ``latents`` with the LoRA loaded; 30 steps,
guidance 6. The driving motion is the benchmark clip's own (``baselines.gwtf.motion``): dense
flow from its tracks with depth-ordered occlusions by default, or a flow estimator on the
ground truth (``motion="dis"`` / ``"raft"``); the choice is in the model's fingerprint, which
every run and result records.

The noise of segment k depends only on the request's seed, k and the segment's motion, so a
resumed run draws exactly the noise of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import torch

from baselines.cogvideox.base import CogVideoXI2VModel, NativeSegment
from baselines.gwtf import noise_warp
from baselines.gwtf.lora import DEFAULT_LORA, I2V_LORAS, LORA_RANK, load_checked_lora, read_shapes
from baselines.gwtf.motion import MOTION_SOURCES, segment_flows
from longvgenbench.errors import OptionError


class GoWithTheFlowModel(CogVideoXI2VModel):
    """Go-with-the-Flow (Burgert et al., CVPR 2025) on CogVideoX-5B-I2V.

    Options besides the base's (``weights``, ``dtype``, ``steps`` = 30, ``cfg_scale`` = 6, ...):
    ``lora`` (an upstream I2V LoRA name, default ``I2V5B_final_i38800_nearest_lora_weights``,
    found through the weights registry) or ``lora_path`` (a file), ``lora_rank`` (2048, see
    ``lora.py``), ``degradation`` (0.5), ``motion`` (tracks | dis | raft), ``noise_upscale``
    (warp resolution / latent resolution, 32 upstream), ``noise_downtemp`` (nearest | blend |
    blend_norm; default: what the LoRA was trained with), ``noise_device`` (default: ``device``;
    the noise differs between CPU and CUDA generators, so it is in the fingerprint).
    """

    name: ClassVar[str] = "go-with-the-flow"
    version: ClassVar[str] = "1"
    default_steps: ClassVar[int] = 30
    default_cfg: ClassVar[float] = 6.0

    def __init__(self, device: str = "cpu", *, lora: str = DEFAULT_LORA, lora_path: str | None = None,
                 lora_rank: int = LORA_RANK, degradation: float = 0.5, motion: str = "tracks",
                 noise_upscale: int = 32, noise_downtemp: str | None = None, noise_device: str | None = None,
                 **base_options: Any) -> None:
        super().__init__(device=device, **base_options)
        if lora not in I2V_LORAS:
            raise OptionError(f"{self.name}: lora must be one of {sorted(I2V_LORAS)}, got {lora!r}")
        if motion not in MOTION_SOURCES:
            raise OptionError(f"{self.name}: motion must be one of {list(MOTION_SOURCES)}, got {motion!r}")
        if not 0.0 <= float(degradation) <= 1.0:
            raise OptionError(f"{self.name}: degradation must be in [0, 1], got {degradation}")
        if int(noise_upscale) < 1:
            raise OptionError(f"{self.name}: noise_upscale must be >= 1, got {noise_upscale}")
        downtemp = I2V_LORAS[lora] if noise_downtemp is None else noise_downtemp
        if downtemp not in noise_warp.TEMPORAL_DOWNSAMPLING:
            raise OptionError(f"{self.name}: noise_downtemp must be one of {noise_warp.TEMPORAL_DOWNSAMPLING}, "
                              f"got {noise_downtemp!r}")
        self.lora, self.lora_path, self.lora_rank = lora, Path(lora_path) if lora_path else None, int(lora_rank)
        self.degradation, self.motion = float(degradation), motion
        self.noise_upscale, self.noise_downtemp = int(noise_upscale), downtemp
        self.noise_device = noise_device or device
        #: the initial latents of every segment this instance generated, in order (for tests)
        self.noise_log: list[torch.Tensor] = []

    # -- weights ------------------------------------------------------------------------------
    def lora_file(self) -> Path:
        if self.lora_path is not None:
            return self.lora_path
        from baselines.gwtf.catalog import weight_key
        from longvgenbench import weights

        return weights.require(weights.get(weight_key(self.lora)), check=True)

    def prepare_pipeline(self, pipe: Any) -> Any:
        load_checked_lora(pipe, self.lora_file(), self.lora_rank)
        return pipe

    def extra_fingerprint(self) -> dict[str, str]:
        path = self.lora_file()
        shapes = json.dumps({k: list(v) for k, v in sorted(read_shapes(path).items())})
        digest = hashlib.sha256(shapes.encode() + str(path.stat().st_size).encode()).hexdigest()
        return {"lora": self.lora if self.lora_path is None else f"file:{path.name}", "lora_headers_sha256": digest,
                "noise": json.dumps({"degradation": self.degradation, "motion": self.motion,
                                     "upscale": self.noise_upscale, "downtemp": self.noise_downtemp,
                                     "device_kind": torch.device(self.noise_device).type}, sort_keys=True)}

    # -- noise --------------------------------------------------------------------------------
    def initial_latents(self, segment: NativeSegment) -> torch.Tensor:
        native = self.mapping.native
        _, latent_frames, channels, latent_h, latent_w = segment.latent_shape
        flows = segment_flows(segment.request, self.mapping, self.motion, native.height // 2, native.width // 2,
                              device=self.device)
        generator = torch.Generator(device=self.noise_device).manual_seed(segment.seed)
        with torch.no_grad():
            per_frame = noise_warp.warped_noise_video(flows, channels, latent_h, latent_w, self.noise_upscale,
                                                      generator, self.noise_device)
            latents = noise_warp.temporal_downsample(per_frame, latent_frames, self.noise_downtemp)[None]
            latents = noise_warp.mix_new_noise(latents, self.degradation, generator)
        latents = latents.float().cpu()
        self.noise_log.append(latents)
        return latents


__all__ = ["GoWithTheFlowModel"]
