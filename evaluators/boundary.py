"""Boundary continuity: how smooth the joins between consecutive clips of a long video are.

Clip-by-clip generation typically jumps where one clip hands over to the next. On the grid,
clip k starts on clip k-1's last frame, so the first *new* frame after a join is frame 1 of clip k.
At each join k >= 1:

- ``jump`` = mean absolute difference (uint8 grey levels, all pixels and channels) between the
  last frame of clip k-1 and frame 1 of clip k;
- ``typical`` = the median of the consecutive-frame mean absolute differences inside the two
  neighbouring clips, over their frames 1..T-1 (the pair 0 -> 1 of every clip is left out, since
  for clips after the first it is itself a join);
- ``ratio`` = (jump + eps) / (typical + eps), eps = 0.5 grey level, so that a static video gives
  exactly 1 and a jump in an otherwise static video gives a large but finite number.

The video's score is the mean ratio over its joins: 1 = the joins change as much as any other
frame (seamless), 5 = five times the usual change; **lower is better**. A one-clip video has no
join and gets no value (an empty dict). Memory: one frame and one clip's differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from evaluators._frames import check_frames, consecutive_mean_abs_diffs, mean_abs_diff
from longvgenbench.errors import MismatchError
from longvgenbench.evaluation.api import ClipView, Evaluator, Level, MetricSpec, VideoScorer
from longvgenbench.records import VideoSample

EPSILON_GREY_LEVELS = 0.5


class BoundaryContinuityEvaluator(Evaluator):
    """Mean over joins of (change across the join) / (typical change within the neighbouring clips)."""

    name: ClassVar[str] = "boundary_continuity"
    version: ClassVar[str] = "1.0"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "boundary_continuity", Level.VIDEO, False,
            "mean over clip joins of (mean abs difference across the join + 0.5) / (median within-clip "
            "consecutive difference of the neighbouring clips + 0.5); 1 = seamless",
            "ratio",
        ),
    )

    def protocol(self) -> dict[str, object]:
        return {
            "jump": "mean abs diff (uint8) between clip k-1's last frame and clip k's frame 1",
            "typical": "median consecutive mean abs diff over frames 1..T-1 of clips k-1 and k",
            "epsilon_grey_levels": EPSILON_GREY_LEVELS, "score": "mean over joins of (jump+eps)/(typical+eps)",
            "single_clip": "no value",
        }

    def begin_video(self, sample: VideoSample) -> VideoScorer:
        return _BoundaryScorer()


class _BoundaryScorer(VideoScorer):
    def __init__(self) -> None:
        self._previous_last: np.ndarray | None = None
        self._previous_within: np.ndarray | None = None
        self._ratios: list[float] = []

    def add_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip, min_frames=3)
        within = consecutive_mean_abs_diffs(frames[1:])
        if self._previous_last is not None and self._previous_within is not None:
            if self._previous_last.shape != frames.shape[1:]:
                raise MismatchError(
                    f"{clip.sample.video_id} clip {clip.segment.index}: frame size {frames.shape[1:]} differs "
                    f"from the previous clip's {self._previous_last.shape}"
                )
            jump = mean_abs_diff(self._previous_last, frames[1])
            typical = float(np.median(np.concatenate([self._previous_within, within])))
            self._ratios.append((jump + EPSILON_GREY_LEVELS) / (typical + EPSILON_GREY_LEVELS))
        self._previous_last = frames[-1].copy()  # the engine may reuse its buffer after this call
        self._previous_within = within
        return {}

    def finish(self) -> Mapping[str, float]:
        if not self._ratios:
            return {}
        return {"boundary_continuity": float(np.mean(self._ratios))}
