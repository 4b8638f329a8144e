"""Per-clip caption refinement with Qwen2.5-VL-7B-Instruct (LongVie 2's optional VLM step).

Why: in a long generation every clip after the first starts from the previous clip's last
*generated* frame, which drifts away from the ground truth the benchmark caption was written
for. LongVie 2 may therefore rewrite each clip's caption so that it matches the new first frame.

What upstream has (Vchitect/LongVie at 2727f85, ``utils/qwen_caption_refine.py``): one image and
one instruction that asks Qwen2.5-VL-7B-Instruct (transformers, bf16) to revise the caption so it
fits the image, ``max_new_tokens=1024``, the model's own generation config. Upstream applies it
offline to every caption of a video against one (edited) first frame. Here an instruction with the
same request, worded by us (:data:`REFINE_PROMPT`; any other through ``prompt``), is applied inside
the long-video loop, per clip, against that clip's first frame (the previous
clip's last generated frame); clip 0 keeps the benchmark caption, since its first frame is the
ground-truth frame the caption was written for. Decoding is greedy (``do_sample=False``; the
rest of the generation settings come from the model folder's ``generation_config.json``), so a
rerun or a resumed run refines to the same text. An empty answer keeps the benchmark caption and
is recorded as not refined.

The weights are the builder's registered Qwen2.5-VL-7B-Instruct folder (pinned revision, see
``longvgenbench.build.estimators.catalog.QWEN25_VL_7B``) or any local transformers folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from longvgenbench.errors import OptionError, WeightsUnavailableError

#: Our instruction, in our own words: upstream's asks the same of the model (revise the caption to match the
#: image, keep a video caption's style), but its text is not reproduced here. ``refiner_prompt_file`` (the
#: adapter's option) or ``prompt`` takes any other instruction, e.g. upstream's; the sha256 of the one used is
#: recorded with every refinement. ``{caption}`` is the benchmark caption.
REFINE_PROMPT = (
    "Here is a caption written for a video. Rewrite it so that it describes what this image shows: keep what "
    "the image confirms, correct or leave out what it contradicts, and keep it a fluent video caption of "
    "about the same length and style.\n\nCaption: {caption}"
)
#: Upstream's generation length.
MAX_NEW_TOKENS = 1024
REFINERS = ("off", "qwen2.5-vl")
_DTYPES = ("auto", "bfloat16", "float16", "float32")


def read_prompt_file(path: str | Path) -> str:
    """The instruction in ``path`` (UTF-8, must contain ``{caption}``), or an OptionError saying what is wrong."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"caption refiner: cannot read the prompt file {file} ({exc})") from exc
    if "{caption}" not in text:
        raise OptionError(f"caption refiner: the prompt file {file} must contain '{{caption}}' where the caption goes")
    return text


def refine_messages(caption: str, prompt: str = REFINE_PROMPT) -> list[dict[str, Any]]:
    """The chat turn sent to the model: the first frame, then the instruction with the caption."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt.format(caption=caption)}]}]


@dataclass(frozen=True)
class Refinement:
    """One clip's caption: what the benchmark gave, what the clip was generated with, and whether it changed."""

    original: str
    caption: str
    refined: bool


