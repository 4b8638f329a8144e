"""The oracle baseline: the ground truth itself, a sanity upper bound (SSIM 1, LPIPS 0).

It ignores ``request.first_frame`` on purpose: after segment 0 the loop hands it the last
"generated" frame, which for the oracle is the ground truth's frame ``segment.start`` anyway
(clips overlap by one frame), so following the data keeps every segment exact. If a metric
does not give the oracle its best score, the metric (or the frame alignment) is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from baselines._common import OnGridModel, check_segment_length
from longvgenbench.errors import MismatchError, SplitError
from longvgenbench.records import SegmentOutput, SegmentRequest, freeze_state
from longvgenbench.video_io import iter_frames


class GroundTruthUnavailableError(SplitError):
    """The oracle was asked for a sample whose split ships no ground-truth video."""


class OracleModel(OnGridModel):
    """Returns ground-truth frames ``[segment.start, segment.stop)`` of ``request.sample.ground_truth``.

    Frames are decoded as a stream over exactly that range (no whole-video decode). The ground
    truth must already be on the grid's size: the oracle never resizes, since a resized copy
    would no longer be the ground truth an evaluator compares against.

    Options: ``height`` / ``width``, the size reported by :attr:`native`.
    """

    name: ClassVar[str] = "oracle"
    version: ClassVar[str] = "1"

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        sample, segment, grid = request.sample, request.segment, request.grid
        if sample.ground_truth is None:
            raise GroundTruthUnavailableError(
                f"the oracle needs ground truth, but sample {sample.video_id!r} of split {sample.split!r} has "
                f"none (VideoSample.ground_truth is None); run it on a split that ships ground-truth videos")
        num_frames = check_segment_length(request)
        frames = np.empty((num_frames, grid.height, grid.width, 3), np.uint8)
        for i, frame in enumerate(iter_frames(sample.ground_truth, segment.start, segment.start + num_frames)):
            if frame.shape != frames.shape[1:]:
                raise MismatchError(f"{sample.ground_truth}: ground-truth frames are {frame.shape[1]}x{frame.shape[0]}"
                                    f" (WxH), the grid is {grid.width}x{grid.height}")
            frames[i] = frame
        return SegmentOutput(frames=frames, state=freeze_state(None))
