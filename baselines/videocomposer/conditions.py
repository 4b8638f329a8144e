"""VideoComposer's conditions made from a benchmark clip's controls.

- **Depth.** Upstream runs MiDaS DPT-Large on 384x384 frames and feeds ``clamp(midas / 20, 0, 10)``:
  MiDaS outputs relative *inverse* depth (bigger = nearer) with an arbitrary per-image scale, so
  near is large. Our depth control is the protocol's globally normalised depth, near = 0, far = 1
  (inverse depth flipped). Conversion: ``vc = depth_clamp * (1 - d)`` (polarity flipped back to
  near = large, spread over upstream's whole clamp range [0, 10]; the MiDaS scale cannot be
  recovered, so the range is a choice, recorded in the fingerprint), resized to 384x384 (the grid
  frame stretched, area filter), at the grid frames of the pass (4 fps).
- **First frame** (``local_image``): the pass's first frame, stretched to 384x384, in [0, 1],
  repeated over the 16 frames (upstream: ``misc_data[:, :1].repeat``).
- **Style image** (``image``): CLIP embedding of the same first frame. Upstream embeds the clip's
  middle ground-truth frame; that frame is not available to a generator here.
- **Motion vectors** (``motion``, off by default). Upstream takes the codec's motion vectors of
  the 4-fps video: per macroblock, the displacement from the previous frame, written at the
  block's position in the current frame, zero elsewhere and on the first frame; 2 channels (x, y),
  256x256. From the track control: for each grid step of the pass (4 grid frames), every point
  visible at both ends and inside the frame gives its displacement, written at its current position
  (the 256x256 pixel it falls in; later points overwrite earlier), in pixels of the
  256x256 frame (upstream's are in the source video's pixels; ``motion_scale`` rescales).
  Repeated (held) frames past the clip's end get zero motion.
"""

from __future__ import annotations

import cv2
import numpy as np

from longvgenbench.controls import Tracks


def stretch(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize a frame or a depth map to ``size x size`` (aspect not kept; area filter when shrinking)."""
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    shrinking = size < h and size < w
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def depth_condition(depth: np.ndarray, indices: np.ndarray, size: int, depth_clamp: float) -> np.ndarray:
    """Protocol depth (T, H, W) in [0, 1], near = 0 -> VideoComposer depth (1, F, size, size), near = large."""
    frames = [stretch(np.ascontiguousarray(depth[i], dtype=np.float32), size) for i in indices]
    return (depth_clamp * (1.0 - np.stack(frames)))[None].astype(np.float32)


def local_image_condition(first_frame: np.ndarray, num_frames: int, size: int) -> np.ndarray:
    """The first frame (uint8 H, W, 3) as (3, F, size, size) in [0, 1], the same for every frame."""
    image = stretch(first_frame, size).astype(np.float32) / 255.0
    return np.repeat(image.transpose(2, 0, 1)[:, None], num_frames, axis=1)


def motion_condition(tracks: Tracks, indices: np.ndarray, grid_hw: tuple[int, int], size: int,
                     motion_scale: float = 1.0) -> np.ndarray:
    """Sparse motion vectors (2, F, size, size) from point tracks on the grid at the pass's grid frames."""
    height, width = grid_hw
    scale = np.array([size / width, size / height], np.float32)
    out = np.zeros((2, len(indices), size, size), np.float32)
    for i in range(1, len(indices)):
        prev, cur = int(indices[i - 1]), int(indices[i])
        if cur == prev:
            continue
        here_all = tracks.xy[:, cur] * scale
        inside = (here_all >= 0).all(1) & (here_all[:, 0] < size) & (here_all[:, 1] < size)
        both = tracks.visible[:, prev] & tracks.visible[:, cur] & inside
        here = here_all[both]
        moved = (tracks.xy[both, cur] - tracks.xy[both, prev]) * scale * motion_scale
        px, py = np.floor(here[:, 0]).astype(np.int64), np.floor(here[:, 1]).astype(np.int64)
        out[0, i, py, px] = moved[:, 0]
        out[1, i, py, px] = moved[:, 1]
    return out


__all__ = ["depth_condition", "local_image_condition", "motion_condition", "stretch"]