class CaptionRefiner:
    """Qwen2.5-VL rewrites a clip caption to fit the clip's first frame (loaded on first use)."""

    name = "qwen2.5-vl"

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu", dtype: str = "auto",
                 max_new_tokens: int = MAX_NEW_TOKENS, prompt: str = REFINE_PROMPT) -> None:
        if int(max_new_tokens) < 1:
            raise OptionError(f"caption refiner: max_new_tokens must be >= 1, got {max_new_tokens}")
        if dtype not in _DTYPES:
            raise OptionError(f"caption refiner: dtype must be one of {list(_DTYPES)}, got {dtype!r}")
        if "{caption}" not in prompt:
            raise OptionError("caption refiner: the prompt must contain '{caption}'")
        try:
            prompt.format(caption="")
        except (KeyError, IndexError, ValueError) as exc:
            raise OptionError(f"caption refiner: the prompt has a placeholder other than '{{caption}}' ({exc!r}); "
                              f"write literal braces as '{{{{' and '}}}}'") from exc
        self.model_dir = None if model_dir is None else Path(model_dir).expanduser()
        self.device, self.dtype_name = device, dtype
        self.max_new_tokens, self.prompt = int(max_new_tokens), prompt
        self._model: Any = None
        self._processor: Any = None

    # -- weights -------------------------------------------------------------------------------
    def folder(self) -> Path:
        """The local transformers folder, or ``WeightsUnavailableError`` naming the file and the fetch command."""
        if self.model_dir is not None:
            if not (self.model_dir / "config.json").is_file():
                raise WeightsUnavailableError(f"Qwen2.5-VL caption refiner folder {self.model_dir}",
                                              self.model_dir / "config.json",
                                              "refiner_model_dir must be a transformers folder (config, weights, "
                                              "processor files), e.g. a download of Qwen/Qwen2.5-VL-7B-Instruct")
            return self.model_dir
        try:
            import transformers  # noqa: F401
        except ImportError as exc:
            raise WeightsUnavailableError("Qwen2.5-VL caption refiner", None,
                                          "the transformers library is not installed: "
                                          "pip install 'longvgenbench[longvie]'") from exc
        from longvgenbench.build.estimators.catalog import QWEN25_VL_7B

        return QWEN25_VL_7B.locate()

    def check_available(self) -> None:
        """Fail before any generation if the weights are absent (refinement starts at clip 1)."""
        self.folder()

    def fingerprint(self) -> dict[str, str]:
        if self.model_dir is not None:
            source = str(self.model_dir)
        else:
            from longvgenbench.build.estimators.catalog import QWEN25_VL_7B

            source = f"{QWEN25_VL_7B.repo_id}@{QWEN25_VL_7B.revision}"
        return {"refiner": self.name, "weights": source, "max_new_tokens": str(self.max_new_tokens),
                "decoding": "greedy", "dtype": self.dtype_name,
                "prompt_sha256": hashlib.sha256(self.prompt.encode()).hexdigest()}

    def _torch_dtype(self) -> Any:
        import torch

        if self.dtype_name == "auto":
            return torch.bfloat16 if str(self.device).startswith("cuda") else torch.float32
        return getattr(torch, self.dtype_name)

    def load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

            folder = str(self.folder())
            self._processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, local_files_only=True,
                                                                       dtype=self._torch_dtype())
            self._model = model.to(self.device).eval()
        return self._model, self._processor

    # -- refinement ----------------------------------------------------------------------------
    def model_inputs(self, frame: np.ndarray, caption: str) -> Any:
        """Processor outputs (token ids, image patches, grid) for one first frame and one caption."""
        from PIL import Image

        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"caption refiner needs one uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        _, processor = self.load()
        text = processor.apply_chat_template(refine_messages(caption, self.prompt), tokenize=False,
                                             add_generation_prompt=True)
        return processor(text=[text], images=[Image.fromarray(frame)], return_tensors="pt")

    def refine(self, frame: np.ndarray, caption: str) -> Refinement:
        """The caption rewritten for ``frame`` (greedy); an empty answer keeps ``caption``."""
        import torch

        model, processor = self.load()
        inputs = self.model_inputs(frame, caption).to(self.device)
        with torch.inference_mode():
            generated = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        answer = processor.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True,
                                        clean_up_tokenization_spaces=False)[0].strip()
        return Refinement(original=caption, caption=answer or caption, refined=bool(answer))

    def release(self) -> None:
        """Drop the loaded model (frees its memory between runs)."""
        self._model = self._processor = None


def captions_from_state(path: Path | str) -> list[Refinement]:
    """The captions a LongVie 2 run used, read from a segment's saved state (``.npz``)."""
    with np.load(path, allow_pickle=False) as data:
        if "captions" not in data.files:
            raise ValueError(f"{path} holds no captions: the run was made without a caption refiner")
        return [Refinement(original=str(o), caption=str(c), refined=bool(r))
                for o, c, r in zip(data["original_captions"], data["captions"], data["caption_refined"], strict=True)]


__all__ = ["MAX_NEW_TOKENS", "REFINERS", "REFINE_PROMPT", "CaptionRefiner", "Refinement", "captions_from_state",
           "read_prompt_file", "refine_messages"]
