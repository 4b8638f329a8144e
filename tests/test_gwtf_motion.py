"""Flow for Go-with-the-Flow from the benchmark's tracks (depth-ordered) and from a flow estimator."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.cogvideox.grid import GridMapping
from baselines.gwtf.motion import flows_from_tracks, interpolate_tracks
from longvgenbench.controls import Tracks
from longvgenbench.records import Grid, NativeFormat

GRID = Grid(clip_frames=17, stride=16, fps=16.0, height=32, width=56)
MAPPING = GridMapping(NativeFormat(9, 8.0, 32, 48))


def _grid_tracks(velocity: tuple[float, float], step: int = 4) -> Tracks:
    gx, gy = np.meshgrid(np.arange(0, GRID.width, step, dtype=np.float32),
                         np.arange(0, GRID.height, step, dtype=np.float32))
    anchors = np.stack([gx.ravel(), gy.ravel()], axis=1)
    t = np.arange(GRID.clip_frames, dtype=np.float32)[None, :, None]
    xy = anchors[:, None] + np.array(velocity, np.float32) * t
    return Tracks(xy=xy, visible=np.ones(xy.shape[:2], bool))


def test_constant_track_motion_gives_constant_flow_in_flow_pixels() -> None:
    tracks = _grid_tracks((-1.0, 0.5))
    flows = flows_from_tracks(tracks, None, MAPPING, GRID, 16, 24)
    assert len(flows) == 8
    # native frames are 16/8 = 2 grid frames apart; x scales 24/56, y 16/32
    for flow in flows:
        assert flow.shape == (2, 16, 24)
        assert np.allclose(flow[0].numpy(), -2.0 * 24 / 56, atol=1e-5)
        assert np.allclose(flow[1].numpy(), 2 * 0.5 * 16 / 32, atol=1e-5)


def test_fractional_times_interpolate_and_need_visibility_at_both_ends() -> None:
    tracks = _grid_tracks((2.0, 0.0))
    tracks.visible[0, 3] = False
    xy, visible = interpolate_tracks(tracks, 2.5)
    assert np.allclose(xy[1], tracks.xy[1, 2] + [1.0, 0.0])
    assert not visible[0] and visible[1]


def test_depth_keeps_a_near_object_motion_off_the_far_background() -> None:
    """Left half near (depth 0) moving right, right half far (depth 1) still: no smear across the edge."""
    tracks = _grid_tracks((0.0, 0.0), step=4)
    near = tracks.xy[:, 0, 0] < 28
    tracks.xy[near, :, 0] += np.arange(GRID.clip_frames, dtype=np.float32) * 0.5
    depth = np.ones((GRID.clip_frames, GRID.height, GRID.width), np.float32)
    depth[:, :, :28] = 0.0
    with_depth = flows_from_tracks(tracks, depth, MAPPING, GRID, GRID.height, GRID.width)[0][0].numpy()
    without = flows_from_tracks(tracks, None, MAPPING, GRID, GRID.height, GRID.width)[0][0].numpy()
    # between the last near column of anchors (24) and the first far one (28) linear interpolation smears
    assert 0.0 < without[10, 26] < 1.0
    assert with_depth[10, 26] == pytest.approx(1.0) and with_depth[10, 29] == pytest.approx(0.0)
