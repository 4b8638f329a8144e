"""Motion magnitude: how much a clip moves, from OpenCV's DIS optical flow (no weights).

Per pair of consecutive frames (t, t+1): DIS optical flow (``DISOPTICAL_FLOW_PRESET_MEDIUM``) on
the grey frames (``cv2.COLOR_RGB2GRAY``), the mean over pixels of the flow's Euclidean length.
The clip's value is the mean over the pairs it uses: every ``pair_stride``-th pair (t = 0, s, 2s, ...;
default 4, i.e. 20 of the 80 pairs of an 81-frame clip), which keeps the per-frame unit while
cutting the cost four-fold. Unit: pixels per frame *at the grid's reference width of 832 px*, i.e.
the measured pixels scaled by 832 / frame width, so clips of other sizes are comparable.

This is deliberately not VBench's dynamic degree (RAFT, top-5% magnitudes, a threshold): it is a
continuous, weight-free measure of how much moves, which is what a static-model baseline fails.
A static clip scores exactly 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import cv2
import numpy as np

from evaluators._frames import check_frames
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec
from longvgenbench.records import PROTOCOL_GRID

REFERENCE_WIDTH = PROTOCOL_GRID.width


class MotionMagnitudeEvaluator(ClipEvaluator):
    """Mean DIS optical-flow magnitude per clip, in px per frame at 832 px width.

    Marked higher-is-better like VBench's dynamic degree, which the paper reports that way; on its
    own it says nothing about quality (noise also moves), so read it beside the other metrics.
    """

    name: ClassVar[str] = "motion_magnitude"
    version: ClassVar[str] = "1.0"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "motion_magnitude", Level.CLIP, True,
            "mean DIS (medium) optical-flow magnitude over consecutive grey frames, every 4th pair by default; "
            "more motion scores higher (a frozen video scores 0)",
            f"px/frame at {REFERENCE_WIDTH} px width",
        ),
    )

    def __init__(self, device: str = "cpu", pair_stride: int = 4) -> None:
        super().__init__(device)
        if not isinstance(pair_stride, int) or pair_stride < 1:
            raise ValueError(f"pair_stride must be a positive integer, got {pair_stride!r}")
        self.pair_stride = pair_stride
        # DIS keeps scratch buffers between calls: one instance per evaluator, not shared across threads.
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def protocol(self) -> dict[str, object]:
        return {
            "flow": "OpenCV DIS optical flow, DISOPTICAL_FLOW_PRESET_MEDIUM", "input": "grey (COLOR_RGB2GRAY)",
            "pairs": f"consecutive (t, t+1) for t = 0, {self.pair_stride}, {2 * self.pair_stride}, ...",
            "pair_stride": self.pair_stride, "magnitude": "mean Euclidean flow length over pixels, mean over pairs",
            "unit": f"px per frame scaled to {REFERENCE_WIDTH} px width", "opencv": cv2.__version__,
        }

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip, min_frames=2)
        magnitudes = [
            self._pair_magnitude(frames[t], frames[t + 1]) for t in range(0, frames.shape[0] - 1, self.pair_stride)
        ]
        scale = REFERENCE_WIDTH / frames.shape[2]
        return {"motion_magnitude": float(np.mean(magnitudes)) * scale}

    def _pair_magnitude(self, first: np.ndarray, second: np.ndarray) -> float:
        flow = self._flow.calc(cv2.cvtColor(first, cv2.COLOR_RGB2GRAY), cv2.cvtColor(second, cv2.COLOR_RGB2GRAY), None)
        return float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean(dtype=np.float64))
