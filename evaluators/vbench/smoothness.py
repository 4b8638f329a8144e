"""VBench's motion smoothness per 81-frame clip, with AMT-S frame interpolation.

As in VBench 0.1.5 (``vbench/motion_smoothness.py``): take the even frames 0, 2, 4, ... as float
``uint8 / 255``, replicate-pad them to multiples of 16 (split evenly), interpolate the midpoint
(t = 0.5) of every consecutive even pair with AMT-S, unpad, convert back with ``x * 255`` clipped to
0..255 and *truncated* to uint8, and compare each with the real odd frame 1, 3, 5, ...: the mean
absolute difference over all pixels and channels, averaged over the pairs; score
``(255 - mean) / 255`` (1 = perfectly predictable motion). VBench scores a whole video; we score
each clip (81 frames: 41 even frames, 40 interpolations) and average the clips per video.

VBench shrinks the input when its VRAM heuristic says the GPU is small (``scale_factor < 1``);
for 480x832 and for 1080p on any GPU with >= 16 GB, and always on CPU, the scale is 1, which is
what we use everywhere (recorded in the protocol). The fast GPU precision is fp16 (bf16's 8-bit
mantissa moves interpolated pixels by about one grey level, too much for a 1e-3 tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from evaluators._frames import check_frames, clip_label, frames_source
from evaluators.vbench import catalog_motion
from evaluators.vbench.catalog_motion import AMT_S
from evaluators.vbench.checkpointed import CheckpointClipEvaluator
from evaluators.vbench.common import as_device_uint8
from evaluators.vbench.window_lookup import check_lookup
from longvgenbench.errors import VideoError, WeightsUnavailableError
from longvgenbench.evaluation.api import ClipView, Level, MetricSpec
from longvgenbench.weights import WeightFile

PAD_MULTIPLE = 16
# AMT-S pools its 1/8-resolution correlation volume three times; below 128 px a side (once padded to multiples
# of 16) the coarsest level is one cell wide, the lookup's normalisation divides by zero and every interpolated
# frame is NaN (cast to 0): VBench then reports a number that says nothing about the video. We refuse instead.
AMT_MIN_PADDED_SIDE = 128
# one pair's correlation entry, both directions: half-precision volume and its transposed copy (2 x 2 bytes) and
# the two fp32 pyramids (2 x 4 x 4/3 bytes)
AMT_VOLUME_BYTES_PER_ENTRY = 2 * 2 + 2 * 4 * 4 / 3


def even_padding(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) replicate padding to multiples of ``multiple``, split evenly (AMT's InputPadder)."""
    pad_h = (multiple - height % multiple) % multiple
    pad_w = (multiple - width % multiple) % multiple
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def check_amt_size(height: int, width: int, label: str) -> None:
    """Refuse, by name, frames too small for AMT-S: both sides padded to multiples of 16 must be >= 128 px."""
    left, right, top, bottom = even_padding(height, width)
    if min(height + top + bottom, width + left + right) < AMT_MIN_PADDED_SIDE:
        raise VideoError(label, f"motion_smoothness cannot score {height}x{width} frames: AMT-S needs both sides >= "
                                f"{AMT_MIN_PADDED_SIDE - 15} px (>= {AMT_MIN_PADDED_SIDE} once padded to multiples of "
                                f"16; smaller, VBench's AMT-S interpolates NaN); evaluate at a larger size or leave "
                                f"motion_smoothness out (-e ...)")


