"""VBench's imaging quality per clip: MUSIQ (pyiqa's architecture, SPAQ weights), mean over frames.

As in VBench 0.1.5 (``vbench/imaging_quality.py``, default ``preprocess_mode='longer'``): frames as
float 0..255; if ``max(H, W) > 512`` they are resized (bilinear, no antialias, on the float
values) to ``(int(s * H), int(s * W))`` with ``s = 512 / max(H, W)``; then ``/ 255``; MUSIQ's own
multi-scale patching (pyiqa) turns each frame into a MOS in 0..100. VBench averages the MOS over
all frames of a video and divides the dimension's overall score by 100.

Scale of our number: **MOS / 100**, i.e. 0..1 like VBench's ``imaging_quality`` score and like the
other VBench dimensions here; the paper's table (I.Q. 69.77) shows the same number x100. Per clip:
the mean over the clip's frames; per video: the mean of its clips. Frames are scored in batches
(pyiqa's patching is per image, so a batch gives the same numbers as one frame at a time).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from evaluators._frames import check_frames, frames_source
from evaluators.vbench import catalog_motion
from evaluators.vbench.catalog_motion import MUSIQ_SPAQ
from evaluators.vbench.checkpointed import CheckpointClipEvaluator
from evaluators.vbench.common import as_device_uint8
from evaluators.vbench.compiling import maybe_compiled
from evaluators.vbench.musiq_patches import DevicePatchedMUSIQ
from longvgenbench.errors import OptionError, WeightsUnavailableError
from longvgenbench.evaluation.api import ClipView, Level, MetricSpec
from longvgenbench.weights import WeightFile

LONGER_SIDE = 512
MOS_SCALE = 100.0
# how much of MUSIQ torch.compile covers: the whole wrapper (patch extraction included) or the stem and transformer
COMPILE_SCOPES = ("whole", "parts")


def musiq_input_size(height: int, width: int) -> tuple[int, int]:
    """VBench's 'longer' rule: frames whose longer side exceeds 512 px are shrunk so it is 512 (int() truncation)."""
    if max(height, width) <= LONGER_SIDE:
        return height, width
    scale = 512.0 / max(height, width)
    return int(scale * height), int(scale * width)


def preprocess(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) on the device -> float (B, 3, h, w) in [0, 1], resized by :func:`musiq_input_size`."""
    images = frames.float()
    size = musiq_input_size(images.shape[-2], images.shape[-1])
    if size != tuple(images.shape[-2:]):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=False)
    return images / 255.0


def build_musiq(state: Mapping[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """pyiqa's MUSIQ with one output (the SPAQ head), never downloading; ``state`` loaded strictly."""
    from pyiqa.archs.musiq_arch import MUSIQ

    model = MUSIQ(pretrained=False, num_class=1)
    if state is not None:
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    return model.eval()


