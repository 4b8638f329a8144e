"""The evaluator interface.

The engine decodes each generated video once, clip by clip on the grid (81 frames, stride 80),
and hands every evaluator the same :class:`ClipView`. An evaluator opens a :class:`VideoScorer`
per video: ``add_clip`` returns per-clip values (clip-level metrics), ``finish`` returns
per-video values (long-range metrics that accumulate across clips, e.g. colour consistency).
Memory stays bounded by one clip whatever the length of the video.

Evaluators whose weights are missing raise :class:`~longvgenbench.errors.WeightsUnavailableError`
from :meth:`Evaluator.check_available`; the engine records them as unavailable (with the reason
and how to get the weights) and goes on with the others. No placeholder values, ever.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from longvgenbench.records import Segment, VideoSample


class Need(enum.Enum):
    """What an evaluator needs besides the generated frames."""

    GROUND_TRUTH = "ground_truth"
    CONTROLS = "controls"
    CAPTION = "caption"


class Level(enum.Enum):
    """Where a metric's values come from: one per clip, or one per video."""

    CLIP = "clip"
    VIDEO = "video"


@dataclass(frozen=True)
class MetricSpec:
    """One number an evaluator produces."""

    name: str
    level: Level
    higher_is_better: bool
    description: str
    unit: str = ""


@dataclass(frozen=True, eq=False)
class ClipView:
    """One clip of a generated video, with its ground truth when the evaluator needs it.

    ``frames`` and ``ground_truth`` are uint8 (T, H, W, 3) on the grid; the engine has already
    checked that both have the same shape. Evaluators must not modify them (they are shared).
    """

    sample: VideoSample
    segment: Segment
    frames: np.ndarray
    ground_truth: np.ndarray | None
    device: str = "cpu"
    #: ``frames`` already on ``device`` (a torch uint8 (T, H, W, 3) tensor, same values, read-only), uploaded once
    #: by the engine for all evaluators on CUDA; None when there is none (read ``frames`` then).
    device_frames: Any = None


class VideoScorer(abc.ABC):
    """Per-video state of one evaluator."""

    @abc.abstractmethod
    def add_clip(self, clip: ClipView) -> Mapping[str, float]:
        """Values of the evaluator's clip-level metrics for this clip (may be empty)."""

    def finish(self) -> Mapping[str, float]:
        """Values of the evaluator's video-level metrics, after the last clip."""
        return {}


class Evaluator(abc.ABC):
    """Base class of every evaluator plug-in. Bump ``version`` whenever numbers could change."""

    name: ClassVar[str]
    version: ClassVar[str]
    needs: ClassVar[frozenset[Need]] = frozenset()
    metrics: ClassVar[tuple[MetricSpec, ...]]

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def check_available(self) -> None:
        """Raise ``WeightsUnavailableError`` if this evaluator cannot run here (weights missing)."""

    def weight_hashes(self) -> dict[str, str]:
        """sha256 of every weight file that produced the numbers (file name -> hex digest)."""
        return {}

    def protocol(self) -> dict[str, object]:
        """Choices that define this evaluator's numbers (sizes, backbones, sampling), for results."""
        return {}

    @abc.abstractmethod
    def begin_video(self, sample: VideoSample) -> VideoScorer:
        """A fresh scorer for one video."""


class ClipEvaluator(Evaluator):
    """Convenience base for evaluators whose every metric is per clip: implement ``score_clip``."""

    @abc.abstractmethod
    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        """Metric values for one clip."""

    def begin_video(self, sample: VideoSample) -> VideoScorer:
        return _ClipOnlyScorer(self)


class _ClipOnlyScorer(VideoScorer):
    def __init__(self, evaluator: ClipEvaluator) -> None:
        self._evaluator = evaluator

    def add_clip(self, clip: ClipView) -> Mapping[str, float]:
        return self._evaluator.score_clip(clip)
