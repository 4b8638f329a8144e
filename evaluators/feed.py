"""Feed an in-memory video to an evaluator exactly as the engine does, without files.

Tests, the offline benchmark and notebooks need to score arrays directly. These helpers cut a
video into the grid's clips (81 frames, stride 80, one shared frame per join), wrap each in a
:class:`ClipView` and run ``begin_video`` / ``add_clip`` / ``finish`` in order, so what is measured
here is what the engine would measure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from longvgenbench.evaluation.api import ClipView, Evaluator, Need
from longvgenbench.records import PROTOCOL_GRID, Category, Grid, Segment, VideoSample


@dataclass(frozen=True)
class VideoScores:
    """What one evaluator returned for one video: per-clip values (in clip order) and per-video values."""

    clips: tuple[dict[str, float], ...]
    video: dict[str, float] = field(default_factory=dict)


def in_memory_sample(
    video_id: str, num_frames: int, height: int, width: int, grid: Grid = PROTOCOL_GRID,
) -> VideoSample:
    """A VideoSample whose segments are the grid's clips of a ``num_frames``-frame video (no files behind it)."""
    segments = tuple(
        Segment(index=k, start=start, num_frames=grid.clip_frames, caption="")
        for k, start in enumerate(grid.clip_starts(num_frames))
    )
    return VideoSample(
        video_id=video_id, split="in-memory", category=Category("synthetic", "outdoor", "day"), fps=grid.fps,
        height=height, width=width, num_frames=num_frames, first_frame=Path(f"{video_id}-first-frame.png"),
        segments=segments, ground_truth=None,
    )


def clip_views(
    sample: VideoSample, frames: np.ndarray, ground_truth: np.ndarray | None = None, device: str = "cpu",
) -> Iterator[ClipView]:
    """One ClipView per segment of ``sample``, slicing (not copying) ``frames`` and ``ground_truth``."""
    for segment in sample.segments:
        truth = None if ground_truth is None else ground_truth[segment.start : segment.stop]
        yield ClipView(sample, segment, frames[segment.start : segment.stop], truth, device)


def score_video(
    evaluator: Evaluator, frames: np.ndarray, ground_truth: np.ndarray | None = None, video_id: str = "video",
    grid: Grid = PROTOCOL_GRID,
) -> VideoScores:
    """Run one evaluator over a whole in-memory video, clip by clip, as the engine would."""
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, 3), got shape {frames.shape}")
    sample = in_memory_sample(video_id, frames.shape[0], frames.shape[1], frames.shape[2], grid)
    truth = ground_truth if Need.GROUND_TRUTH in evaluator.needs else None
    scorer = evaluator.begin_video(sample)
    clips = tuple(dict(scorer.add_clip(view)) for view in clip_views(sample, frames, truth, evaluator.device))
    return VideoScores(clips=clips, video=dict(scorer.finish()))
