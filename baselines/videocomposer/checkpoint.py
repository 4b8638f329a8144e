"""The official VideoComposer UNet checkpoint (``non_ema_228000.pth``): read safely, checked, then loaded.

The file is a torch pickle of a plain state dict. It is opened with ``torch.load(weights_only=True)``
(no arbitrary code runs) and memory-mapped where the file format allows, so the names and shapes
are known before any tensor is copied. Upstream loads it with ``strict=False`` and no report, so a
wrong or truncated file silently gives a model that runs and is wrong; here every name and shape
is compared with the model's (built on the meta device from the same configuration), and any
missing, unexpected or mis-shaped tensor raises :class:`CheckpointError` naming them.

``official_unet_tensors.json`` beside this module is the tensor list of the REAL model as the
published class builds it (made by ``tests/parity/videocomposer/make_goldens.py`` from upstream's
``UNetSD_temporal`` on the meta device); a test proves our model at the real configuration has
exactly those names and shapes. A leading ``module.`` (a DistributedDataParallel save) is removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from longvgenbench.errors import LongVGenBenchError

OFFICIAL_TENSORS = Path(__file__).with_name("official_unet_tensors.json")
_SHOWN = 8


class CheckpointError(LongVGenBenchError):
    """A VideoComposer checkpoint does not match the model: names what is missing, unexpected or mis-shaped."""


@dataclass(frozen=True)
class CheckReport:
    """The comparison of a checkpoint with the tensors a model expects."""

    source: str
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    misshaped: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)

    def message(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing (e.g. {list(self.missing[:_SHOWN])})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected (e.g. {list(self.unexpected[:_SHOWN])})")
        if self.misshaped:
            shown = [f"{n}: file {list(f)} vs model {list(m)}" for n, f, m in self.misshaped[:_SHOWN]]
            parts.append(f"{len(self.misshaped)} mis-shaped ({'; '.join(shown)})")
        return f"{self.source} does not match the VideoComposer UNet: " + ", ".join(parts)

    def raise_if_bad(self) -> None:
        if not self.ok:
            raise CheckpointError(self.message())


def official_tensors() -> dict[str, tuple[int, ...]]:
    """Names and shapes of the published UNet's state dict (see the module docstring)."""
    data = json.loads(OFFICIAL_TENSORS.read_text())
    return {name: tuple(shape) for name, shape in data["tensors"].items()}


def read_state(path: Path | str) -> dict[str, torch.Tensor]:
    """The state dict of a ``.pth`` file without running pickled code (memory-mapped when possible)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip / unpickler errors come in many types
        raise CheckpointError(f"{path} cannot be read as a torch state dict with weights_only=True: {exc}") from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds {type(state).__name__}, not a state dict of tensors")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def compare(shapes: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], source: str) -> CheckReport:
    missing = tuple(sorted(set(expected) - set(shapes)))
    unexpected = tuple(sorted(set(shapes) - set(expected)))
    misshaped = tuple((n, tuple(shapes[n]), tuple(expected[n])) for n in sorted(set(shapes) & set(expected))
                      if tuple(shapes[n]) != tuple(expected[n]))
    return CheckReport(source, missing, unexpected, misshaped)


def load_checked(model: torch.nn.Module, path: Path | str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Compare ``path`` with ``model`` (which may live on the meta device), then load it and return the model."""
    state = read_state(path)
    expected = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    compare({n: tuple(t.shape) for n, t in state.items()}, expected, str(path)).raise_if_bad()
    model.load_state_dict({n: t.to(dtype) for n, t in state.items()}, strict=True, assign=True)
    return model.to(dtype)


__all__ = ["OFFICIAL_TENSORS", "CheckReport", "CheckpointError", "compare", "load_checked", "official_tensors",
           "read_state"]
