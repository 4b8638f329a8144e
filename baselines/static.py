"""The static baseline: the first frame, held for the whole clip.

A floor for every motion metric: its motion magnitude is exactly 0 and its temporal flickering
score exactly 1, while its SSIM / LPIPS against ground truth show how much of a clip a model
gets "for free" from the first frame alone. It needs no weights and no controls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from baselines._common import OnGridModel, checked_first_frame
from longvgenbench.records import SegmentOutput, SegmentRequest, freeze_state


class StaticModel(OnGridModel):
    """Repeats ``request.first_frame`` for every frame of the grid's clip.

    Options: ``height`` / ``width``, the size reported by :attr:`native` (output always follows
    the request's grid).
    """

    name: ClassVar[str] = "static"
    version: ClassVar[str] = "1"

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        first = checked_first_frame(request)
        frames = np.repeat(first[None], request.grid.clip_frames, axis=0)
        return SegmentOutput(frames=frames, state=freeze_state(None))
