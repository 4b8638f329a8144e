"""``matrix-game-2``: Matrix-Game-2.0 (universal model) as a ``VideoModel`` on the protocol's long-video loop.

Mapping onto the grid (documented, exact for the default grid): Matrix-Game-2.0 makes 16 fps video
(4 video frames per latent, 3 latents per streaming block). A grid segment of 81 frames at 16 fps
is one generation of 21 latents (7 blocks) = 81 native frames at 352x640, one native frame per
grid frame; the runner's ``conform_to_grid`` only resizes 352x640 -> 480x832 (aspect 1.818 ->
1.733, not cropped). Other grids: the segment's duration at 16 fps, rounded up to whole blocks,
then cut (or sample-and-hold resampled when the grid's fps is not 16) by ``conform_to_grid``.

The first frame (the sample's first frame, then the last generated frame of the previous segment,
the spine's default loop) is centre-cropped to 352:640 and resized, as upstream's ``inference.py``.
Each segment starts from fresh KV caches: Matrix-Game-2.0 has no way to continue from anything but
an image without its caches, and carrying 6 latent frames x 30 blocks of keys/values as state
would make every segment's state hundreds of MB. So the model's ``state`` is empty, every random
draw of segment s comes from a generator seeded by (run seed, video, s), and a resumed run makes
exactly the frames of an uninterrupted one.

Actions come from the segment's camera: ``baselines.actions.matrix_game_actions`` on the motion of
the segment at 16 fps, one keyboard (W, S, A, D) and mouse (pitch, yaw) row per native frame; the
mapping's fields are in the fingerprint, hence in every result.
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

from longvgenbench.errors import OptionError, WeightsUnavailableError
from longvgenbench.model import VideoModel
from longvgenbench.provenance import stable_seed
from longvgenbench.records import Grid, NativeFormat, SegmentOutput, SegmentRequest, freeze_state

NATIVE_FPS = 16.0
NATIVE_HEIGHT, NATIVE_WIDTH = 352, 640
_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
GRID_MAPPING = ("one generation of whole 3-latent blocks per segment at 16 fps (81 frames = 21 latents on the "
                "protocol grid), first frame centre-cropped to the working aspect, fresh KV caches per segment, "
                "output resized to the grid")


def native_frames_for(grid: Grid, per_block: int = 3) -> int:
    """Native frames generated for one segment of ``grid``: its duration at 16 fps, in whole blocks."""
    from baselines.matrix_game.pipeline import latent_frames_for

    needed = math.ceil((grid.clip_frames - 1) * NATIVE_FPS / grid.fps - 1e-9) + 1
    return 1 + 4 * (latent_frames_for(needed, per_block) - 1)


class MatrixGame2Model(VideoModel):
    """Matrix-Game-2.0 universal (image + keyboard/mouse actions from the clip's camera; no text).

    Options: ``weights`` (folder: ``generator.safetensors``, ``vae/``, ``image_encoder/``, optional
    ``matrix_game_config.json``; default the cache folder of ``catalog``), ``dtype`` (bf16 | fp32 |
    fp16; upstream runs bf16), ``height`` / ``width`` (working size, 352x640), ``action_mapping``
    (dict of ``baselines.actions.ActionMapping`` overrides).
    """

    name: ClassVar[str] = "matrix-game-2"
    version: ClassVar[str] = "1"
    needs_weights: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", *, weights: str | None = None, dtype: str = "bf16",
                 height: int = NATIVE_HEIGHT, width: int = NATIVE_WIDTH,
                 action_mapping: Mapping[str, Any] | None = None) -> None:
        super().__init__(device=device)
        from baselines.actions import ActionMapping

        if dtype not in _DTYPES:
            raise OptionError(f"{self.name}: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if int(height) <= 0 or int(width) <= 0 or int(height) % 16 or int(width) % 16:
            raise OptionError(f"{self.name}: height and width must be positive multiples of 16, got {height}x{width}")
        try:
            self.mapping = ActionMapping.from_options(dict(action_mapping or {}))
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        self.weights = Path(weights) if weights else None
        self.dtype_name, self.height, self.width = dtype, int(height), int(width)
        self._pipeline = None
        #: segment index -> the MatrixGameActions it was generated with (for inspection and tests)
        self.actions: dict[int, Any] = {}

    @property
    def native(self) -> NativeFormat:
        return NativeFormat(num_frames=81, fps=NATIVE_FPS, height=self.height, width=self.width)

    def _folder(self) -> Path:
        from baselines.matrix_game.catalog import official_weights_folder

        if self.weights is None:
            return official_weights_folder()
        needed = [self.weights / "generator.safetensors", self.weights / "vae", self.weights / "image_encoder"]
        absent = [p for p in needed if not p.exists()]
        if absent:
            raise WeightsUnavailableError("Matrix-Game-2.0 weights", absent[0],
                                          "a folder with generator.safetensors, vae/ and image_encoder/ "
                                          "(see baselines/matrix_game/catalog.py for where each comes from)")
        return self.weights

    def fingerprint(self) -> dict[str, str]:
        from baselines.matrix_game.checkpoint import read_header
        from baselines.matrix_game.pipeline import folder_config

        folder = self._folder()
        generator = folder / "generator.safetensors"
        digest = hashlib.sha256(json.dumps(sorted((k, list(v)) for k, v in read_header(generator).items())).encode())
        digest.update(str(generator.stat().st_size).encode())
        for sub in ("vae", "image_encoder"):
            config = folder / sub / "config.json"
            digest.update(config.read_bytes() if config.exists() else sub.encode())
        return {"name": self.name, "version": self.version, "weights_headers_sha256": digest.hexdigest(),
                "dtype": self.dtype_name, "size": f"{self.height}x{self.width}",
                "config": json.dumps(folder_config(folder).as_dict(), sort_keys=True),
                "action_mapping": json.dumps(self.mapping.as_dict(), sort_keys=True), "grid_mapping": GRID_MAPPING}

    def pipeline(self):
        if self._pipeline is None:
            from baselines.matrix_game.pipeline import SegmentPipeline, folder_config, load_components

            folder = self._folder()
            cfg = folder_config(folder)
            dtype = _DTYPES[self.dtype_name]
            self._pipeline = SegmentPipeline(load_components(folder, cfg, dtype), cfg, self.height, self.width,
                                             self.device, dtype)
        return self._pipeline

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        from tqdm.auto import tqdm

        from baselines.actions import matrix_game_actions, segment_motion

        motion = segment_motion(request.sample, request.segment)  # a clear error when there is no camera
        pipe = self.pipeline()
        cfg = pipe.cfg
        frames = native_frames_for(request.grid, cfg.num_frame_per_block)
        actions = matrix_game_actions(motion, self.mapping, num_frames=frames, fps=NATIVE_FPS)
        self.actions[request.segment.index] = actions
        seed = stable_seed(request.seed, "segment", str(request.segment.index))
        latents = (frames - 1) // 4 + 1
        with tqdm(total=latents // cfg.num_frame_per_block * len(cfg.denoising_steps), leave=False, unit="step",
                  desc=f"{request.sample.video_id} segment {request.segment.index}") as bar:
            video = pipe.generate(request.first_frame, actions.keyboard, actions.mouse, seed,
                                  on_step=lambda: bar.update(1))
        return SegmentOutput(frames=np.ascontiguousarray(video), state=freeze_state(None))


__all__ = ["GRID_MAPPING", "NATIVE_FPS", "MatrixGame2Model", "native_frames_for"]
