"""CogVideoX's native segment <-> the protocol grid, exactly and in one documented way.

CogVideoX-5B-I2V makes 49 frames at 480x720 (HxW), published at 8 fps (6 s). A protocol clip is
81 frames at 16 fps (5 s, frames [80k, 80k + 81)), 480x832. The choices, recorded by
:meth:`GridMapping.describe` in every model fingerprint:

- **One native segment per benchmark clip.** The native segment spans the clip's 5 s exactly:
  native frame j sits at grid frame ``j * 80 / 48`` (= 5j/3), so native frame 0 is the clip's
  first frame and native frame 48 its last (grid frame 80, the next clip's first frame). The
  model therefore plays at 9.6 native frames per second instead of 8 (motion 1.2x faster per
  frame than its training rate). Go-with-the-Flow's own inference stretches any driving video to
  49 frames the same way (``resize_list(video, 49)``), and this keeps one generation per clip
  and the last native frame on the clip boundary, so the long-video loop carries it exactly.
  The alternative (8 fps kept, 41 native frames used, 8 generated past the clip's end and
  thrown away) would waste 16% of the compute and need motion for frames outside the clip.
- **Temporal resampling native -> grid**: grid frame k sits at native position ``k * 48 / 80``
  (0.6k). ``linear`` (default) blends the two neighbouring native frames by that fraction
  (rounded half up to uint8); every fifth grid frame (k = 5m) is native frame 3m unchanged.
  ``nearest`` takes the nearest native frame (ties to the earlier one), never blending.
- **Spatial**: the grid frame is stretched to the native size on the way in and the native
  frames are stretched back to the grid size on the way out (aspect not kept; 832 -> 720 ->
  832 columns), so no part of the first frame is cropped away and no border is invented.
  In: PIL Lanczos, what diffusers' CogVideoX video processor uses when it resizes an image.
  Out: :func:`longvgenbench.video_io.resize` (linear when growing, area when shrinking), as the
  spine's ``conform_to_grid`` does.

Everything here works for any native/grid length (tests use tiny native formats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from longvgenbench.records import Grid, NativeFormat
from longvgenbench.video_io import resize

#: CogVideoX-5B-I2V's published output: 49 frames, 8 fps, 480x720.
COGVIDEOX_NATIVE = NativeFormat(num_frames=49, fps=8.0, height=480, width=720)
TEMPORAL_MODES = ("linear", "nearest")


@dataclass(frozen=True)
class GridMapping:
    """How one native segment covers one grid clip (see the module docstring for the why)."""

    native: NativeFormat = COGVIDEOX_NATIVE
    temporal: str = "linear"

    def __post_init__(self) -> None:
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"temporal must be one of {TEMPORAL_MODES}, got {self.temporal!r}")
        if self.native.num_frames < 2:
            raise ValueError(f"a native segment needs at least 2 frames, got {self.native.num_frames}")

    # -- time ---------------------------------------------------------------------------------
    def native_times(self, grid_frames: int) -> np.ndarray:
        """Grid-frame position (float64) of every native frame: ``j * (G - 1) / (N - 1)``."""
        n = self.native.num_frames
        return np.arange(n, dtype=np.float64) * (grid_frames - 1) / (n - 1)

    def grid_positions(self, grid_frames: int) -> np.ndarray:
        """Native-frame position (float64) of every grid frame: ``k * (N - 1) / (G - 1)``."""
        if grid_frames < 2:
            raise ValueError(f"a grid clip needs at least 2 frames, got {grid_frames}")
        k = np.arange(grid_frames, dtype=np.int64)
        return k * (self.native.num_frames - 1) / (grid_frames - 1)

    def temporal_weights(self, grid_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each grid frame: (lower native index, upper native index, weight of the upper one).

        Computed in integers (``k * (N - 1)`` divmod ``G - 1``) so exact positions give weight 0.
        """
        n = self.native.num_frames
        k = np.arange(grid_frames, dtype=np.int64)
        lower, remainder = np.divmod(k * (n - 1), grid_frames - 1)
        weight = remainder / (grid_frames - 1)
        if self.temporal == "nearest":
            up = weight > 0.5
            lower = np.where(up, lower + 1, lower)
            weight = np.zeros_like(weight)
        upper = np.minimum(lower + 1, n - 1)
        return lower, upper, weight

    # -- frames -------------------------------------------------------------------------------
    def to_grid(self, frames: np.ndarray, grid: Grid) -> np.ndarray:
        """Native uint8 (N, h, w, 3) -> grid uint8 (grid.clip_frames, grid.height, grid.width, 3)."""
        n = self.native.num_frames
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != n or frames.shape[-1] != 3:
            raise ValueError(f"need uint8 ({n}, H, W, 3) native frames, got {frames.dtype} {frames.shape}")
        lower, upper, weight = self.temporal_weights(grid.clip_frames)
        out = np.empty((grid.clip_frames, grid.height, grid.width, 3), np.uint8)
        for k in range(grid.clip_frames):
            if weight[k] == 0.0:
                frame = frames[lower[k]]
            else:
                w = np.float32(weight[k])
                blend = frames[lower[k]].astype(np.float32) * (np.float32(1.0) - w) + frames[upper[k]] * w
                frame = np.floor(blend + np.float32(0.5)).clip(0, 255).astype(np.uint8)
            out[k] = resize(frame, grid.height, grid.width)
        return out

    def to_native_image(self, frame: np.ndarray) -> np.ndarray:
        """A grid-size uint8 (H, W, 3) frame stretched to the native size (PIL Lanczos)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"need a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        if frame.shape[:2] == (self.native.height, self.native.width):
            return frame
        image = Image.fromarray(frame).resize((self.native.width, self.native.height), Image.LANCZOS)
        return np.asarray(image)

    def describe(self, grid: Grid | None = None) -> dict[str, Any]:
        """The mapping as a record (stored in the model's fingerprint)."""
        out: dict[str, Any] = {
            "native_segments_per_clip": 1,
            "native": {"frames": self.native.num_frames, "fps": self.native.fps, "height": self.native.height,
                       "width": self.native.width},
            "time": "native frame j at grid frame j*(G-1)/(N-1): the native segment spans the clip exactly",
            "temporal": self.temporal,
            "spatial_in": "stretched to the native size (PIL Lanczos, aspect not kept)",
            "spatial_out": "stretched to the grid size (linear when growing, area when shrinking)",
        }
        if grid is not None:
            out["grid"] = {"frames": grid.clip_frames, "fps": grid.fps, "height": grid.height, "width": grid.width}
            out["effective_native_fps"] = (self.native.num_frames - 1) * grid.fps / (grid.clip_frames - 1)
        return out


__all__ = ["COGVIDEOX_NATIVE", "TEMPORAL_MODES", "GridMapping"]
