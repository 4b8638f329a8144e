"""The static baseline: the first frame, held for the whole clip.

A floor for every motion metric: its motion magnitude is exactly 0 and its temporal flickering
score exactly 1, while its SSIM / LPIPS against ground truth show how much of a clip a model
gets "for free" from the first frame alone. It needs no weights and no controls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from baselines._common import checked_first_frame, grid_native
from longvgenbench.model import VideoModel
from longvgenbench.records import PROTOCOL_GRID, NativeFormat, SegmentOutput, SegmentRequest, freeze_state


class StaticModel(VideoModel):
    """Repeats ``request.first_frame`` for every frame of the grid's clip.

    Options: ``height`` / ``width``, the size reported by :attr:`native` (output always follows
    the request's grid).
    """

    name: ClassVar[str] = "static"
    version: ClassVar[str] = "1"

    def __init__(self, device: str = "cpu", *, height: int = PROTOCOL_GRID.height,
                 width: int = PROTOCOL_GRID.width) -> None:
        super().__init__(device=device)
        self._native = grid_native(height, width)

    @property
    def native(self) -> NativeFormat:
        return self._native

    def fingerprint(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        first = checked_first_frame(request)
        frames = np.repeat(first[None], request.grid.clip_frames, axis=0)
        return SegmentOutput(frames=frames, state=freeze_state(None))
