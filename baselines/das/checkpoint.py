"""Official DiffusionAsShader transformer checkpoints -> ``DiffusionAsShaderTransformer``, checked before loading.

The Hub repository (``EXCAI/Diffusion-As-Shader``) is a diffusers pipeline folder whose
``transformer/`` holds the whole tracking transformer (CogVideoX-5B-I2V base + branch) as
safetensors shards. Upstream loads it with ``from_pretrained`` and, if that fails for any reason,
silently falls back to loading it as a plain CogVideoX with a fresh (zero) branch: a model that
runs and ignores the tracking video. Here the shards' *headers* (names, shapes; no data) are read
first and compared with the model; any missing, unexpected or mis-shaped tensor raises
``CheckpointError`` naming them before a byte of weights is read. Our parameter names equal the
official ones (the model subclasses diffusers' CogVideoX with upstream's attribute names), so the
mapping is the identity; a ``transformer.`` prefix (a whole-pipeline state dict) is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

# the header reading lives in the core (shared by every model plug-in)
from longvgenbench.checkpoints import CheckpointError, CheckReport, TensorInfo, read_header, read_headers

PIPELINE_PREFIX = "transformer."


def official_to_ours(name: str) -> str:
    """Official checkpoint name -> our parameter name (identity, minus a whole-pipeline prefix)."""
    return name[len(PIPELINE_PREFIX):] if name.startswith(PIPELINE_PREFIX) else name


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry of the model and its shape (works on the meta device)."""
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_transformer(model: torch.nn.Module, header: Mapping[str, TensorInfo],
                      what: str = "DiffusionAsShader transformer checkpoint") -> CheckReport:
    """Compare a (merged) header with every state-dict entry of ``model``: the file must fill all, exactly."""
    expected = expected_shapes(model)
    mapping: dict[str, str] = {}
    unexpected: list[str] = []
    misshaped: list[str] = []
    for name, info in header.items():
        ours = official_to_ours(name)
        if ours not in expected or ours in mapping.values():
            unexpected.append(name)
        elif tuple(expected[ours]) != info.shape:
            misshaped.append(f"{name}: {list(info.shape)} vs {list(expected[ours])}")
        else:
            mapping[name] = ours
    covered = set(mapping.values()) | {official_to_ours(m.split(":")[0]) for m in misshaped}
    return CheckReport(what, mapping, tuple(sorted(set(expected) - covered)), tuple(sorted(unexpected)),
                       tuple(misshaped))


def tracking_blocks_in(header: Mapping[str, TensorInfo]) -> int:
    """How many tracking blocks a checkpoint holds (``transformer_blocks_copy.N.*``)."""
    indices = {int(official_to_ours(n).split(".")[1]) for n in header
               if official_to_ours(n).startswith("transformer_blocks_copy.")}
    return len(indices)


def load_checked(model: torch.nn.Module, report: CheckReport, where: Mapping[str, Path],
                 dtype: torch.dtype | None = None) -> int:
    """Load what a passed ``report`` mapped, shard by shard (``assign``: meta models get real tensors)."""
    from safetensors import safe_open

    report.raise_if_bad()
    by_file: dict[Path, list[str]] = {}
    for name in report.mapping:
        by_file.setdefault(where[name], []).append(name)
    loaded = 0
    for path, names in by_file.items():
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            state = {report.mapping[n]: handle.get_tensor(n) for n in names}
        if dtype is not None:
            state = {k: v.to(dtype) for k, v in state.items()}
        model.load_state_dict(state, strict=False, assign=True)
        loaded += len(state)
    return loaded


__all__ = ["CheckReport", "CheckpointError", "TensorInfo", "check_transformer", "expected_shapes", "load_checked",
           "official_to_ours", "read_header", "read_headers", "tracking_blocks_in"]
