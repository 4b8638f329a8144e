"""``diffusion-as-shader``: DiffusionAsShader on the shared CogVideoX-5B-I2V base, fed the clip's track render.

The long-video loop, the grid mapping (one 49-frame native segment spans one 81-frame clip; see
``baselines/cogvideox/grid.py``), the per-segment seed and the resumable state are the base's.
What this adds:

- the control: the split's track render (``SegmentControls.track_video``, black background, colour
  fixed by each point's frame-0 position: the DiffusionAsShader scheme LongVie 2 also uses) mapped
  onto the native segment: native frame j takes the *nearest* grid frame to its time
  ``j * 80 / 48`` (never a blend, which would draw half-bright double points), and is stretched to
  480x720 with nearest-neighbour sampling (the colours encode positions, so no new colours are
  invented). The render is consumed as the split gives it, not re-rendered at the native size;
- the sampler: upstream's published inference (``baselines/das/pipeline.py``): DPM, 50 steps,
  CFG 6 with dynamic CFG, its negative prompt, VAE tiling on, the tracking video in [0, 1];
  all random draws come from the segment's seed in upstream's order;
- the weights: the Hub folder ``EXCAI/Diffusion-As-Shader`` (``catalog.py``), the transformer
  header-checked before loading (``loading.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from baselines.cogvideox.base import DTYPES, CogVideoXI2VModel, NativeSegment
from baselines.das.pipeline import TRACKING_RANGES, UPSTREAM_NEGATIVE_PROMPT, DasClipPipeline, DasSampler
from longvgenbench.errors import MismatchError, OptionError
from longvgenbench.records import SegmentRequest


class DiffusionAsShaderModel(CogVideoXI2VModel):
    """DiffusionAsShader (CogVideoX-5B-I2V + tracking branch), clip by clip from the last native frame.

    Options: those of ``CogVideoXI2VModel`` (``weights``, ``dtype``, ``steps``, ``cfg_scale``,
    ``use_dynamic_cfg`` (default True here, as upstream), ``vae_tiling`` (default True, as upstream),
    ``temporal``, ``native_*``; ``offload`` must be ``none``), plus ``tracking_range`` (unit: the
    track video in [0, 1] as upstream's inference feeds it; signed: [-1, 1] as its training does)
    and ``negative_prompt`` (default upstream's).
    """

    name: ClassVar[str] = "diffusion-as-shader"
    version: ClassVar[str] = "1"
    uses_controls: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", *, use_dynamic_cfg: bool = True, vae_tiling: bool = True,
                 tracking_range: str = "unit", negative_prompt: str | None = None, **options: Any) -> None:
        super().__init__(device, use_dynamic_cfg=use_dynamic_cfg, vae_tiling=vae_tiling, **options)
        if self.offload != "none":
            raise OptionError(f"{self.name}: offload {self.offload!r} is not supported (only none)")
        if tracking_range not in TRACKING_RANGES:
            raise OptionError(f"{self.name}: tracking_range must be one of {list(TRACKING_RANGES)}, "
                              f"got {tracking_range!r}")
        native = self.mapping.native
        try:
            self.sampler = DasSampler(steps=self.steps, guidance_scale=self.cfg_scale,
                                      dynamic_cfg=self.use_dynamic_cfg, num_frames=native.num_frames,
                                      height=native.height, width=native.width,
                                      negative_prompt=UPSTREAM_NEGATIVE_PROMPT if negative_prompt is None
                                      else str(negative_prompt), tracking_range=tracking_range,
                                      vae_tiling=self.vae_tiling)
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc

    # -- weights and pipeline ----------------------------------------------------------------------
    def weights_root(self) -> Path:
        if self.weights is not None:
            return self.weights
        from baselines.das.catalog import official_weights_folder

        return official_weights_folder()

    def extra_fingerprint(self) -> dict[str, str]:
        negative = hashlib.sha256(self.sampler.negative_prompt.encode()).hexdigest()[:16]
        return {"das": json.dumps({"tracking_range": self.sampler.tracking_range, "negative_prompt_sha256": negative,
                                   "track_temporal": "nearest grid frame", "track_spatial": "nearest-neighbour stretch",
                                   "scheduler": "CogVideoXDPMScheduler trailing"}, sort_keys=True)}

    def pipeline(self) -> DasClipPipeline:
        """The loaded pipeline (weights are read, after the header check, on first use)."""
        if self._pipeline is None:
            from baselines.das.loading import load_parts, load_transformer

            root, dtype = self.weights_root(), DTYPES[self.dtype_name]
            self._pipeline = DasClipPipeline(load_transformer(root, dtype), load_parts(root, dtype), self.sampler,
                                             self.device, dtype)
        return self._pipeline

    # -- control -----------------------------------------------------------------------------------
    def native_track(self, request: SegmentRequest) -> np.ndarray:
        """The segment's track render on the native segment: uint8 (N, h, w, 3) (see the module docstring)."""
        from longvgenbench.controls import load_track_video

        path = request.segment.controls.track_video
        if path is None:
            raise MismatchError(f"{self.name} needs the track render (track_video) of every segment; segment "
                                f"{request.segment.index} of {request.sample.video_id!r} has none")
        frames = load_track_video(path, expected_frames=request.segment.num_frames)
        return track_to_native(frames, self.mapping.native_times(frames.shape[0]), self.mapping.native.height,
                               self.mapping.native.width)

    def generate_native(self, segment: NativeSegment) -> np.ndarray:
        from tqdm.auto import tqdm

        track = self.native_track(segment.request)
        pipe = self.pipeline()
        where = f"{segment.request.sample.video_id} clip {segment.request.segment.index}"
        with tqdm(total=self.steps, desc=where, leave=False, unit="step") as bar:
            def on_step(i: int, latents: torch.Tensor) -> None:
                bar.update(1)
                if self.latent_log is not None:
                    self.latent_log.append(latents.detach().float().cpu().clone())

            return pipe.generate(segment.first_frame, track, segment.caption, segment.seed, on_step=on_step)


def track_to_native(frames: np.ndarray, native_times: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grid track render -> native: the nearest grid frame to each native time, nearest-neighbour stretched."""
    index = np.clip(np.floor(native_times + 0.5).astype(np.int64), 0, frames.shape[0] - 1)
    out = np.empty((len(index), height, width, 3), np.uint8)
    for j, k in enumerate(index):
        frame = frames[k]
        out[j] = frame if frame.shape[:2] == (height, width) else np.asarray(
            Image.fromarray(frame).resize((width, height), Image.NEAREST))
    return out


__all__ = ["DiffusionAsShaderModel", "track_to_native"]
