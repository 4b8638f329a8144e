"""Reading the official ViCLIP checkpoint (``ViClip-InternVid-10M-FLT.pth``) into :class:`ViCLIP`.

The file is a ``torch.save`` of ``{"model": state_dict, ...}`` as InternVid's training code writes it;
VBench loads ``["model"]`` strictly into its fixed-size ViCLIP-L/14. Here the sizes come from the
tensors, the load is strict as well (a missing or extra tensor is an error naming it), and the
pickle is read with ``weights_only=True`` unless the caller explicitly trusts the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from evaluators.vbench.viclip.model import ViCLIP, ViCLIPConfig
from longvgenbench.errors import WeightsUnavailableError

WHAT = "ViCLIP checkpoint"


def read_state_dict(path: Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official-format file (a bare state dict is accepted too)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:  # truncated file, foreign format, or pickled objects we refuse to execute
        hint = "" if trust_pickle else " (if it is the official file and holds more than tensors, " \
                                        "pass trust_pickle=True to read it as VBench does)"
        raise WeightsUnavailableError(WHAT, path, f"cannot be read as a PyTorch checkpoint: {exc}{hint}") from exc
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        payload = payload["model"]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise WeightsUnavailableError(WHAT, path, "holds no {'model': state_dict} or state dict of tensors")
    return {key.removeprefix("module."): value for key, value in payload.items()}


def load_viclip(path: Path, device: str = "cpu", trust_pickle: bool = False) -> ViCLIP:
    """A ViCLIP with the file's sizes and tensors, in fp32, eval mode, on ``device``."""
    state = read_state_dict(path, trust_pickle)
    try:
        config = ViCLIPConfig.from_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise WeightsUnavailableError(WHAT, path, f"is not in ViCLIP's layout ({exc})") from exc
    model = ViCLIP(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsUnavailableError(
            WHAT, path, f"does not match ViCLIP: missing {sorted(missing)[:6]}, unexpected {sorted(unexpected)[:6]}")
    return model.float().eval().requires_grad_(False).to(device)
