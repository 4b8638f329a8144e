"""Colour consistency of a long video: how far each clip's mean colour drifts from the first clip's.

Long-video generators tend to drift in colour (washed-out or tinted later clips); LongVie 2's
human study rates "colour consistency" separately. This metric measures it without weights:

1. per clip, the mean colour in CIELAB (``cv2.COLOR_RGB2Lab`` on float32 RGB in [0, 1], i.e. sRGB,
   D65, L in [0, 100]) over all pixels of every ``frame_stride``-th frame (default 4: frames
   0, 4, ..., 80 of an 81-frame clip);
2. per later clip k >= 1, the CIE76 colour difference dE = ||Lab_k - Lab_0||_2 to the first clip;
3. the video's score is the mean of these dE: 0 = every clip has the first clip's mean colour,
   **lower is better**. Unit: CIE76 dE (about 2.3 is a just-noticeable difference).

A one-clip video has nothing to compare: it gets no value (an empty dict), not a made-up 0.
Only per-clip means are kept, so memory does not grow with the length of the video.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import cv2
import numpy as np

from evaluators._frames import check_frames
from longvgenbench.evaluation.api import ClipView, Evaluator, Level, MetricSpec, VideoScorer
from longvgenbench.records import VideoSample


def mean_lab(frames: np.ndarray) -> np.ndarray:
    """Mean CIELAB colour (L, a, b) over all pixels of the given uint8 RGB frames."""
    total = np.zeros(3, dtype=np.float64)
    for frame in frames:
        lab = cv2.cvtColor(frame.astype(np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_RGB2Lab)
        total += np.array(cv2.mean(lab)[:3], dtype=np.float64)
    return total / max(1, len(frames))


class ColourConsistencyEvaluator(Evaluator):
    """Mean CIELAB dE between each later clip's mean colour and the first clip's (lower is better)."""

    name: ClassVar[str] = "colour_consistency"
    version: ClassVar[str] = "1.0"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "colour_consistency", Level.VIDEO, False,
            "mean CIE76 dE between each later clip's mean CIELAB colour and the first clip's (0 = no drift)",
            "dE76",
        ),
    )

    def __init__(self, device: str = "cpu", frame_stride: int = 4) -> None:
        super().__init__(device)
        if not isinstance(frame_stride, int) or frame_stride < 1:
            raise ValueError(f"frame_stride must be a positive integer, got {frame_stride!r}")
        self.frame_stride = frame_stride

    def protocol(self) -> dict[str, object]:
        return {
            "colour_space": "CIELAB (OpenCV COLOR_RGB2Lab, float32 sRGB in [0,1], D65)",
            "clip_colour": "mean over all pixels of every frame_stride-th frame", "frame_stride": self.frame_stride,
            "distance": "CIE76 dE to the first clip's mean colour", "score": "mean over clips 1..N-1",
            "single_clip": "no value",
        }

    def begin_video(self, sample: VideoSample) -> VideoScorer:
        return _ColourScorer(self.frame_stride)


class _ColourScorer(VideoScorer):
    def __init__(self, frame_stride: int) -> None:
        self._frame_stride = frame_stride
        self._clip_colours: list[np.ndarray] = []

    def add_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip)
        self._clip_colours.append(mean_lab(frames[:: self._frame_stride]))
        return {}

    def finish(self) -> Mapping[str, float]:
        if len(self._clip_colours) < 2:
            return {}
        first = self._clip_colours[0]
        distances = [float(np.linalg.norm(colour - first)) for colour in self._clip_colours[1:]]
        return {"colour_consistency": float(np.mean(distances))}
