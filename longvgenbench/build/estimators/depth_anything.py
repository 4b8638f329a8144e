"""Depth Anything V2 (through transformers) as the builder's depth estimator.

Why it looks like this:
- the builder asks for depth over the *whole* video in chunks of ``chunk_frames`` frames; inside a
  chunk frames go through the network ``batch_size`` at a time, and every frame is processed alone
  (the model is per-image), so results do not depend on how a video is chunked or batched;
- preprocessing is the one of the model's image processor, done on tensors for speed: resize
  keeping the aspect ratio so that the *shorter* side is ``input_size`` (518, as the protocol says)
  and both sides are multiples of 14 (bicubic), then ImageNet mean/std;
- the output is the model's raw ``predicted_depth``, which for Depth Anything is relative inverse
  depth (bigger = nearer, "disparity"), upsampled back to the frame size; the builder then applies
  the protocol's global p5/p95 normalisation (near = black). Nothing is inverted or rescaled here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from longvgenbench.build.estimator_api import DepthEstimator
from longvgenbench.build.estimators._torch_options import require_transformers, resolve_device, resolve_dtype
from longvgenbench.build.estimators.catalog import DEPTH_MODELS
from longvgenbench.errors import OptionError, WeightsUnavailableError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH = 14


def network_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """(h, w) the network sees: shorter side scaled to ``input_size``, each side rounded to a multiple of 14
    (as the DPT/Depth Anything image processor's ``keep_aspect_ratio`` + ``ensure_multiple_of``)."""
    scale = max(input_size / height, input_size / width)

    def multiple(value: float) -> int:
        rounded = int(round(value / PATCH) * PATCH)
        if rounded < input_size:  # never below the requested size
            rounded = int(math.ceil(value / PATCH) * PATCH)
        return rounded

    return multiple(height * scale), multiple(width * scale)


class DepthAnythingV2(DepthEstimator):
    """Depth Anything V2 (``variant`` large, the protocol's, or small) through transformers."""

    name = "depth-anything-v2"
    description = "Depth Anything V2 (transformers), relative inverse depth over the whole video"
    output: ClassVar[str] = "disparity"
    chunk_frames: ClassVar[int] = 32

    def __init__(self, variant: str = "large", model_dir: str | None = None, input_size: int = 518,
                 batch_size: int = 8, device: str = "auto", dtype: str = "auto") -> None:
        if variant not in DEPTH_MODELS:
            raise OptionError(f"depth-anything-v2 variant must be one of {sorted(DEPTH_MODELS)}, got {variant!r}")
        if int(input_size) < PATCH or int(batch_size) < 1:
            raise OptionError(f"input_size must be >= {PATCH} and batch_size >= 1 "
                              f"(got {input_size}, {batch_size})")
        self.folder = DEPTH_MODELS[variant]
        self.variant = variant
        self.model_dir = None if model_dir is None else Path(model_dir).expanduser()
        self.input_size = int(input_size)
        self.batch_size = int(batch_size)
        self.device_option = device
        self.dtype_option = dtype
        self._model: Any = None

    def _local_folder(self) -> Path:
        if self.model_dir is None:
            return self.folder.locate()
        if not (self.model_dir / "config.json").is_file():
            raise WeightsUnavailableError(f"Depth Anything V2 model folder {self.model_dir}",
                                          self.model_dir / "config.json",
                                          "model_dir must be a transformers folder (config.json + weights), "
                                          "e.g. one written by save_pretrained")
        return self.model_dir

    def check_available(self) -> None:
        require_transformers("Depth Anything V2")
        self._local_folder()

    def fingerprint(self) -> dict[str, Any]:
        source = (str(self.model_dir) if self.model_dir is not None
                  else f"{self.folder.repo_id}@{self.folder.revision}")
        return {"name": self.name, "kind": self.kind, "weights": source, "input_size": self.input_size,
                "dtype": self.dtype_option}

    def _load(self) -> Any:
        if self._model is None:
            self.check_available()
            from transformers import AutoModelForDepthEstimation

            self.device = resolve_device(self.device_option)
            self.dtype = resolve_dtype(self.dtype_option, self.device)
            model = AutoModelForDepthEstimation.from_pretrained(str(self._local_folder()), local_files_only=True)
            self._model = model.to(device=self.device, dtype=self.dtype).eval()
        return self._model

    def preprocess(self, frames: np.ndarray) -> Any:
        """uint8 (B, H, W, 3) -> normalised float (B, 3, h, w) on the model's device, as the image processor does."""
        import torch
        import torch.nn.functional as F

        height, width = frames.shape[1:3]
        size = network_size(height, width, self.input_size)
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.dtype)

    def estimate(self, frames: np.ndarray, start: int) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"depth-anything-v2 needs uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
        model = self._load()
        height, width = frames.shape[1:3]
        out = np.empty((frames.shape[0], height, width), dtype=np.float32)
        with torch.inference_mode():
            for begin in range(0, frames.shape[0], self.batch_size):
                batch = self.preprocess(frames[begin:begin + self.batch_size])
                predicted = model(pixel_values=batch).predicted_depth.float()  # (B, h, w), bigger = nearer
                predicted = F.interpolate(predicted[:, None], size=(height, width), mode="bilinear",
                                          align_corners=False)[:, 0]
                out[begin:begin + predicted.shape[0]] = predicted.cpu().numpy()
        return out