def to_uint8_truncated(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats -> uint8 as VBench's ``tensor2img``: ``x * 255``, clip to 0..255, truncate (no rounding)."""
    return (images.float() * 255.0).clamp_(0.0, 255.0).to(torch.uint8)


def smoothness_from_diffs(mean_abs_diffs: np.ndarray) -> float:
    """``(255 - mean) / 255`` of the per-frame mean absolute differences (grey levels)."""
    return (255.0 - float(np.mean(mean_abs_diffs))) / 255.0


class MotionSmoothnessEvaluator(CheckpointClipEvaluator):
    """VBench motion smoothness: how well AMT-S predicts each odd frame from its even neighbours."""

    name: ClassVar[str] = "motion_smoothness"
    # 1.1: compiled on CUDA by default (rounding ~1e-6); 1.2 is 1.1 again (a short-lived lookup change was undone)
    # 1.3: frames under 128 px (padded) are refused instead of scored from NaN interpolations, as VBench does
    # 1.4: compiled, the backward warps run ATen's sampler (an opaque op) instead of Inductor's decomposition, and
    # frames above the protocol size run fewer pairs per forward (correlation memory budget); rounding only
    version: ClassVar[str] = "1.4"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "motion_smoothness", Level.CLIP, True,
            "VBench 0.1.5 motion smoothness: AMT-S interpolates every odd frame from its even neighbours; "
            "(255 - mean abs difference to the real odd frames) / 255",
            "fraction",
        ),
    )

    candidates: ClassVar[tuple[WeightFile, ...]] = (AMT_S,)
    default_batch_size: ClassVar[int] = 10
    compile_mode: ClassVar[str | None] = "reduce-overhead"  # CUDA graphs: 3% faster on an H100 (RESULTS.md)

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int | None = None,
                 verify_weights: bool = True, compile: str | bool = "auto", lookup: str = "grid_sample") -> None:
        """``lookup``: how AMT-S reads its correlation windows, ``grid_sample`` (as published, the default) or
        ``window`` (one gathered block per query and level; the same values up to rounding, see
        :mod:`evaluators.vbench.window_lookup`)."""
        super().__init__(device, precision, batch_size, verify_weights, compile)
        self.lookup = check_lookup(lookup)

    def _dtype(self) -> torch.dtype | None:
        return catalog_motion.autocast_dtype(self.precision, self.device, fast=torch.float16)

    def protocol(self) -> dict[str, object]:
        return {
            "reference": "VBench 0.1.5 motion_smoothness", "model": "AMT-S (this suite's implementation)",
            "frames": "even frames 0,2,4,... interpolated at t=0.5, compared with odd frames 1,3,5,...",
            "input_range": [0.0, 1.0], "padding": "replicate to multiples of 16, split evenly", "scale_factor": 1.0,
            "output": "x*255 clipped to 0..255, truncated to uint8", "score": "(255 - mean abs diff) / 255",
            "per_video": "mean of the clips' scores",
            "precision": self.precision, "autocast": str(self._dtype()), "compiled": self.compiled,
            "compile_mode": self.compile_mode if self.compiled else None, "correlation_lookup": self.lookup,
        }

    def _build(self, item: WeightFile, path: Path) -> torch.nn.Module:
        from evaluators.vbench.amt.model import AMTS

        checkpoint = catalog_motion.load_state_dict(path)
        state = checkpoint.get("state_dict", checkpoint)
        model = AMTS(corr_lookup=self.lookup)
        try:
            model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
        except RuntimeError as exc:
            raise WeightsUnavailableError(item.filename, path, f"is not an AMT-S checkpoint ({exc})") from exc
        return model

    def interpolated_diffs(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """Mean absolute difference (grey levels, float64) of every interpolated odd frame to the real one."""
        height, width = frames.shape[1:3]
        check_amt_size(height, width, "frames")
        model = self._load()
        left, right, top, bottom = even_padding(height, width)
        video = as_device_uint8(frames, self.device).permute(0, 3, 1, 2)
        even, odd = video[0::2], video[1::2]
        pairs = min(len(even) - 1, len(odd))
        t = torch.full((1, 1, 1, 1), 0.5, device=self.device)
        totals = []
        step = catalog_motion.pairs_per_run(self.batch_size, height + top + bottom, width + left + right,
                                            AMT_VOLUME_BYTES_PER_ENTRY)
        with catalog_motion.inference(self.device, self._dtype()):
            for start in range(0, pairs, step):
                stop = min(start + step, pairs)
                inputs = F.pad(even[start : stop + 1].float() / 255.0, (left, right, top, bottom), mode="replicate")
                predicted = model(inputs[:-1], inputs[1:], t)[..., top : top + height, left : left + width]
                difference = (to_uint8_truncated(predicted).short() - odd[start:stop].short()).abs()
                totals.append(difference.flatten(1).sum(dim=1, dtype=torch.int64))
        per_frame = torch.cat(totals).cpu().numpy().astype(np.float64)
        return per_frame / float(3 * height * width)

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip, min_frames=3)
        check_amt_size(frames.shape[1], frames.shape[2], clip_label(clip))
        return {"motion_smoothness": smoothness_from_diffs(self.interpolated_diffs(frames_source(clip, frames)))}
