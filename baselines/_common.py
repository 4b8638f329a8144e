"""What the three weight-free baselines share: their native format and the checks on a request.

All three generate directly on the evaluation grid of the request, so their native format is
the grid itself. ``native`` has no request to look at, hence the grid size is a constructor
option (defaulting to the protocol's 480x832); it only describes the output and never changes
a frame, so it is deliberately left out of the fingerprints.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from longvgenbench.errors import MismatchError
from longvgenbench.model import VideoModel
from longvgenbench.records import PROTOCOL_GRID, NativeFormat, SegmentRequest


def grid_native(height: int, width: int) -> NativeFormat:
    """A native format equal to the protocol grid's clip length and fps at ``height x width``."""
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"grid size must be positive, got {height}x{width}")
    return NativeFormat(num_frames=PROTOCOL_GRID.clip_frames, fps=PROTOCOL_GRID.fps, height=int(height),
                        width=int(width))


class OnGridModel(VideoModel):
    """Base of the baselines that generate directly on the request's grid.

    Subclasses set ``name`` and ``version`` (bump it when frames could change) and may extend
    :meth:`fingerprint` with their own options.
    """

    version: ClassVar[str]

    def __init__(self, device: str = "cpu", *, height: int = PROTOCOL_GRID.height,
                 width: int = PROTOCOL_GRID.width) -> None:
        super().__init__(device=device)
        self._native = grid_native(height, width)

    @property
    def native(self) -> NativeFormat:
        return self._native

    def fingerprint(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


def checked_first_frame(request: SegmentRequest) -> np.ndarray:
    """The request's first frame, after checking it is uint8 (H, W, 3) at the grid's size.

    A wrong first frame is a bug of the caller (the runner), so it is a ``ValueError``.
    """
    frame = request.first_frame
    expected = (request.grid.height, request.grid.width, 3)
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"first_frame of segment {request.segment.index} of {request.sample.video_id!r} must be "
                         f"uint8 {expected}, got {got}")
    return frame


def check_segment_length(request: SegmentRequest) -> int:
    """The number of frames to produce: the grid's clip length, which the segment must span too.

    Models that follow the data of a segment (ground truth, controls) cannot produce a clip of
    the grid's length from a segment of another length without inventing frames, so they refuse.
    """
    segment, grid = request.segment, request.grid
    if segment.num_frames != grid.clip_frames:
        raise MismatchError(f"segment {segment.index} of {request.sample.video_id!r} spans {segment.num_frames} "
                            f"frames but the grid's clips have {grid.clip_frames}")
    return grid.clip_frames
