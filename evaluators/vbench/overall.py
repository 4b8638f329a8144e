"""VBench overall consistency: ViCLIP-L/14 cosine similarity between a clip's caption and 8 of its frames.

The definition, as in VBench 0.1.5 (``vbench/overall_consistency.py``):

- frames: ``read_frames_decord_by_fps(num_frames=8, sample="middle")``: the clip's T frames are cut
  into ``min(8, T)`` intervals at ``linspace(0, T, n + 1).astype(int)`` and the middle
  ``(start + end - 1) // 2`` of each is taken; fewer than 8 are padded with the last index
  (an 81-frame clip gives frames 4, 14, 24, 34, 44, 54, 64, 75);
- preprocessing: VBench's ``clip_transform(224)`` applied to the **uint8** frames decord returns:
  torchvision ``Resize(224, bicubic, antialias=False)`` on uint8 interpolates in float, clamps to
  0-255 and *rounds back to uint8*; ``CenterCrop(224)``; ``/255``; CLIP mean/std. (The other VBench
  image dimensions resize float frames without that rounding; this one does not.)
- prompt: the caption of the clip (``clip.segment.caption``; VBench uses its prompt, in
  ``custom_input`` mode the file name), tokenised as ViCLIP does: 32 tokens, longer text cut;
- score: ``cos(video feature, text feature)`` with both features L2-normalised in fp32; the video
  score is the mean over its clips, the dimension the mean over videos (VBench: one score per video).

Precision: ``fp32`` reproduces VBench (which runs ViCLIP in fp32 on every device); ``auto`` is fp16
autocast on CUDA. Text features are computed once per distinct caption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from evaluators._frames import check_frames, clip_label, frames_source
from evaluators.vbench.base import VBenchImageEvaluator
from evaluators.vbench.catalog_motion import VICLIP_L14
from evaluators.vbench.common import (
    CLIP_MEAN,
    CLIP_STD,
    as_device_uint8,
    autocast,
    center_crop,
    normalise,
    shorter_side_size,
)
from evaluators.vbench.viclip.checkpoint import load_viclip
from evaluators.vbench.viclip.model import ViCLIP
from evaluators.vbench.viclip.tokenizer import ViCLIPTokenizer
from longvgenbench.errors import SplitError
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec, Need
from longvgenbench.provenance import sha256_file

NUM_FRAMES = 8
IMAGE_SIZE = 224


def middle_frame_indices(num_frames: int, count: int = NUM_FRAMES) -> list[int]:
    """VBench's ``get_frame_indices(count, num_frames, sample="middle")``, padded with the last index."""
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    taken = min(count, num_frames)
    edges = np.linspace(start=0, stop=num_frames, num=taken + 1).astype(int)
    indices = [int((edges[i] + edges[i + 1] - 1) // 2) for i in range(taken)]
    return indices + [indices[-1]] * (count - len(indices))


def viclip_preprocess(frames: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """VBench's ``clip_transform(size)`` on uint8 frames: float (B, 3, H, W) holding uint8 values -> normalised.

    The resize rounds to uint8 as torchvision does for uint8 tensors; an image already of the
    target size is not resampled (torchvision returns it unchanged).
    """
    height, width = frames.shape[-2:]
    out_size = shorter_side_size(height, width, size)
    if out_size != (height, width):
        frames = F.interpolate(frames, size=out_size, mode="bicubic", align_corners=False, antialias=False)
        frames = frames.clamp(0, 255).round()
    return normalise(center_crop(frames, size), CLIP_MEAN, CLIP_STD)


@dataclass(frozen=True)
class ViCLIPBundle:
    """The loaded model and the tokenizer that goes with it."""

    model: ViCLIP
    tokenizer: ViCLIPTokenizer


class OverallConsistencyEvaluator(VBenchImageEvaluator, ClipEvaluator):
    """ViCLIP text-video cosine similarity of each clip with its caption (higher is better, ~0.2-0.3 real)."""

    name: ClassVar[str] = "overall_consistency"
    version: ClassVar[str] = "1.0"
    needs: ClassVar[frozenset[Need]] = frozenset({Need.CAPTION})
    required = (VICLIP_L14,)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("overall_consistency", Level.CLIP, True,
                   "VBench overall consistency: ViCLIP-L/14 cosine similarity of the clip's caption (32 tokens) "
                   "and 8 middle-sampled frames; mean over clips", "cosine"),
    )

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 8,
                 viclip_checkpoint: str | None = None, trust_pickle: bool = False) -> None:
        super().__init__(device, precision, batch_size, {VICLIP_L14.key: viclip_checkpoint})
        self.trust_pickle = bool(trust_pickle)
        self._text_cache: dict[str, torch.Tensor] = {}

    def load(self, paths: dict[str, Path]) -> Any:
        return ViCLIPBundle(load_viclip(paths[VICLIP_L14.key], self.device, self.trust_pickle), ViCLIPTokenizer())

    def weight_hashes(self) -> dict[str, str]:
        from evaluators.vbench.viclip.tokenizer import bpe_vocab_path

        vocab = bpe_vocab_path()
        return {**super().weight_hashes(), vocab.name: sha256_file(vocab)}

    def protocol(self) -> dict[str, object]:
        return {**self.common_protocol(), "model": "ViCLIP-L/14 (InternVid-10M-FLT), joint space-time attention",
                "frames": "8 per clip: middle of each of 8 equal intervals (VBench sample='middle'), last repeated "
                          "if the clip is shorter",
                "preprocess": "uint8 resize shorter side -> 224 bicubic, no antialias, rounded to uint8; centre "
                              "crop 224; /255; CLIP mean/std",
                "prompt": "the clip's caption, CLIP BPE, 32 tokens (longer captions cut, last token EOT)",
                "score": "cosine(video feature, text feature), per clip; video = mean over clips",
                "batch_size": f"{self.batch_size} clips per forward pass (score_clips)"}

    def text_features(self, captions: Sequence[str]) -> torch.Tensor:
        """L2-normalised fp32 text features (len(captions), D), computed once per distinct caption."""
        bundle = self.model()
        new = sorted({c for c in captions if c not in self._text_cache})
        if new:
            with torch.inference_mode(), autocast(self.precision, self.device):
                feats = bundle.model.encode_text(bundle.tokenizer(new).to(self.device)).float()
            for caption, feat in zip(new, F.normalize(feats, dim=-1), strict=True):
                self._text_cache[caption] = feat
        return torch.stack([self._text_cache[c] for c in captions])

    def video_features(self, clips_frames: Sequence[np.ndarray | torch.Tensor]) -> torch.Tensor:
        """L2-normalised fp32 video features (len(clips_frames), D) of uint8 (T, H, W, 3) clips (numpy, or tensors
        on the device), in batches."""
        bundle = self.model()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(clips_frames), self.batch_size):
                batch = []
                for frames in clips_frames[start : start + self.batch_size]:
                    picked = frames[middle_frame_indices(frames.shape[0])]  # 8 frames, wherever the clip is
                    pixels = as_device_uint8(picked, self.device)
                    batch.append(viclip_preprocess(pixels.permute(0, 3, 1, 2).float()))
                with autocast(self.precision, self.device):
                    outputs.append(bundle.model.encode_video(torch.stack(batch)).float())
        return F.normalize(torch.cat(outputs), dim=-1)

    def score_clips(self, clips: Sequence[ClipView]) -> list[float]:
        """Scores of many clips at once (batched video forward passes); same numbers as ``score_clip``."""
        # the engine's shared device copy of a clip when there is one: no upload of the 8 frames per clip
        frames = [frames_source(clip, check_frames(clip.frames, clip)) for clip in clips]
        captions = [self._caption(clip) for clip in clips]
        sims = (self.video_features(frames) * self.text_features(captions)).sum(dim=-1)
        return [float(v) for v in sims.double().cpu()]

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        return {"overall_consistency": self.score_clips([clip])[0]}

    @staticmethod
    def _caption(clip: ClipView) -> str:
        caption = clip.segment.caption
        if not caption or not caption.strip():
            raise SplitError(f"{clip_label(clip)} has no caption: overall_consistency compares the video with "
                             f"its caption, so the split must provide one per clip")
        return caption
