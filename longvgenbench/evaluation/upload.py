"""Put each clip on the GPU once, for all of its evaluators, while the previous clip is being scored.

Why: every learned evaluator needs the clip's frames on the GPU. Uploading them itself, each one
copies the same 97 MB (81 frames of 480x832) from pageable host memory, a copy that blocks its thread
and is slower than a copy from pinned memory: seven evaluators made about 8 GB of host-to-device
traffic per one-minute video. Here the clip goes up once, from pinned memory, inside the prefetch
thread (so it overlaps the previous clip's scoring), and every evaluator slices the shared tensor.

The shared tensor is read-only by contract (like ``ClipView.frames``), holds exactly the values of
the numpy frames, and is fully copied before the engine hands it out (the upload stream is
synchronised in the background thread), so evaluators on other CUDA streams never read it early.
It lives until every evaluator of the clip has returned. Off CUDA nothing is uploaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class UploadedClip:
    """A decoded clip and, on CUDA, the same frames on the device (uint8 (T, H, W, 3); None elsewhere)."""

    frames: np.ndarray
    on_device: Any = None


def uploaded(clips: Iterator[np.ndarray], device: str) -> Iterator[UploadedClip]:
    """``clips`` paired with their device copies; meant to run inside :func:`prefetch.prefetched`'s thread."""
    if not str(device).startswith("cuda"):
        for frames in clips:
            yield UploadedClip(frames)
        return
    import torch  # only on CUDA, where torch is there by definition

    stream = torch.cuda.Stream(device=device)
    for frames in clips:
        with torch.cuda.stream(stream):
            host = torch.from_numpy(np.ascontiguousarray(frames)).pin_memory()
            on_device = host.to(device, non_blocking=True)
        stream.synchronize()  # the copy is complete before any evaluator's stream can read it
        yield UploadedClip(frames, on_device)
