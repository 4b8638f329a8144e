"""VBench background consistency: OpenAI CLIP ViT-B/32 image features, bicubic resize + centre crop 224."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from evaluators.vbench.catalog_appearance import CLIP_VIT_B32
from evaluators.vbench.common import clip_preprocess
from evaluators.vbench.consistency import ConsistencyEvaluator
from evaluators.vbench.models import load_openai_clip_visual
from longvgenbench.evaluation.api import Level, MetricSpec


class BackgroundConsistencyEvaluator(ConsistencyEvaluator):
    """Similarity of CLIP features of each frame to the previous and the first frame (higher is better)."""

    name: ClassVar[str] = "background_consistency"
    version: ClassVar[str] = "1.1"  # 1.1: compiled on CUDA by default (rounding ~1e-6)
    # CUDA graphs: half of a compiled clip's wall time was the GPU waiting for launches; 0.39 -> 0.24 s/video on an
    # H100, the same values (RESULTS.md)
    compile_mode: ClassVar[str | None] = "reduce-overhead"
    whole_video_metric: ClassVar[str] = "background_consistency_whole_video"
    required = (CLIP_VIT_B32,)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("background_consistency", Level.CLIP, True,
                   "VBench background consistency (CLIP ViT-B/32) of the clip, f_0 = the clip's first frame"),
        MetricSpec("background_consistency_whole_video", Level.VIDEO, True,
                   "VBench background consistency over the whole video as one file (averaging=vbench_whole_video)"),
    )

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 27, averaging: str = "clip",
                 clip_checkpoint: str | None = None, compile: str | bool = "auto") -> None:
        super().__init__(device, precision, batch_size, averaging, {CLIP_VIT_B32.key: clip_checkpoint}, compile)

    def load(self, paths: dict[str, Path]) -> Any:
        return self.compiled_if_asked(load_openai_clip_visual(paths[CLIP_VIT_B32.key], self.device))

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return clip_preprocess(frames)

    def protocol(self) -> dict[str, object]:
        return {**self.common_protocol(), "model": "OpenAI CLIP ViT-B/32 image tower (open_clip)",
                "preprocess": "shorter side -> 224 bicubic, no antialias; centre crop 224; /255; CLIP mean/std",
                "frames": "every frame", "averaging": self.averaging,
                "score": "mean over i>=1 of (max(0,cos(f_i-1,f_i)) + max(0,cos(f_0,f_i)))/2"}
