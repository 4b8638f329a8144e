"""Typed, frozen records that cross every boundary of the pipeline.

Data flows one way: split -> request -> model -> video -> evaluators -> results. Each arrow
carries one of these records. Large arrays (frames, depth) are never held in a record that
describes a split: segments carry *paths* and load their controls on demand, so a split of
100 minute-long videos can be listed without touching a pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Grid:
    """The evaluation grid of the protocol: 81-frame clips, stride 80, 16 fps, 480x832 (HxW)."""

    clip_frames: int = 81
    stride: int = 80
    fps: float = 16.0
    height: int = 480
    width: int = 832

    def clip_starts(self, total_frames: int) -> list[int]:
        """Start frame of every full clip that fits in ``total_frames`` frames."""
        if total_frames < self.clip_frames:
            return []
        return list(range(0, total_frames - self.clip_frames + 1, self.stride))

    def frames_for_clips(self, num_clips: int) -> int:
        """Frames covered by ``num_clips`` consecutive clips (they share one frame at each join)."""
        return 0 if num_clips == 0 else self.stride * (num_clips - 1) + self.clip_frames


PROTOCOL_GRID = Grid()


@dataclass(frozen=True)
class Category:
    """The LongVGenBench category tags of a video (LongVie 1 supplement)."""

    domain: str  # "real" | "game" | "synthetic"
    setting: str  # "indoor" | "outdoor"
    lighting: str  # "day" | "night"

    def as_dict(self) -> dict[str, str]:
        return {"domain": self.domain, "setting": self.setting, "lighting": self.lighting}


@dataclass(frozen=True)
class SegmentControls:
    """Where a segment's controls live. Any of them may be absent for a given split.

    - ``depth_video``: globally normalised depth as a grey video, near = black, far = white.
    - ``track_video``: the point-track render (black background, colour fixed by frame-0 position).
    - ``tracks``: ``.npz`` with ``xy`` (N, T, 2) pixel coordinates and ``visible`` (N, T) bool.
    - ``camera``: ``.npz`` with ``intrinsics`` (3, 3) and ``world_to_camera`` (T, 4, 4).
    """

    depth_video: Path | None = None
    track_video: Path | None = None
    tracks: Path | None = None
    camera: Path | None = None

    def files(self) -> list[Path]:
        return [p for p in (self.depth_video, self.track_video, self.tracks, self.camera) if p is not None]


@dataclass(frozen=True)
class Segment:
    """One clip of a long video: ground-truth frames [start, start + num_frames) at the grid's fps."""

    index: int
    start: int
    num_frames: int
    caption: str
    controls: SegmentControls = field(default_factory=SegmentControls)

    @property
    def stop(self) -> int:
        return self.start + self.num_frames


@dataclass(frozen=True)
class VideoSample:
    """One long video of a split, with everything a model or an evaluator may ask for."""

    video_id: str
    split: str
    category: Category
    fps: float
    height: int
    width: int
    num_frames: int  # frames of the ground truth on the grid (>= frames covered by the segments)
    first_frame: Path  # PNG of frame 0, unaltered
    segments: tuple[Segment, ...]
    ground_truth: Path | None = None  # the whole ground-truth video, when the split has one

    @property
    def covered_frames(self) -> int:
        """Frames spanned by the segments: the length of a generated video for this sample."""
        return 0 if not self.segments else self.segments[-1].stop


@dataclass(frozen=True)
class NativeFormat:
    """What a model produces per segment before it is mapped onto the evaluation grid."""

    num_frames: int
    fps: float
    height: int
    width: int


@dataclass(frozen=True)
class SegmentRequest:
    """Everything a model gets to generate one segment.

    ``first_frame`` is the sample's first frame for segment 0 and the last generated frame of
    the previous segment afterwards (the default long-video loop; see ``longvgenbench.loop``).
    """

    sample: VideoSample
    segment: Segment
    first_frame: np.ndarray  # uint8 (H, W, 3) on the grid's size
    grid: Grid
    seed: int


def freeze_state(state: Mapping[str, np.ndarray] | None) -> Mapping[str, np.ndarray]:
    """A read-only view of a model's state, so no stage can mutate what another one saved."""
    return MappingProxyType(dict(state or {}))


@dataclass(frozen=True)
class SegmentOutput:
    """A model's answer for one segment: frames in its native format and the state to continue.

    ``state`` holds only numpy arrays (it is saved as ``.npz`` beside the segment so a killed
    run resumes mid-video); the default loop needs none, since the last frame is in ``frames``.
    """

    frames: np.ndarray  # uint8 (T, H, W, 3)
    state: Mapping[str, np.ndarray] = field(default_factory=lambda: freeze_state(None))


@dataclass(frozen=True)
class Split:
    """A loaded split: its videos, its grid, and the hash of its manifest (recorded in results)."""

    name: str
    root: Path
    grid: Grid
    manifest_sha256: str
    samples: tuple[VideoSample, ...]

    def sample(self, video_id: str) -> VideoSample:
        for s in self.samples:
            if s.video_id == video_id:
                return s
        raise KeyError(video_id)
