"""VBench aesthetic quality: LAION linear head on L2-normalised CLIP ViT-L/14 embeddings, / 10, mean over frames."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from evaluators._frames import check_frames, frames_source
from evaluators.vbench.base import VBenchImageEvaluator
from evaluators.vbench.catalog_appearance import CLIP_VIT_L14, LAION_AESTHETIC_HEAD
from evaluators.vbench.common import batched_features, clip_preprocess
from evaluators.vbench.models import load_linear_head, load_openai_clip_visual
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec


@dataclass(frozen=True)
class AestheticModel:
    visual: torch.nn.Module
    head: torch.nn.Linear


class AestheticQualityEvaluator(VBenchImageEvaluator, ClipEvaluator):
    """LAION aesthetic score of every frame / 10, averaged over the clip (higher is better, ~0-1)."""

    name: ClassVar[str] = "aesthetic_quality"
    version: ClassVar[str] = "1.1"  # 1.1: compiled on CUDA by default (rounding ~1e-6)
    required = (CLIP_VIT_L14, LAION_AESTHETIC_HEAD)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("aesthetic_quality", Level.CLIP, True,
                   "VBench aesthetic quality: LAION head on CLIP ViT-L/14 embeddings / 10, mean over the frames"),
    )

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 81,
                 clip_checkpoint: str | None = None, head_checkpoint: str | None = None,
                 compile: str | bool = "auto") -> None:
        super().__init__(device, precision, batch_size,
                         {CLIP_VIT_L14.key: clip_checkpoint, LAION_AESTHETIC_HEAD.key: head_checkpoint}, compile)

    def load(self, paths: dict[str, Path]) -> Any:
        return AestheticModel(self.compiled_if_asked(load_openai_clip_visual(paths[CLIP_VIT_L14.key], self.device)),
                              load_linear_head(paths[LAION_AESTHETIC_HEAD.key], self.device))

    def protocol(self) -> dict[str, object]:
        return {**self.common_protocol(), "model": "OpenAI CLIP ViT-L/14 image tower (open_clip) + LAION linear head",
                "preprocess": "shorter side -> 224 bicubic, no antialias; centre crop 224; /255; CLIP mean/std",
                "frames": "every frame", "score": "mean over frames of head(normalise(embedding)) / 10"}

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip)
        model = self.model()
        embeddings = batched_features(frames_source(clip, frames), self.device, self.batch_size, clip_preprocess,
                                      model.visual, self.precision)
        with torch.inference_mode():  # the head in fp32, as VBench casts the embeddings to float32 first
            scores = model.head(F.normalize(embeddings, dim=-1, p=2)).squeeze(-1) / 10
        return {"aesthetic_quality": float(scores.double().mean())}