class ImagingQualityEvaluator(CheckpointClipEvaluator):
    """VBench imaging quality (MUSIQ-SPAQ MOS / 100), mean over a clip's frames."""

    name: ClassVar[str] = "imaging_quality"
    # 1.1: compiled on CUDA by default (rounding ~1e-6). 1.2: MUSIQ's patches made on the device (same values) and,
    # when compiled, the whole model including patch extraction compiled by default (rounding ~1e-6)
    version: ClassVar[str] = "1.2"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "imaging_quality", Level.CLIP, True,
            "VBench 0.1.5 imaging quality: MUSIQ (SPAQ) MOS of every frame (longer side > 512 px resized to 512, "
            "bilinear, no antialias), mean over the clip, divided by 100",
            "MOS/100",
        ),
    )

    candidates: ClassVar[tuple[WeightFile, ...]] = (MUSIQ_SPAQ,)
    default_batch_size: ClassVar[int] = 27

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int | None = None,
                 verify_weights: bool = True, compile: str | bool = "auto", compile_scope: str = "whole") -> None:
        """``compile_scope``: ``whole`` compiles MUSIQ with its patch extraction as one model, ``parts`` only
        its convolutional stem and transformer (patch extraction eager); used only when compiling."""
        super().__init__(device, precision, batch_size, verify_weights, compile)
        if compile_scope not in COMPILE_SCOPES:
            raise OptionError(f"imaging_quality: compile_scope must be one of {COMPILE_SCOPES}, got {compile_scope!r}")
        self.compile_scope = compile_scope

    def protocol(self) -> dict[str, object]:
        import pyiqa

        return {
            "reference": "VBench 0.1.5 imaging_quality (preprocess_mode 'longer')", "model": "MUSIQ, SPAQ weights",
            "architecture": f"pyiqa {pyiqa.__version__} musiq_arch.MUSIQ(num_class=1)",
            "resize": "if max(H,W) > 512: (int(s*H), int(s*W)), s = 512/max(H,W), bilinear, no antialias, float",
            "input_range": [0.0, 1.0], "per_clip": "mean MOS over the clip's frames",
            "scale": "MOS / 100 (VBench's dimension score; the paper's table shows x100)",
            "precision": self.precision, "autocast": str(self._dtype()),
            "patches": "pyiqa's get_multiscale_patches values, made on the device (musiq_patches.py)",
            "compiled": (("whole model, patch extraction included" if self.compile_scope == "whole"
                          else "stem and transformer (patch extraction eager)") if self.compiled else False),
        }

    def _dtype(self) -> torch.dtype | None:
        """fp16 on CUDA by default: a finer mantissa than bf16 for the same speed."""
        return catalog_motion.autocast_dtype(self.precision, self.device, fast=torch.float16)

    def _compile(self, model: torch.nn.Module) -> torch.nn.Module:
        """``whole``: the wrapper in one graph (device-made patches compile); ``parts``: stem and transformer only.

        Either falls back to eager, with a warning, where the compiler fails."""
        if not self.compiled:
            return model
        if self.compile_scope not in COMPILE_SCOPES:  # also when set as an attribute after construction
            raise OptionError(f"imaging_quality: compile_scope must be one of {COMPILE_SCOPES}, "
                              f"got {self.compile_scope!r}")
        if self.compile_scope == "whole":
            return maybe_compiled(model, True, self.name, self.compile_mode)
        musiq = model.musiq
        for part in ("conv_root", "gn_root", "root_pool", "block1", "transformer_encoder"):
            setattr(musiq, part, maybe_compiled(getattr(musiq, part), True, f"{self.name}.{part}",
                                                      self.compile_mode))
        return model

    def check_available(self) -> None:
        super().check_available()
        try:
            import pyiqa  # noqa: F401
        except ImportError as exc:
            raise WeightsUnavailableError(
                "pyiqa (MUSIQ architecture)", None,
                "the pyiqa package is not installed: pip install 'longvgenbench[vbench]' (or pip install pyiqa)",
            ) from exc

    def _build(self, item: WeightFile, path: Path) -> torch.nn.Module:
        try:
            musiq = build_musiq(catalog_motion.load_state_dict(path))
        except RuntimeError as exc:
            raise WeightsUnavailableError(item.filename, path, f"is not a MUSIQ checkpoint ({exc})") from exc
        return DevicePatchedMUSIQ(musiq, patch_dtype=self._dtype())

    def frame_scores(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """MOS (0..100) of every frame, float64, one host sync."""
        model = self._load()
        dtype = self._dtype()
        video = as_device_uint8(frames, self.device).permute(0, 3, 1, 2)
        scores = []
        with catalog_motion.inference(self.device, dtype):
            for start in range(0, video.shape[0], self.batch_size):
                # in half precision from the start, and patches cut in it (patch_dtype): the first convolution
                # sees the numbers pyiqa's path gives it under autocast, at half the bytes (see musiq_patches)
                images = preprocess(video[start : start + self.batch_size])
                scores.append(model(images if dtype is None else images.to(dtype)).float().reshape(-1))
        return torch.cat(scores).double().cpu().numpy()

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip)
        return {"imaging_quality": float(np.mean(self.frame_scores(frames_source(clip, frames)))) / MOS_SCALE}
