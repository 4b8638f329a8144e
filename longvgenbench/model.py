"""The one generate interface every model implements, and the default long-video loop.

A model generates one segment at a time. The loop that strings segments into a long video
lives here, in one place (``segment_requests`` + ``assemble``): segment 0 starts from the
sample's first frame, each later segment from the last generated frame of the previous one,
and the repeated first frame of every later segment is dropped when the video is assembled,
which lines the generated video up with the ground truth's stride of 80. Models that need
more (LongVie 2's history frames and unified noise) keep it in their ``state``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from longvgenbench.records import (
    Grid,
    NativeFormat,
    SegmentOutput,
    SegmentRequest,
    VideoSample,
    freeze_state,
)
from longvgenbench.video_io import resample_indices, resize


class VideoModel(abc.ABC):
    """Base class of every model adapter.

    Subclasses set ``name``, ``native`` and implement :meth:`generate_segment`. ``fingerprint``
    must change whenever the same request could give different frames (weights, config).
    """

    name: ClassVar[str]
    #: Whether the model needs weights on disk (models that need none run offline).
    needs_weights: ClassVar[bool] = False

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} takes no options {sorted(options)}")
        self.device = device

    @property
    @abc.abstractmethod
    def native(self) -> NativeFormat:
        """Frames, fps and size of one generated segment before mapping onto the grid."""

    def fingerprint(self) -> dict[str, str]:
        """Identity of the weights and generation config; recorded in every result."""
        return {"name": self.name}

    def initial_state(self, sample: VideoSample) -> Mapping[str, np.ndarray]:
        """State before segment 0 (arrays only, saved as ``.npz``)."""
        return freeze_state(None)

    @abc.abstractmethod
    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        """Generate one segment in the model's native format, and the state to continue from."""


def conform_to_grid(frames: np.ndarray, native: NativeFormat, grid: Grid) -> tuple[np.ndarray, dict[str, Any]]:
    """Map a segment in the model's native format onto the evaluation grid.

    Temporal: if the native fps differs, frames are resampled by time (sample-and-hold); the
    result is then padded (repeating the last frame) or cut to exactly ``grid.clip_frames``.
    Spatial: resized to the grid's size without cropping (the model was given the grid's
    aspect). Returns the frames and a record of what was done, stored with every segment.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"a model must return uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    how: dict[str, Any] = {"native_frames": int(frames.shape[0]), "native_fps": native.fps,
                           "native_size": [int(frames.shape[1]), int(frames.shape[2])]}
    if native.fps != grid.fps:
        idx = resample_indices(frames.shape[0], native.fps, grid.fps)
        frames = frames[idx]
        how["temporal"] = f"resampled {native.fps} -> {grid.fps} fps by time (sample-and-hold)"
    if frames.shape[0] < grid.clip_frames:
        pad = grid.clip_frames - frames.shape[0]
        frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)])
        how["padded_frames"] = pad
    elif frames.shape[0] > grid.clip_frames:
        how["cut_frames"] = int(frames.shape[0] - grid.clip_frames)
        frames = frames[: grid.clip_frames]
    if frames.shape[1:3] != (grid.height, grid.width):
        frames = np.stack([resize(f, grid.height, grid.width) for f in frames])
        how["spatial"] = f"resized to {grid.height}x{grid.width} (aspect not kept)"
    return frames, how


def next_first_frame(previous_segment_frames: np.ndarray) -> np.ndarray:
    """The default loop: the next segment starts from the last generated frame."""
    return previous_segment_frames[-1]


def assembled_frame_slice(segment_index: int) -> slice:
    """Which frames of a grid-conformed segment belong to the assembled long video."""
    return slice(0, None) if segment_index == 0 else slice(1, None)
