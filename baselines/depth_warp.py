"""The depth-warp baseline: a training-free controllable reference that moves the first frame.

It uses the controls alone (no weights, no text): the segment's point tracks say where each
part of frame 0 goes at frame t, its depth says which part is in front when two land on the
same pixel. Everything it shows comes from the first frame, so it bounds what pure
control-following achieves without synthesis: it should beat ``static`` on SSIM / LPIPS for
moving clips and show honest motion, while disocclusions and new content stay poor.

Note the first frame after segment 0 is the previous segment's last *generated* frame, while the
tracks were measured on the ground truth; the warp applies the ground truth's motion to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from baselines._common import OnGridModel, check_segment_length, checked_first_frame
from baselines.warping import HOLE_FILLS, TrackFlowField, anchor_displacements, fill_holes, forward_splat
from longvgenbench.controls import load_depth, load_tracks
from longvgenbench.errors import ControlError
from longvgenbench.records import PROTOCOL_GRID, SegmentOutput, SegmentRequest, freeze_state


class DepthWarpModel(OnGridModel):
    """Forward-warps the segment's first frame along track-interpolated flow, z-buffered by depth.

    Options (all keyword):

    - ``hole_fill``: ``"telea"`` (default; OpenCV inpainting), ``"previous"`` (the previous output
      frame's pixel) or ``"none"`` (black).
    - ``inpaint_radius``: neighbourhood radius in pixels for ``telea`` (default 3).
    - ``min_visible_tracks``: below this many visible tracks a frame reuses the previous frame's
      flow (default 3: the fewest that span an area).
    - ``depth_tolerance``: normalised depth within which colliding pixels blend rather than
      occlude (default 0.02, about 5 grey levels of the 8-bit depth video).
    - ``depth_edge``: a depth step (normalised) across which the track flow is not blended
      linearly, the pixel taking the motion of the corner nearest in depth (default 0.05).
    - ``height`` / ``width``: the size reported by :attr:`native` (output follows the request).

    Deterministic: the seed is ignored and equal inputs give equal frames.
    """

    name: ClassVar[str] = "depth-warp"
    version: ClassVar[str] = "1"

    def __init__(self, device: str = "cpu", *, hole_fill: str = "telea", inpaint_radius: float = 3.0,
                 min_visible_tracks: int = 3, depth_tolerance: float = 0.02, depth_edge: float = 0.05,
                 height: int = PROTOCOL_GRID.height,
                 width: int = PROTOCOL_GRID.width) -> None:
        super().__init__(device=device, height=height, width=width)
        if hole_fill not in HOLE_FILLS:
            raise ValueError(f"hole_fill must be one of {HOLE_FILLS}, got {hole_fill!r}")
        if not inpaint_radius > 0:
            raise ValueError(f"inpaint_radius must be positive, got {inpaint_radius}")
        if int(min_visible_tracks) < 1:
            raise ValueError(f"min_visible_tracks must be at least 1, got {min_visible_tracks}")
        if not depth_tolerance >= 0:
            raise ValueError(f"depth_tolerance must be non-negative, got {depth_tolerance}")
        if not depth_edge >= 0:
            raise ValueError(f"depth_edge must be non-negative, got {depth_edge}")
        self.hole_fill = hole_fill
        self.inpaint_radius = float(inpaint_radius)
        self.min_visible_tracks = int(min_visible_tracks)
        self.depth_tolerance = float(depth_tolerance)
        self.depth_edge = float(depth_edge)

    def fingerprint(self) -> dict[str, str]:
        return {**super().fingerprint(), "hole_fill": self.hole_fill,
                "inpaint_radius": repr(self.inpaint_radius), "min_visible_tracks": str(self.min_visible_tracks),
                "depth_tolerance": repr(self.depth_tolerance), "depth_edge": repr(self.depth_edge)}

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        first = checked_first_frame(request)
        num_frames = check_segment_length(request)
        height, width = request.grid.height, request.grid.width
        controls = request.segment.controls
        where = f"segment {request.segment.index} of {request.sample.video_id!r}"
        missing = [name for name, path in (("tracks", controls.tracks), ("depth_video", controls.depth_video))
                   if path is None]
        if missing:
            raise ControlError(request.sample.first_frame.parent,
                               f"depth-warp needs the {' and '.join(missing)} control(s), which {where} lacks "
                               f"(SegmentControls.{missing[0]} is None)")
        tracks = load_tracks(controls.tracks, expected_frames=num_frames)
        depth0 = load_depth(controls.depth_video, expected_frames=num_frames)[0]
        if depth0.shape != (height, width):
            raise ControlError(controls.depth_video, f"depth frames are {depth0.shape[1]}x{depth0.shape[0]} (WxH), "
                                                     f"the grid is {width}x{height}")
        anchored = tracks.visible[:, 0]
        if not anchored.any():
            raise ControlError(controls.tracks, f"no track is visible on frame 0 of {where}")
        anchors = tracks.xy[anchored, 0]
        field = TrackFlowField(anchors, height, width, depth0, self.depth_edge)
        frames = np.empty((num_frames, height, width, 3), np.uint8)
        frames[0] = first
        displacement = np.zeros_like(anchors)
        for t in range(1, num_frames):
            displacement = anchor_displacements(anchors, tracks.xy[anchored, t] - anchors, tracks.visible[anchored, t],
                                                displacement, self.min_visible_tracks)
            warped, holes = forward_splat(first, field.dense(displacement), depth0, self.depth_tolerance)
            frames[t] = fill_holes(warped, holes, self.hole_fill, previous=frames[t - 1],
                                   inpaint_radius=self.inpaint_radius)
        return SegmentOutput(frames=frames, state=freeze_state(None))
