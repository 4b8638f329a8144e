"""The ``motion-i2v`` model: Motion-I2V on the benchmark's long-video loop.

Grid mapping (documented, tested exactly in ``tests/test_motion_i2v.py``): the published model
makes 16 frames at 8 fps and 320x512. One benchmark clip (81 frames at 16 fps = 80 intervals of
1/16 s) is covered by chaining ``native_segments_per_clip`` = ceil(80 / 30) = 3 native segments,
each starting from the previous one's last frame (so 16 + 15 + 15 = 46 distinct frames, 5.6 s);
grid frame j (time j/16 s) is native chain frame floor(j * 8 / 16) (sample-and-hold: even grid
frames are native frames, odd ones repeat the previous). Spatially the grid's first frame is
resized (aspect not kept, area) to 320x512 and the output resized back to the grid by the
runner, so the generation stays registered with the ground truth. The clip's caption is the
prompt (CLIP truncates it to 77 tokens). Later clips start from the runner's last grid frame;
the model keeps no state, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from baselines.motion_i2v.config import NATIVE_CFG, NATIVE_FPS, NATIVE_FRAMES, NATIVE_HEIGHT, NATIVE_STEPS, NATIVE_WIDTH
from longvgenbench.model import VideoModel
from longvgenbench.records import NativeFormat, SegmentOutput, SegmentRequest
from longvgenbench.video_io import resize


def native_segments_per_clip(clip_frames: int, grid_fps: float, native_fps: float = NATIVE_FPS,
                             native_frames: int = NATIVE_FRAMES) -> int:
    """Native segments chained to cover one clip's time span."""
    clip_seconds = (clip_frames - 1) / grid_fps
    segment_seconds = (native_frames - 1) / native_fps
    return max(1, math.ceil(clip_seconds / segment_seconds - 1e-9))


def chain_to_grid(chain: np.ndarray, clip_frames: int, grid_fps: float, native_fps: float = NATIVE_FPS) -> np.ndarray:
    """Grid frame j = chain frame floor(j * native_fps / grid_fps) (sample-and-hold by time)."""
    index = np.floor(np.arange(clip_frames) * native_fps / grid_fps + 1e-9).astype(int)
    if index[-1] >= len(chain):
        raise ValueError(f"a chain of {len(chain)} native frames cannot cover {clip_frames} grid frames")
    return chain[index]


def _seed(seed: int, video_id: str, segment: int, part: int) -> int:
    digest = hashlib.sha256(f"{seed}/{video_id}/{segment}/{part}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFFFFFF


class MotionI2VModel(VideoModel):
    name: ClassVar[str] = "motion-i2v"
    needs_weights: ClassVar[bool] = True
    version: ClassVar[str] = "1"

    def __init__(self, device: str = "cpu", *, weights: str | None = None, steps: int = NATIVE_STEPS,
                 guidance: float = NATIVE_CFG, height: int = NATIVE_HEIGHT, width: int = NATIVE_WIDTH,
                 pipeline: Callable[[np.ndarray, str, int], np.ndarray] | None = None) -> None:
        super().__init__(device=device)
        self.weights = weights
        self.steps, self.guidance, self.height, self.width = int(steps), float(guidance), int(height), int(width)
        self._pipeline = pipeline

    @property
    def native(self) -> NativeFormat:
        # what generate_segment returns: already on the grid's time axis (see the module docstring)
        return NativeFormat(num_frames=81, fps=16.0, height=self.height, width=self.width)

    def fingerprint(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "weights": str(self.weights or "official"),
                "steps": str(self.steps), "guidance": str(self.guidance), "size": f"{self.height}x{self.width}",
                "mapping": "3 chained 16-frame 8 fps segments per clip, sample-and-hold to 16 fps, resize"}

    def pipeline(self) -> Callable[[np.ndarray, str, int], np.ndarray]:
        if self._pipeline is None:
            from baselines.motion_i2v.loading import load_pipeline

            self._pipeline = load_pipeline(self.weights, self.device, steps=self.steps, guidance=self.guidance)
        return self._pipeline

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        grid = request.grid
        parts = native_segments_per_clip(grid.clip_frames, grid.fps)
        frame = resize(request.first_frame, self.height, self.width)
        generate = self.pipeline()
        chain: list[np.ndarray] = []
        for part in range(parts):
            frames = generate(frame, request.segment.caption, _seed(request.seed, request.sample.video_id,
                                                                     request.segment.index, part))
            chain.append(frames if part == 0 else frames[1:])
            frame = frames[-1]
        on_grid = chain_to_grid(np.concatenate(chain), grid.clip_frames, grid.fps)
        return SegmentOutput(frames=np.ascontiguousarray(on_grid), state=dict(state))

    @classmethod
    def options_help(cls) -> dict[str, Any]:
        return {"weights": "folder of the wangfuyun/Motion-I2V clone", "steps": NATIVE_STEPS, "guidance": NATIVE_CFG}
