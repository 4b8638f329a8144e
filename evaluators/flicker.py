"""Temporal flickering, as VBench defines it (``vbench/temporal_flickering.py``), per clip.

For every pair of consecutive frames, the mean absolute difference over all pixels and channels
of the uint8 values; the clip's score is ``(255 - mean over pairs) / 255``. 1.0 means a perfectly
static clip. VBench meant this for static scenes; on moving content it mostly measures motion,
so read it together with ``motion_magnitude``. No weights; all frames, native grid resolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from evaluators._frames import check_frames, consecutive_mean_abs_diffs
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec


class TemporalFlickeringEvaluator(ClipEvaluator):
    """VBench temporal flickering of each clip (higher is better, 1.0 = static)."""

    name: ClassVar[str] = "temporal_flickering"
    version: ClassVar[str] = "1.0"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "temporal_flickering", Level.CLIP, True,
            "VBench temporal flickering: (255 - mean abs difference of consecutive uint8 frames) / 255",
            "",
        ),
    )

    def protocol(self) -> dict[str, object]:
        return {
            "definition": "vbench 0.1.5 temporal_flickering", "values": "uint8 RGB", "frames": "all consecutive pairs",
            "resolution": "grid size", "score": "(255 - mean_abs_diff) / 255",
        }

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip, min_frames=2)
        mean_diff = float(np.mean(consecutive_mean_abs_diffs(frames)))
        return {"temporal_flickering": (255.0 - mean_diff) / 255.0}
