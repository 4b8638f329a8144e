"""Subject / background consistency: VBench's frame-to-previous and frame-to-first feature similarity.

s_i = 1/2 [max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))] for every frame i >= 1 with
L2-normalised image features f; a video's VBench score is the mean of s_i over its frames.

Averaging (option ``averaging``):
- ``clip`` (default): the protocol's unit. Each 81-frame clip is scored on its own (f_0 = the clip's
  first frame) and the clip means are averaged per video, then over videos. This is VBench's
  per-video averaging (what it reports on several GPUs).
- ``vbench_whole_video``: one value per video, as VBench scores a whole video file: f_0 is the
  video's first frame and the pairs run across clip joins (the frame shared by two clips counts
  once). Over videos of equal length (the benchmark's are all one minute) the mean of these equals
  VBench's single-GPU per-frame average; for unequal lengths VBench weights videos by frame count.
Memory is constant in video length in both modes (features of one clip, then three vectors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from evaluators._frames import check_frames, frames_source
from evaluators.vbench.base import VBenchImageEvaluator
from evaluators.vbench.common import batched_features, consistency_terms
from longvgenbench.errors import OptionError
from longvgenbench.evaluation.api import ClipView, VideoScorer
from longvgenbench.records import VideoSample

AVERAGING = ("clip", "vbench_whole_video")


class ConsistencyEvaluator(VBenchImageEvaluator):
    """Base of subject and background consistency; subclasses give the model and its preprocessing."""

    whole_video_metric: ClassVar[str]

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 27, averaging: str = "clip",
                 checkpoints: Mapping[str, str | None] | None = None, compile: str | bool = "auto") -> None:
        super().__init__(device, precision, batch_size, checkpoints, compile)
        if averaging not in AVERAGING:
            raise OptionError(f"averaging must be one of {AVERAGING}, got {averaging!r}")
        self.averaging = averaging

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, frames: Any) -> torch.Tensor:
        """Float32 (T, D) image features of uint8 (T, H, W, 3) frames."""
        return batched_features(frames, self.device, self.batch_size, self.preprocess, self.model(), self.precision)

    def begin_video(self, sample: VideoSample) -> VideoScorer:
        return _ConsistencyScorer(self)


class _ConsistencyScorer(VideoScorer):
    def __init__(self, evaluator: ConsistencyEvaluator) -> None:
        self.evaluator = evaluator
        self.first: torch.Tensor | None = None
        self.previous: torch.Tensor | None = None
        self.total = 0.0
        self.count = 0

    def add_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = frames_source(clip, check_frames(clip.frames, clip, min_frames=2))
        if self.evaluator.averaging == "clip":
            terms = consistency_terms(self.evaluator.features(frames))
            return {self.evaluator.name: float(terms.double().mean())}
        # whole video: the first frame of a later clip repeats the previous clip's last frame
        new = frames if self.first is None else frames[1:]
        if len(new) == 0:
            return {}
        feats = self.evaluator.features(new)
        if self.first is None:
            terms = consistency_terms(feats)
            self.first = feats[0]
        else:
            terms = consistency_terms(feats, self.first, self.previous)
        self.previous = feats[-1]
        self.total += float(terms.double().sum())
        self.count += int(terms.numel())
        return {}

    def finish(self) -> Mapping[str, float]:
        if self.evaluator.averaging == "clip" or self.count == 0:
            return {}
        return {self.evaluator.whole_video_metric: self.total / self.count}
