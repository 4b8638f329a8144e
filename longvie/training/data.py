"""Training clips from any split the suite reads (builder, synthetic, upstream folder) via ``load_split``.

A training sample is one segment of one video: its ground-truth frames, its depth and track
controls, its caption, and the ground-truth frames just *before* it (the pool history is drawn
from in stage III). Frames are resized to cover the training size and centre-cropped, as
upstream's training data loader does (inference stretches instead; see the architecture notes).

Segments without ground truth or without a depth or track video cannot train the model; they
are left out and counted in :attr:`TrainingClips.skipped`, and a split with no usable segment is
an error naming the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from longvgenbench.controls import load_depth, load_track_video
from longvgenbench.errors import SplitError
from longvgenbench.records import Segment, Split, VideoSample
from longvgenbench.splits.api import load_split
from longvgenbench.video_io import center_crop_resize, read_frames


@dataclass(frozen=True, eq=False)
class TrainingClip:
    """One segment, ready for a training step (before degradations and VAE encoding)."""

    video_id: str
    segment_index: int
    start: int  # frame of the clip's start in its long video
    caption: str
    frames: np.ndarray  # uint8 (T, H, W, 3): the target clip; frames[0] is the clean conditioning image
    depth: np.ndarray  # float32 (T, H, W) in [0, 1], near = 0 (globally normalised)
    tracks: np.ndarray  # uint8 (T, H, W, 3): the track render
    preceding: np.ndarray  # uint8 (P, H, W, 3): up to ``max_history`` ground-truth frames before ``start``


@dataclass(frozen=True)
class ClipRef:
    sample: VideoSample
    segment: Segment


def _usable(sample: VideoSample, segment: Segment) -> bool:
    c = segment.controls
    return sample.ground_truth is not None and c.depth_video is not None and c.track_video is not None


class TrainingClips(torch.utils.data.Dataset):
    """Map-style dataset of :class:`TrainingClip` over every usable segment of a split.

    ``num_frames`` must be 1 + 4k (the VAE's temporal chunking); shorter than the split's clips
    takes each clip's first ``num_frames`` frames (tiny configurations train on 5 or 9 frames).
    """

    def __init__(self, split: Split | str | Path, *, height: int = 352, width: int = 640, num_frames: int = 81,
                 max_history: int = 16, verify: bool = False) -> None:
        if (num_frames - 1) % 4 or num_frames < 1:
            raise ValueError(f"num_frames must be 1 + 4k, got {num_frames}")
        if height % 16 or width % 16:
            raise ValueError(f"height and width must divide by 16, got {height}x{width}")
        self.split = split if isinstance(split, Split) else load_split(split, verify=verify)
        self.height, self.width, self.num_frames, self.max_history = height, width, num_frames, max_history
        refs, skipped = [], 0
        for sample in self.split.samples:
            for segment in sample.segments:
                if not _usable(sample, segment):
                    skipped += 1
                elif segment.num_frames < num_frames:
                    raise SplitError(f"{self.split.name}/{sample.video_id} segment {segment.index}: "
                                     f"{segment.num_frames} frames, training needs {num_frames}")
                else:
                    refs.append(ClipRef(sample, segment))
        if not refs:
            raise SplitError(f"split {self.split.name!r} ({self.split.root}) has no segment with ground truth, "
                             f"a depth video and a track video: nothing to train on")
        self.refs: tuple[ClipRef, ...] = tuple(refs)
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.refs)

    def _fit(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([center_crop_resize(f, self.height, self.width) for f in frames]) if len(frames) else \
            np.zeros((0, self.height, self.width, *frames.shape[3:]), frames.dtype)

    def __getitem__(self, index: int) -> TrainingClip:
        ref = self.refs[index]
        sample, segment = ref.sample, ref.segment
        assert sample.ground_truth is not None
        first = max(0, segment.start - self.max_history)
        video = read_frames(sample.ground_truth, first, segment.start + self.num_frames)
        before = segment.start - first
        depth = load_depth(segment.controls.depth_video)[: self.num_frames]  # type: ignore[arg-type]
        tracks = load_track_video(segment.controls.track_video)[: self.num_frames]  # type: ignore[arg-type]
        if len(depth) < self.num_frames or len(tracks) < self.num_frames:
            raise SplitError(f"{sample.video_id} segment {segment.index}: controls have {len(depth)} depth and "
                             f"{len(tracks)} track frames, training needs {self.num_frames}")
        depth_fit = np.stack([center_crop_resize(d, self.height, self.width) for d in depth]).astype(np.float32)
        return TrainingClip(
            video_id=sample.video_id, segment_index=segment.index, start=segment.start, caption=segment.caption,
            frames=self._fit(video[before:]), depth=np.clip(depth_fit, 0.0, 1.0), tracks=self._fit(tracks),
            preceding=self._fit(video[:before]))


def collate_single(batch: list[TrainingClip]) -> TrainingClip:
    """Upstream trains with one clip per device and step; a batch of one is the clip itself."""
    if len(batch) != 1:
        raise ValueError(f"LongVie training uses batch size 1 per device (clips differ in history), got {len(batch)}")
    return batch[0]
