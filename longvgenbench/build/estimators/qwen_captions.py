"""Captions per clip with Qwen2.5-VL-7B-Instruct (through transformers), as LongVGenBench's captions were made.

Why it looks like this: a 7B vision-language model is too slow to see all 81 frames of every clip,
so it sees ``num_frames`` frames spread evenly over the clip (first and last included) as one video,
each frame downscaled to at most ``max_pixels`` pixels, and is asked for one detailed description of
100-330 words (the length range of the benchmark's captions). Decoding is greedy, so a rebuild gives
the same captions. The model is loaded once, on first use, in the main process (``parallel_safe`` is
False); ``check_available`` only looks for the files, so a missing model is reported before a build starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from longvgenbench.build.estimator_api import CaptionEstimator
from longvgenbench.build.estimators._torch_options import require_transformers, resolve_device, resolve_dtype
from longvgenbench.build.estimators.catalog import QWEN25_VL_7B
from longvgenbench.errors import OptionError, WeightsUnavailableError

CAPTION_PROMPT = (
    "Write a detailed description of this video in 100 to 330 words, as one paragraph of plain prose. "
    "Describe the setting and environment, the main objects and people with their appearance and positions, "
    "what moves and how, how the camera moves, and the lighting, weather and time of day. "
    "Describe only what is visible; do not mention that this is a video or a sequence of frames."
)


def clip_frame_indices(num_clip_frames: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``[0, num_clip_frames)``, first and last included (an even count,
    since Qwen2.5-VL groups video frames in pairs)."""
    if num_clip_frames < 1:
        raise ValueError("a clip needs at least one frame")
    count = max(2, count + count % 2)
    return [int(round(v)) for v in np.linspace(0, num_clip_frames - 1, count)]


def caption_messages(prompt: str) -> list[dict[str, Any]]:
    """The chat turn sent to the model: one video then the instruction."""
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]


class QwenVLCaptions(CaptionEstimator):
    """Qwen2.5-VL captions of each clip (a few frames of it + a prompt for a detailed description)."""

    name = "qwen2.5-vl"
    description = "captions per clip by Qwen2.5-VL-7B-Instruct (transformers), 100-330 words"

    parallel_safe: ClassVar[bool] = False

    def __init__(self, model_dir: str | None = None, num_frames: int = 8, max_pixels: int = 360 * 640,
                 max_new_tokens: int = 512, prompt: str = CAPTION_PROMPT, device: str = "auto",
                 dtype: str = "auto") -> None:
        if int(num_frames) < 1 or int(max_new_tokens) < 1 or int(max_pixels) < 28 * 28:
            raise OptionError(f"num_frames and max_new_tokens must be >= 1 and max_pixels >= 784 "
                              f"(got {num_frames}, {max_new_tokens}, {max_pixels})")
        self.model_dir = None if model_dir is None else Path(model_dir).expanduser()
        self.num_frames = int(num_frames)
        self.max_pixels = int(max_pixels)
        self.max_new_tokens = int(max_new_tokens)
        self.prompt = str(prompt)
        self.device_option = device
        self.dtype_option = dtype
        self._model: Any = None
        self._processor: Any = None

    def _local_folder(self) -> Path:
        if self.model_dir is None:
            return QWEN25_VL_7B.locate()
        if not (self.model_dir / "config.json").is_file():
            raise WeightsUnavailableError(f"Qwen2.5-VL model folder {self.model_dir}", self.model_dir / "config.json",
                                          "model_dir must be a transformers folder (config, weights, processor)")
        return self.model_dir

    def check_available(self) -> None:
        require_transformers("Qwen2.5-VL captions")
        self._local_folder()

    def fingerprint(self) -> dict[str, Any]:
        pinned = f"{QWEN25_VL_7B.repo_id}@{QWEN25_VL_7B.revision}"
        source = str(self.model_dir) if self.model_dir is not None else pinned
        return {"name": self.name, "kind": self.kind, "weights": source, "num_frames": self.num_frames,
                "max_pixels": self.max_pixels, "max_new_tokens": self.max_new_tokens, "prompt": self.prompt}

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            self.check_available()
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

            folder = str(self._local_folder())
            self.device = resolve_device(self.device_option)
            dtype = resolve_dtype(self.dtype_option, self.device)
            self._processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=dtype)
            self._model = model.to(self.device).eval()
        return self._model, self._processor

    def model_inputs(self, frames: np.ndarray) -> Any:
        """Processor outputs (token ids, video patches, grid) for the clip's sampled frames and the prompt."""
        _, processor = self._load()
        picked = frames[clip_frame_indices(frames.shape[0], self.num_frames)]
        text = processor.apply_chat_template(caption_messages(self.prompt), tokenize=False,
                                             add_generation_prompt=True)
        # per-frame pixel cap as qwen-vl-utils applies it (the reference captioning path)
        return processor(text=[text], videos=[list(picked)], return_tensors="pt", do_sample_frames=False,
                         size={"longest_edge": self.max_pixels, "shortest_edge": 4 * 28 * 28},
                         cap_pixels_per_frame=True)

    def caption(self, frames: np.ndarray, video_id: str, clip_index: int) -> str:
        import torch

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"qwen2.5-vl needs uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
        model, processor = self._load()
        inputs = self.model_inputs(frames).to(self.device)
        with torch.inference_mode():
            generated = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        return processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()
