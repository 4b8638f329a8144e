"""VideoComposer as a ``VideoModel`` plug-in (``videocomposer``) on the spine's long-video loop.

Per benchmark clip: 2 passes of 16 frames at 4 fps, 256x256 (``grid.py`` documents the mapping),
conditioned on the caption, the clip's first frame (as STC ``local_image`` and as the CLIP style
image), the split's depth control and, optionally, motion vectors from its track control
(``conditions.py``). Each clip starts from the last frame of the previous one: the adapter keeps
that frame at the native size in its state (uint8, saved by the runner beside the segment), so a
run killed between clips resumes with exactly the frame an uninterrupted run would use, not a
copy resized to the grid and back. Noise is drawn on the CPU from (seed, clip, pass).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from baselines._common import check_segment_length
from baselines.videocomposer.conditions import depth_condition, motion_condition, stretch
from baselines.videocomposer.config import SamplerConfig
from baselines.videocomposer.grid import GridMapping
from baselines.videocomposer.pipeline import PassInputs, VideoComposerPipeline, seeded_noise
from longvgenbench.errors import MismatchError, OptionError
from longvgenbench.model import VideoModel
from longvgenbench.records import NativeFormat, SegmentOutput, SegmentRequest, VideoSample, freeze_state

_AUTOCAST = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class VideoComposerModel(VideoModel):
    """VideoComposer (text + first frame + depth [+ motion vectors]) clip by clip from the last frame.

    Options: ``weights`` (a folder, see ``baselines.videocomposer.loading``; default the registered
    files), ``dtype`` (fp16 = upstream's fp16 autocast | bf16 | fp32), ``steps`` (50), ``guide_scale``
    (9.0, upstream's inference value), ``conditions`` (comma list of text, image, local_image, depth,
    motion; default text,image,local_image,depth), ``depth_clamp`` (10.0: the range our normalised
    depth is spread over), ``motion_scale`` (1.0), ``size`` / ``misc_size`` (256 / 384 published;
    tiny test models use smaller).
    """

    name: ClassVar[str] = "videocomposer"
    version: ClassVar[str] = "1"
    needs_weights: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", *, weights: str | None = None, dtype: str = "fp16", steps: int = 50,
                 guide_scale: float = 9.0, conditions: str = "text,image,local_image,depth",
                 depth_clamp: float = 10.0, motion_scale: float = 1.0, size: int = 256, misc_size: int = 384) -> None:
        super().__init__(device=device)
        if dtype not in _AUTOCAST:
            raise OptionError(f"{self.name}: dtype must be one of {sorted(_AUTOCAST)}, got {dtype!r}")
        names = tuple(c.strip() for c in str(conditions).split(",") if c.strip())
        try:
            self.sampler = SamplerConfig(steps=int(steps), guide_scale=float(guide_scale), size=int(size),
                                         misc_size=int(misc_size), depth_clamp=float(depth_clamp), conditions=names)
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        self.weights = Path(weights) if weights else None
        self.dtype_name, self.motion_scale = dtype, float(motion_scale)
        self._pipeline: VideoComposerPipeline | None = None

    @property
    def native(self) -> NativeFormat:
        return GridMapping(size=self.sampler.size).native

    def _folder(self):
        from baselines.videocomposer.loading import WeightsFolder

        return WeightsFolder.find(self.weights)

    def fingerprint(self) -> dict[str, str]:
        from baselines.videocomposer.checkpoint import read_state

        folder = self._folder()
        digest = hashlib.sha256()
        state = read_state(folder.unet)
        digest.update(json.dumps({k: [list(v.shape), str(v.dtype)] for k, v in sorted(state.items())}).encode())
        del state
        for path in (folder.unet, folder.clip, *sorted(folder.vae.iterdir())):
            if path.is_file():
                digest.update(f"{path.name}:{path.stat().st_size}".encode())
        return {"name": self.name, "version": self.version, "weights_sha256": digest.hexdigest(),
                "dtype": self.dtype_name, "unet": folder.unet_config().to_json(),
                "sampler": json.dumps(self.sampler.to_dict(), sort_keys=True), "motion_scale": str(self.motion_scale),
                "grid_mapping": "2 passes x 16 frames at 4 fps per clip; 21 native frames -> grid by sample-and-hold"}

    def pipeline(self) -> VideoComposerPipeline:
        if self._pipeline is None:
            from baselines.videocomposer.loading import load_clip, load_unet, load_vae

            folder = self._folder()
            self._pipeline = VideoComposerPipeline(load_unet(folder), load_vae(folder),
                                                   load_clip(folder, self.sampler.vit_size), self.sampler,
                                                   self.device, _AUTOCAST[self.dtype_name])
        return self._pipeline

    # -- the long-video loop -------------------------------------------------------------------
    def initial_state(self, sample: VideoSample) -> Mapping[str, np.ndarray]:
        s = self.sampler.size
        return freeze_state({"last_frame": np.zeros((0, s, s, 3), np.uint8), "clip": np.array([0], np.int64)})

    def _controls(self, request: SegmentRequest) -> tuple[np.ndarray | None, object | None]:
        from longvgenbench.controls import load_depth, load_tracks

        segment, frames = request.segment, request.grid.clip_frames
        depth = tracks = None
        for needed, path in (("depth", segment.controls.depth_video), ("motion", segment.controls.tracks)):
            if needed in self.sampler.conditions and path is None:
                control = "depth_video" if needed == "depth" else "tracks"
                raise MismatchError(f"{self.name} with the {needed!r} condition needs the {control} control; segment "
                                    f"{segment.index} of {request.sample.video_id!r} has none")
        if "depth" in self.sampler.conditions:
            depth = load_depth(segment.controls.depth_video, frames)
        if "motion" in self.sampler.conditions:
            tracks = load_tracks(segment.controls.tracks, frames)
        return depth, tracks

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        from tqdm.auto import tqdm

        check_segment_length(request)
        mapping = GridMapping(request.grid, self.sampler.num_frames, self.sampler.fps, self.sampler.size)
        last = np.asarray(state["last_frame"])
        first = last[-1] if len(last) else stretch(request.first_frame, self.sampler.size)
        depth, tracks = self._controls(request)
        pipe = self.pipeline()
        grid_hw = (request.grid.height, request.grid.width)
        outputs = []
        with tqdm(total=mapping.passes * self.sampler.steps, leave=False, unit="step",
                  desc=f"{request.sample.video_id} clip {request.segment.index}") as bar:
            for index in range(mapping.passes):
                frames_at = mapping.pass_grid_indices(index)
                inputs = PassInputs(
                    first_frame=first, caption=request.segment.caption,
                    depth=None if depth is None else depth_condition(depth, frames_at, self.sampler.misc_size,
                                                                     self.sampler.depth_clamp),
                    motion=None if tracks is None else motion_condition(tracks, frames_at, grid_hw, self.sampler.size,
                                                                        self.motion_scale))
                noise = seeded_noise(pipe.noise_shape(), request.seed, request.segment.index, index)
                frames = pipe.generate(inputs, noise, on_step=lambda k, n: bar.update(1))
                outputs.append(frames)
                first = frames[-1]
        clip = mapping.assemble(outputs)
        new_state = {"last_frame": clip[-1:].copy(), "clip": np.array([int(state["clip"][0]) + 1], np.int64)}
        return SegmentOutput(frames=clip, state=freeze_state(new_state))


__all__ = ["VideoComposerModel"]
