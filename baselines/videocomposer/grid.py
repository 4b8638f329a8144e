"""VideoComposer's native clips (16 frames at 4 fps, 256x256) mapped onto the protocol grid.

Upstream resamples every video to 4 fps (``feature_framerate = 4``) and generates 16 frames, i.e.
3.75 s; a benchmark clip is 81 frames at 16 fps (5 s). At 4 fps one native frame is exactly 4 grid
frames, so a clip needs the native frames at grid frames 0, 4, ..., 80: **21 native frames**.
They come from **2 passes** of the model per clip, chained by the last frame as the long-video
loop is:

- pass 0 makes native frames 0..15 (grid 0, 4, ..., 60), starting from the clip's first frame;
- pass 1 starts from pass 0's last frame (grid 60) and makes 16 frames for grid 60, 64, ..., 120;
  its frames 1..5 (grid 64..80) complete the clip and the rest is discarded. Its conditions past
  the clip's last frame repeat that frame's (no look-ahead into the next clip).

The 21 native frames are the segment's output (``NativeFormat(21, 4.0, 256, 256)``); the spine's
``conform_to_grid`` then maps them onto the grid: sample-and-hold from 4 to 16 fps (grid frame k
shows native frame floor(k / 4), so grid frame 4j is exactly native frame j, each held for 4 grid
frames; no frame is invented), the 3 frames past 81 cut, and each frame resized from 256x256 to
480x832 (aspect not kept, as the grid frames were stretched to 256x256 on the way in). Generic in
the grid: any grid whose fps is a multiple of 4 and whose clip spans a multiple of that step works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from longvgenbench.errors import MismatchError
from longvgenbench.records import PROTOCOL_GRID, Grid, NativeFormat


@dataclass(frozen=True)
class GridMapping:
    """How the native passes of one benchmark clip line up with the grid's frames."""

    grid: Grid = PROTOCOL_GRID
    native_frames: int = 16
    native_fps: float = 4.0
    size: int = 256

    def __post_init__(self) -> None:
        step = self.grid.fps / self.native_fps
        if abs(step - round(step)) > 1e-9 or round(step) < 1:
            raise MismatchError(f"VideoComposer runs at {self.native_fps} fps; the grid's {self.grid.fps} fps is not "
                                f"a whole multiple of it")
        if (self.grid.clip_frames - 1) % round(step):
            raise MismatchError(f"a grid clip of {self.grid.clip_frames} frames does not span a whole number of "
                                f"{round(step)}-frame native steps")

    @property
    def step(self) -> int:
        """Grid frames per native frame."""
        return round(self.grid.fps / self.native_fps)

    @property
    def clip_native_frames(self) -> int:
        """Native frames one grid clip needs (21 on the protocol grid)."""
        return (self.grid.clip_frames - 1) // self.step + 1

    @property
    def passes(self) -> int:
        """Model passes per clip, each adding ``native_frames - 1`` new frames (2 on the protocol grid)."""
        return math.ceil((self.clip_native_frames - 1) / (self.native_frames - 1))

    @property
    def native(self) -> NativeFormat:
        return NativeFormat(num_frames=self.clip_native_frames, fps=self.native_fps, height=self.size, width=self.size)

    def pass_grid_indices(self, index: int) -> np.ndarray:
        """Grid frame of each of the 16 frames of pass ``index`` (past the clip's end: its last frame)."""
        native = index * (self.native_frames - 1) + np.arange(self.native_frames)
        return np.minimum(native * self.step, self.grid.clip_frames - 1)

    def pass_kept(self, index: int) -> slice:
        """The frames of pass ``index`` that belong to the clip (pass k > 0 repeats pass k-1's last frame)."""
        start = index * (self.native_frames - 1)
        stop = min(start + self.native_frames, self.clip_native_frames)
        return slice(0 if index == 0 else 1, stop - start)

    def assemble(self, passes: list[np.ndarray]) -> np.ndarray:
        """The clip's native frames (``clip_native_frames``, H, W, 3) from the outputs of its passes."""
        if len(passes) != self.passes:
            raise ValueError(f"need {self.passes} passes, got {len(passes)}")
        frames = np.concatenate([p[self.pass_kept(i)] for i, p in enumerate(passes)])
        assert frames.shape[0] == self.clip_native_frames
        return frames


__all__ = ["GridMapping"]
