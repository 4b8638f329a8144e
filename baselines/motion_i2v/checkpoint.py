"""Official Motion-I2V checkpoints: expected tensor names/shapes, header checks, loading.

``official_tensors.json`` lists every tensor of both published UNets at the real configuration;
``tests/parity/motion_i2v/make_goldens.py`` derives it from the published model definitions
(built on the meta device). Before anything is loaded, a file's names and shapes are read
without its data (safetensors headers, or ``torch.load`` onto the meta device for the published
``.bin``/``.ckpt`` pickles) and compared with that list: any missing, unexpected or mis-shaped
tensor fails loudly by name (the published loader uses ``strict=False`` and would load partially).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import torch

from longvgenbench.errors import MismatchError

NAMES_FILE = Path(__file__).with_name("official_tensors.json")


@cache
def official_tensors() -> dict[str, dict[str, tuple[int, ...]]]:
    """{"stage1_unet"|"stage2_unet": {name: shape}} at the real configuration."""
    raw = json.loads(NAMES_FILE.read_text())
    return {stage: {k: tuple(v) for k, v in names.items()} for stage, names in raw.items()}


def read_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a checkpoint's tensors, without reading their data."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not a dict)
    state = torch.load(path, map_location="meta", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def check_header(path: Path, expected: Mapping[str, tuple[int, ...]], *, partial: bool = False) -> None:
    """Refuse ``path`` unless its tensors are exactly ``expected`` (a subset of it when ``partial``)."""
    problems = layout_problems(read_header(path), expected, partial=partial)
    if problems:
        raise MismatchError(f"checkpoint {path} does not match Motion-I2V's published layout: " + "; ".join(problems))


def layout_problems(found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], *,
                    partial: bool = False) -> list[str]:
    """What is missing, unexpected or mis-shaped in ``found`` (empty when it matches ``expected``)."""
    missing = [] if partial else sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    misshaped = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != tuple(expected[k]))
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[:3]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {unexpected[:3]})")
    if misshaped:
        k = misshaped[0]
        parts.append(f"{len(misshaped)} mis-shaped (first: {k} is {list(found[k])}, expected {list(expected[k])})")
    return parts


def expected_for(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a model of ours (any configuration): what its checkpoint must hold."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_checkpoint(model: torch.nn.Module, path: Path, *, partial: bool = False) -> None:
    """Header-check ``path`` against ``model`` and load it (only the listed tensors when ``partial``)."""
    check_header(path, expected_for(model), partial=partial)
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
    model.load_state_dict(state, strict=not partial)
