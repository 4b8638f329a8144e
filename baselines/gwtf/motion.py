"""Per-native-frame optical flow for Go-with-the-Flow, from the benchmark's controls or the ground truth.

Go-with-the-Flow warps noise along the forward flow between consecutive frames of a driving
video (upstream: RAFT on the video stretched to 49 frames at 480x720, computed at half that
size). Here the native frames sit at grid times ``GridMapping.native_times`` (one native
segment per clip), and the flow between native frames j-1 and j comes from one of:

- ``tracks`` (default): the clip's point tracks. Positions at a fractional grid time are
  interpolated linearly between the two nearest grid frames; a track counts only where it is
  visible at both. The displacements of the visible tracks are spread over frame j-1's pixels
  by ``baselines.warping.TrackFlowField`` (piecewise-linear on their Delaunay triangulation);
  where a triangle spans a depth step (frame j-1's depth), the pixel takes the motion of the
  corner nearest to it in depth, so a near object's motion does not smear over the far
  background behind it (occlusions ordered by depth). Track coordinates are in grid pixels and
  are rescaled to the flow size (the native size is a stretch of the grid frame).
- ``dis`` / ``raft``: an optical-flow estimator on the ground-truth clip (``longvgenbench.build.
  flow_tracker.FlowTracker``'s backends), the ground truth being sampled at the native times by
  linear blending of the two nearest grid frames, as the driving video upstream would be.

Flows are returned at ``flow_height x flow_width`` (half the native size by default, as
upstream) in pixels of that size, as torch (2, h, w) tensors.
"""

from __future__ import annotations

import numpy as np
import torch

from baselines.cogvideox.grid import GridMapping
from baselines.warping import TrackFlowField
from longvgenbench.controls import Tracks, load_depth, load_tracks
from longvgenbench.errors import ControlError
from longvgenbench.records import Grid, SegmentRequest
from longvgenbench.video_io import read_frames, resize

MOTION_SOURCES = ("tracks", "dis", "raft")


def interpolate_tracks(tracks: Tracks, time: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 2) at a fractional frame ``time`` and whether each track is visible there."""
    last = tracks.xy.shape[1] - 1
    lo = min(int(np.floor(time)), last)
    hi = min(lo + 1, last)
    frac = np.float32(time - lo) if hi > lo else np.float32(0.0)
    xy = tracks.xy[:, lo] * (1 - frac) + tracks.xy[:, hi] * frac
    visible = tracks.visible[:, lo] & tracks.visible[:, hi]
    return xy, visible


def flows_from_tracks(tracks: Tracks, depth: np.ndarray | None, mapping: GridMapping, grid: Grid,
                      flow_height: int, flow_width: int, depth_edge: float = 0.05,
                      min_visible: int = 3) -> list[torch.Tensor]:
    """Forward flows between consecutive native frames (N - 1 of them) from grid-pixel tracks."""
    times = mapping.native_times(grid.clip_frames)
    scale = np.array([flow_width / grid.width, flow_height / grid.height], np.float32)
    flows: list[torch.Tensor] = []
    previous = np.zeros((2, flow_height, flow_width), np.float32)
    for j in range(1, len(times)):
        start, start_visible = interpolate_tracks(tracks, times[j - 1])
        end, end_visible = interpolate_tracks(tracks, times[j])
        usable = start_visible & end_visible
        if int(usable.sum()) < min_visible:
            flows.append(torch.from_numpy(previous.copy()))  # too few tracks: keep the last motion
            continue
        anchors = (start[usable] * scale).astype(np.float64)
        frame_depth = None
        if depth is not None:
            frame_depth = resize(depth[int(round(times[j - 1]))], flow_height, flow_width)
        field = TrackFlowField(anchors, flow_height, flow_width, frame_depth, depth_edge)
        dense = field.dense(((end[usable] - start[usable]) * scale).astype(np.float32))  # (h, w, 2)
        previous = np.ascontiguousarray(dense.transpose(2, 0, 1))
        flows.append(torch.from_numpy(previous.copy()))
    return flows


def ground_truth_at_native_times(request: SegmentRequest, mapping: GridMapping, height: int,
                                 width: int) -> np.ndarray:
    """The clip's ground truth sampled at the native frames' times, uint8 (N, height, width, 3)."""
    sample, segment = request.sample, request.segment
    if sample.ground_truth is None:
        raise ControlError(sample.first_frame.parent, f"motion from a flow estimator needs the ground truth of "
                                                      f"{sample.video_id!r}, which the split does not have")
    frames = read_frames(sample.ground_truth, segment.start, segment.stop)
    if frames.shape[0] != segment.num_frames:
        raise ControlError(sample.ground_truth, f"has {frames.shape[0]} frames from {segment.start}, segment "
                                                f"{segment.index} needs {segment.num_frames}")
    out = []
    for time in mapping.native_times(segment.num_frames):
        lo = int(np.floor(time))
        hi = min(lo + 1, segment.num_frames - 1)
        frac = np.float32(time - lo)
        blend = frames[lo].astype(np.float32) * (1 - frac) + frames[hi].astype(np.float32) * frac
        out.append(resize(np.floor(blend + 0.5).clip(0, 255).astype(np.uint8), height, width))
    return np.stack(out)


def flows_from_estimator(frames: np.ndarray, backend: str, device: str = "cpu") -> list[torch.Tensor]:
    """Forward flows between consecutive frames (uint8 (N, h, w, 3)) by DIS or RAFT (the builder's)."""
    from longvgenbench.build.flow_tracker import FlowTracker

    tracker = FlowTracker(backend=backend, device=device)
    pair = tracker.pair_flows(frames)  # (forward, backward) flows of frames t -> t + 1
    return [torch.from_numpy(np.ascontiguousarray(pair(t)[0].transpose(2, 0, 1), np.float32))
            for t in range(frames.shape[0] - 1)]


def segment_flows(request: SegmentRequest, mapping: GridMapping, source: str, flow_height: int, flow_width: int,
                  device: str = "cpu") -> list[torch.Tensor]:
    """The N - 1 forward flows of one native segment from ``source`` (see the module docstring)."""
    if source not in MOTION_SOURCES:
        raise ValueError(f"motion source must be one of {MOTION_SOURCES}, got {source!r}")
    if source != "tracks":
        frames = ground_truth_at_native_times(request, mapping, flow_height, flow_width)
        return flows_from_estimator(frames, source, device)
    controls, segment = request.segment.controls, request.segment
    if controls.tracks is None:
        raise ControlError(request.sample.first_frame.parent,
                           f"go-with-the-flow (motion='tracks') needs the tracks control, which segment "
                           f"{segment.index} of {request.sample.video_id!r} lacks; use motion='dis' or 'raft' "
                           f"to take the motion from the ground truth instead")
    tracks = load_tracks(controls.tracks, expected_frames=segment.num_frames)
    depth = None
    if controls.depth_video is not None:
        depth = load_depth(controls.depth_video, expected_frames=segment.num_frames)
    return flows_from_tracks(tracks, depth, mapping, request.grid, flow_height, flow_width)


__all__ = ["MOTION_SOURCES", "flows_from_estimator", "flows_from_tracks", "ground_truth_at_native_times",
           "interpolate_tracks", "segment_flows"]
