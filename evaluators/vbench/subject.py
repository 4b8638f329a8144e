"""VBench subject consistency: DINO ViT-B/16 CLS features, shorter side -> 224 (bilinear, no antialias, no crop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from evaluators.vbench.catalog_appearance import DINO_VITB16
from evaluators.vbench.common import dino_preprocess
from evaluators.vbench.consistency import ConsistencyEvaluator
from evaluators.vbench.models import load_dino
from longvgenbench.evaluation.api import Level, MetricSpec


class SubjectConsistencyEvaluator(ConsistencyEvaluator):
    """Similarity of DINO features of each frame to the previous and the first frame (higher is better)."""

    name: ClassVar[str] = "subject_consistency"
    # 1.1: compiled on CUDA by default (rounding ~1e-6); 1.2: compiled, the position table is computed in the graph
    version: ClassVar[str] = "1.2"
    whole_video_metric: ClassVar[str] = "subject_consistency_whole_video"
    required = (DINO_VITB16,)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("subject_consistency", Level.CLIP, True,
                   "VBench subject consistency (DINO ViT-B/16) of the clip, f_0 = the clip's first frame"),
        MetricSpec("subject_consistency_whole_video", Level.VIDEO, True,
                   "VBench subject consistency over the whole video as one file (averaging=vbench_whole_video)"),
    )

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 27, averaging: str = "clip",
                 dino_checkpoint: str | None = None, compile: str | bool = "auto") -> None:
        super().__init__(device, precision, batch_size, averaging, {DINO_VITB16.key: dino_checkpoint}, compile)

    def load(self, paths: dict[str, Path]) -> Any:
        return self.compiled_if_asked(load_dino(paths[DINO_VITB16.key], self.device))

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return dino_preprocess(frames)

    def protocol(self) -> dict[str, object]:
        return {**self.common_protocol(), "model": "DINO ViT-B/16 CLS token (timm, DINO position interpolation)",
                "preprocess": "shorter side -> 224 bilinear, no antialias, no crop; /255; ImageNet mean/std",
                "frames": "every frame", "averaging": self.averaging,
                "score": "mean over i>=1 of (max(0,cos(f_i-1,f_i)) + max(0,cos(f_0,f_i)))/2"}
