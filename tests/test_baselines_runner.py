"""The three baselines driven by the real runner over a hand-built two-segment split.

Checks the contract between the baselines and the long-video loop: the oracle reproduces the
ground truth segment by segment, and depth-warp / static start each later segment from the
previous segment's last generated frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from baselines.depth_warp import DepthWarpModel
from baselines.oracle import OracleModel
from baselines.static import StaticModel
from longvgenbench.records import Category, Grid, Segment, SegmentControls, Split, VideoSample
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import LOSSLESS, read_frames, write_video

H, W = 48, 80
GRID = Grid(clip_frames=7, stride=6, fps=16.0, height=H, width=W)


def build_split(root: Path) -> tuple[Split, np.ndarray]:
    rng = np.random.default_rng(0)
    total = GRID.frames_for_clips(2)
    base = rng.integers(0, 256, (H, W + 2 * total, 3), dtype=np.uint8)
    truth = np.stack([base[:, 2 * t: 2 * t + W] for t in range(total)])  # camera pans 2 px/frame
    video = write_video(root / "truth.mkv", truth, GRID.fps, LOSSLESS)
    cv2.imwrite(str(root / "first.png"), cv2.cvtColor(truth[0], cv2.COLOR_RGB2BGR))
    gx, gy = np.meshgrid(np.arange(0, W, 4, dtype=np.float32), np.arange(0, H, 4, dtype=np.float32))
    anchors = np.stack([gx.ravel(), gy.ravel()], axis=1)
    steps = np.arange(GRID.clip_frames, dtype=np.float32)[None, :, None]
    segments = []
    for index, start in enumerate(GRID.clip_starts(total)):
        tracks = root / f"tracks{index}.npz"
        np.savez(tracks, xy=anchors[:, None] + np.array([-2.0, 0.0], np.float32) * steps,
                 visible=np.ones((len(anchors), GRID.clip_frames), bool))
        depth = root / f"depth{index}.npy"
        np.save(depth, np.full((GRID.clip_frames, H, W), 0.5, np.float32))
        segments.append(Segment(index=index, start=start, num_frames=GRID.clip_frames, caption=f"clip {index}",
                                controls=SegmentControls(depth_video=depth, tracks=tracks)))
    sample = VideoSample(video_id="pan", split="unit", category=Category("synthetic", "outdoor", "day"),
                         fps=GRID.fps, height=H, width=W, num_frames=total, first_frame=root / "first.png",
                         segments=tuple(segments), ground_truth=video)
    return Split(name="unit", root=root, grid=GRID, manifest_sha256="0" * 64, samples=(sample,)), truth


@pytest.mark.parametrize("model_class", [StaticModel, OracleModel, DepthWarpModel])
def test_baseline_through_runner(tmp_path: Path, model_class: type) -> None:
    split, truth = build_split(tmp_path)
    out = tmp_path / "run"
    summary = generate(model_class(height=H, width=W), split, out)
    assert summary.segments_generated == 2
    run = RunDir(out)
    segment0 = read_frames(run.segment_video("pan", 0))
    segment1 = read_frames(run.segment_video("pan", 1))
    assert segment0.shape == segment1.shape == (GRID.clip_frames, H, W, 3)
    assert np.array_equal(segment1[0], segment0[-1])  # the loop and every baseline agree on the join
    if model_class is OracleModel:
        assert np.array_equal(segment0, truth[: GRID.clip_frames])
        assert np.array_equal(segment1, truth[GRID.stride: GRID.stride + GRID.clip_frames])
    if model_class is DepthWarpModel:
        # the pan is 2 px/frame to the left: away from the strips revealed on the right (in segment 0,
        # carried into segment 1's first frame, and in segment 1) the warp is exact
        for t in range(1, GRID.clip_frames):
            exact = W - 2 * GRID.stride - 2 * t
            assert np.array_equal(segment1[t][:, :exact], truth[GRID.stride + t][:, :exact])
            assert np.array_equal(segment0[t][:, : W - 2 * t], truth[t][:, : W - 2 * t])
