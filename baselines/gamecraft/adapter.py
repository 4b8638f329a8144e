"""``hunyuan-gamecraft``: Hunyuan-GameCraft-1.0 as a ``VideoModel`` on the protocol's long-video loop.

Mapping onto the grid (documented, exact for the default grid). GameCraft makes a continuous
25 fps stream: native frame 0 is the start image (the sample's first frame, scaled to cover and
centre-cropped to the working size, 704x1216), and action a adds native frames 1 + 33a .. 33 + 33a
(its 9 latents decoded on their own, as upstream). Grid segment s (frames 80s .. 80s + 80 at 16 fps)
covers native frames 125s .. 125s + 125 (stride x 25/16 = 125): ``generate_segment`` returns the
127 native frames from 125s (the runner's ``conform_to_grid`` then samples frame k at
floor(k x 25/16), resizes 704x1216 -> 480x832: aspect 1.727 -> 1.733, not cropped). Actions are
generated while fewer than 125s + 127 native frames exist, so a segment takes 3 or 4 actions
(125/33 = 3.79 on average) and the action grid runs on across segment boundaries: GameCraft's own
hybrid history (the previous action's 9 latents) carries the video, and the last frame of a segment
is the first frame of the next by construction (the runner's grid-resized copy is not re-encoded).

Actions come from the segment's camera (``baselines.actions``): action a starts at native frame 33a,
i.e. 33a - 125s frames of 25 fps into segment s; the clip's motion is resampled to 25 fps and
``gamecraft_actions`` picks the chunk's dominant key and speed (beyond the clip's last pose the
last increment is held).

State (``.npz`` per segment, so a killed run resumes mid-video exactly): the last action's 9
latents, the action count, and the native frames of the next segment that precede that action
(0 or 1 frame). The rest of the next segment's start is re-decoded from the latents, on every
path, so resumed and uninterrupted runs do the same arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.gamecraft.camera import FRAMES_PER_ACTION
from baselines.gamecraft.pipeline import OFFLOAD_MODES, ActionPipeline, ActionSettings, crop_resize
from longvgenbench.errors import OptionError
from longvgenbench.model import VideoModel
from longvgenbench.records import NativeFormat, SegmentOutput, SegmentRequest, VideoSample, freeze_state

NATIVE_FPS = 25.0
_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}


def native_span(start: int, clip_frames: int, grid_fps: float, native_fps: float = NATIVE_FPS) -> tuple[int, int]:
    """(first native frame, count) whose sample-and-hold resampling gives grid frames [start, start + clip_frames)."""
    first = start * native_fps / grid_fps
    if abs(first - round(first)) > 1e-9:
        raise OptionError(f"hunyuan-gamecraft: grid frame {start} at {grid_fps} fps does not fall on a {native_fps} "
                          f"fps frame; the grid's stride must make stride x {native_fps}/{grid_fps} a whole number")
    count = math.ceil(clip_frames * native_fps / grid_fps - 1e-9)
    if math.floor(count / native_fps * grid_fps + 1e-9) < clip_frames:
        count += 1
    return int(round(first)), count


class HunyuanGameCraftModel(VideoModel):
    """Hunyuan-GameCraft-1.0 (image + prompt + actions from the clip's camera).

    Options: ``weights`` (folder, see ``catalog``), ``variant`` (standard | distill: 8 steps, CFG 1),
    ``dtype`` (bf16 | fp32 | fp16), ``steps``, ``cfg_scale``, ``deepcache`` (upstream's default at 50 steps),
    ``offload`` (none | model | group: upstream's --cpu-offload), ``fp8`` (DiT weights stored as
    float8_e4m3fn, computed in bf16; upstream's --use-fp8 uses its own scaled fp8 linears),
    ``height`` / ``width`` (working size, 704x1216), ``crop_start`` (prompt-template tokens cropped),
    ``action_mapping`` (dict of ``baselines.actions.ActionMapping`` overrides).
    """

    name: ClassVar[str] = "hunyuan-gamecraft"
    version: ClassVar[str] = "1"
    needs_weights: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", *, weights: str | None = None, variant: str = "standard",
                 dtype: str = "bf16", steps: int | None = None, cfg_scale: float | None = None,
                 deepcache: bool = True, offload: str = "none", fp8: bool = False, height: int = 704,
                 width: int = 1216, crop_start: int = 95, action_mapping: Mapping[str, Any] | None = None) -> None:
        super().__init__(device=device)
        from baselines.actions import ActionMapping

        if dtype not in _DTYPES:
            raise OptionError(f"{self.name}: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if offload not in OFFLOAD_MODES:
            raise OptionError(f"{self.name}: offload must be one of {list(OFFLOAD_MODES)}, got {offload!r}")
        if variant not in ("standard", "distill"):
            raise OptionError(f"{self.name}: variant must be standard or distill, got {variant!r}")
        if int(height) % 16 or int(width) % 16:
            raise OptionError(f"{self.name}: height and width must divide by 16, got {height}x{width}")
        distill = variant == "distill"
        self.settings = ActionSettings(steps=int(steps or (8 if distill else 50)),
                                       cfg_scale=float(cfg_scale if cfg_scale is not None else 1.0 if distill else 2.0),
                                       deepcache=bool(deepcache), height=int(height), width=int(width),
                                       crop_start=int(crop_start))
        try:
            self.mapping = ActionMapping.from_options(dict(action_mapping or {}))
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        self.weights, self.variant, self.dtype_name = Path(weights) if weights else None, variant, dtype
        self.offload, self.fp8 = offload, bool(fp8)
        self._pipeline: ActionPipeline | None = None
        #: (segment, action index, key, speed) of every action this instance generated
        self.action_log: list[tuple[int, int, str, float]] = []

    @property
    def native(self) -> NativeFormat:
        return NativeFormat(num_frames=FRAMES_PER_ACTION, fps=NATIVE_FPS, height=self.settings.height,
                            width=self.settings.width)

    def _folder(self):
        from baselines.gamecraft.catalog import GameCraftFolder

        return GameCraftFolder.find(self.weights, self.variant)

    def fingerprint(self) -> dict[str, str]:
        from baselines.gamecraft.checkpoint import read_official_shapes

        folder = self._folder()
        shapes = read_official_shapes(folder.checkpoint)
        digest = hashlib.sha256(json.dumps(sorted((k, list(v)) for k, v in shapes.items())).encode())
        digest.update(str(folder.checkpoint.stat().st_size).encode())
        return {"name": self.name, "version": self.version, "variant": self.variant,
                "weights_headers_sha256": digest.hexdigest(), "dtype": self.dtype_name, "fp8": str(self.fp8),
                "settings": json.dumps(self.settings.__dict__, sort_keys=True),
                "action_mapping": json.dumps(self.mapping.as_dict(), sort_keys=True),
                "grid_mapping": "continuous 25 fps stream; segment s = native frames 125s.. sampled at floor(k*25/16)"}

    def pipeline(self) -> ActionPipeline:
        if self._pipeline is None:
            from baselines.gamecraft.catalog import load_components
            from baselines.gamecraft.checkpoint import load_official

            folder = self._folder()
            dtype = _DTYPES[self.dtype_name]
            model = load_official(folder.checkpoint, folder.config, dtype)
            if self.fp8:
                model.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
            self._pipeline = ActionPipeline(model, load_components(folder.root, dtype), self.settings, self.device,
                                            dtype, self.offload)
        return self._pipeline

    # -- the long video -------------------------------------------------------------------------
    def initial_state(self, sample: VideoSample) -> Mapping[str, np.ndarray]:
        return freeze_state({"history": np.zeros((0,), np.float32), "actions": np.array([0], np.int64),
                             "lead": np.zeros((0, self.settings.height, self.settings.width, 3), np.uint8)})

    def _action(self, request: SegmentRequest, action: int, first_native: int) -> tuple[str, float]:
        from baselines.actions import CameraMotion, gamecraft_actions, resample_motion, segment_motion

        offset = FRAMES_PER_ACTION * action - first_native
        motion = resample_motion(segment_motion(request.sample, request.segment), NATIVE_FPS,
                                 offset + FRAMES_PER_ACTION)
        chunk = CameraMotion(motion.translation[offset:], motion.yaw[offset:], motion.pitch[offset:], NATIVE_FPS)
        (choice,) = gamecraft_actions(chunk, self.mapping, num_actions=1, fps=NATIVE_FPS)
        return choice.key, choice.speed

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        from tqdm.auto import tqdm

        grid, segment = request.grid, request.segment
        first, count = native_span(segment.start, segment.num_frames, grid.fps)
        next_first = native_span(segment.start + grid.stride, segment.num_frames, grid.fps)[0]
        pipe = self.pipeline()
        history = np.asarray(state["history"])
        actions = int(state["actions"][0])
        latents = torch.from_numpy(history) if history.size else None
        if latents is None:
            image = crop_resize(request.first_frame, self.settings.height, self.settings.width)
            frames = [image[None]]
            image_latent = pipe.encode_image(image, request.seed)
        else:  # the next segment's start: the stored lead frames, then the tail of the last action re-decoded
            chunk_start = 1 + FRAMES_PER_ACTION * (actions - 1)
            decoded = pipe.decode(latents)
            frames = [np.asarray(state["lead"]), decoded[max(0, first - chunk_start):]]
            image_latent = None
        have = sum(len(f) for f in frames)
        needed = math.ceil((first + count - (first + have)) / FRAMES_PER_ACTION) if have < count else 0
        with tqdm(total=needed * self.settings.steps, leave=False, unit="step",
                  desc=f"{request.sample.video_id} segment {segment.index}") as bar:
            while have < count:
                key, speed = self._action(request, actions, first)
                self.action_log.append((segment.index, actions, key, speed))
                shape = pipe.latent_shape(continuation=latents is not None)
                noise = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(
                    (int(request.seed) * 1_000_003 + actions) % (2**63)))
                latents = pipe.generate(segment.caption, key, speed, noise, image_latent, latents,
                                        on_step=lambda k, n: bar.update(1))
                image_latent = None
                frames.append(pipe.decode(latents))
                actions += 1
                have += FRAMES_PER_ACTION
        stream = np.concatenate(frames)
        chunk_start = 1 + FRAMES_PER_ACTION * (actions - 1) - first  # within the stream
        lead = stream[next_first - first:max(chunk_start, next_first - first)]
        new_state = {"history": latents.numpy().astype(np.float32), "actions": np.array([actions], np.int64),
                     "lead": np.ascontiguousarray(lead)}
        return SegmentOutput(frames=np.ascontiguousarray(stream[:count]), state=freeze_state(new_state))


__all__ = ["NATIVE_FPS", "HunyuanGameCraftModel", "native_span"]
