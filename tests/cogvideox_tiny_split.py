"""A tiny split for the CogVideoX adapters (17-frame clips, 32x56 grid), with tracks and depth controls.

The ground truth pans right-to-left by 1 px per grid frame; the tracks say so (a regular grid of
points moving -1 px/frame in x, all visible), the depth is a constant plane.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from core_fixtures import make_tiny_split

from longvgenbench.records import Grid, SegmentControls, Split

GRID = Grid(clip_frames=17, stride=16, fps=16.0, height=32, width=56)


def make_split(root: Path, num_segments: int = 3, shift_per_frame: float = -1.0) -> Split:
    split = make_tiny_split(root, num_videos=1, num_segments=num_segments, grid=GRID)
    gx, gy = np.meshgrid(np.arange(2, GRID.width, 6, dtype=np.float32), np.arange(2, GRID.height, 6, dtype=np.float32))
    anchors = np.stack([gx.ravel(), gy.ravel()], axis=1)
    steps = np.arange(GRID.clip_frames, dtype=np.float32)[None, :, None]
    samples = []
    for sample in split.samples:
        segments = []
        for segment in sample.segments:
            tracks = root / f"{sample.video_id}_tracks{segment.index}.npz"
            np.savez(tracks, xy=anchors[:, None] + np.array([shift_per_frame, 0.0], np.float32) * steps,
                     visible=np.ones((len(anchors), GRID.clip_frames), bool))
            depth = root / f"{sample.video_id}_depth{segment.index}.npy"
            np.save(depth, np.full((GRID.clip_frames, GRID.height, GRID.width), 0.5, np.float32))
            segments.append(replace(segment, controls=SegmentControls(depth_video=depth, tracks=tracks)))
        samples.append(replace(sample, segments=tuple(segments)))
    return replace(split, samples=tuple(samples))
