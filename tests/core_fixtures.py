"""Hand-built tiny splits and a toy model for the core's unit tests (no synthetic renderer needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec, Need
from longvgenbench.model import VideoModel
from longvgenbench.records import (
    Category,
    Grid,
    NativeFormat,
    Segment,
    SegmentOutput,
    SegmentRequest,
    Split,
    VideoSample,
    freeze_state,
)
from longvgenbench.video_io import H264, read_frames, write_video

TINY_GRID = Grid(clip_frames=81, stride=80, fps=16.0, height=32, width=48)


def moving_pattern(num_frames: int, height: int, width: int, phase: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(num_frames):
        r = 127 + 120 * np.sin((x + 0.7 * t + phase) / 5.0)
        g = 127 + 120 * np.cos((y - 0.4 * t) / 4.0)
        b = 127 + 60 * np.sin((x + y + t) / 7.0)
        frames.append(np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def make_tiny_split(root: Path, num_videos: int = 2, num_segments: int = 3, grid: Grid = TINY_GRID) -> Split:
    samples = []
    total = grid.frames_for_clips(num_segments)
    for v in range(num_videos):
        video_id = f"vid{v}"
        folder = root / video_id
        truth = write_video(folder / "ground_truth.mp4",
                            moving_pattern(total, grid.height, grid.width, phase=v * 3.0), grid.fps, H264)
        first = folder / "first_frame.png"
        cv2.imwrite(str(first), cv2.cvtColor(read_frames(truth, 0, 1)[0], cv2.COLOR_RGB2BGR))
        segments = tuple(Segment(index=k, start=k * grid.stride, num_frames=grid.clip_frames, caption=f"clip {k}")
                         for k in range(num_segments))
        category = Category("synthetic", "indoor" if v % 2 == 0 else "outdoor", "day")
        samples.append(VideoSample(video_id, "tiny", category, grid.fps, grid.height, grid.width, total, first,
                                   segments, truth))
    return Split(name="tiny", root=root, grid=grid, manifest_sha256="0" * 64, samples=tuple(samples))


class ToyModel(VideoModel):
    """Deterministic noisy model with state: frame t = first frame + noise(seed, segment, counter)."""

    name = "toy"

    def __init__(self, device: str = "cpu", fail_at: tuple[str, int] | None = None) -> None:
        super().__init__(device)
        self.fail_at = fail_at
        self.calls: list[tuple[str, int]] = []

    @property
    def native(self) -> NativeFormat:
        return NativeFormat(num_frames=41, fps=8.0, height=16, width=24)  # forces temporal + spatial conforming

    def initial_state(self, sample):
        return freeze_state({"counter": np.array([0], dtype=np.int64)})

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        key = (request.sample.video_id, request.segment.index)
        if self.fail_at == key:
            raise KeyboardInterrupt("simulated kill")
        self.calls.append(key)
        counter = int(state["counter"][0])
        rng = np.random.default_rng([request.seed, request.segment.index, counter])
        base = cv2.resize(request.first_frame, (24, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
        noise = rng.integers(-20, 21, size=(41, 16, 24, 3), dtype=np.int16)
        frames = np.clip(base[None] + noise, 0, 255).astype(np.uint8)
        return SegmentOutput(frames=frames, state=freeze_state({"counter": np.array([counter + 7], np.int64)}))


class TruthError(ClipEvaluator):
    """Mean absolute error against the ground truth: a weight-free evaluator that needs it."""

    name = "truth_error"
    version = "1"
    needs = frozenset({Need.GROUND_TRUTH})
    metrics = (MetricSpec("truth_error", Level.CLIP, False, "mean abs error vs ground truth"),)

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        return {"truth_error": float(np.abs(clip.frames.astype(np.int16) - clip.ground_truth).mean())}
