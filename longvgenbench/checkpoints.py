"""Reading official checkpoints' safetensors headers before any weights: shared by every model plug-in.

Published loaders tend to call ``load_state_dict(strict=False)`` and say nothing, so a renamed,
truncated or prefixed file yields a model that runs and is wrong. The plug-ins here read each
file's header first (names, shapes, dtypes: a few kilobytes even for a 30 GB shard), compare it
with the tensors they expect, and raise :class:`CheckpointError` naming what is missing,
unexpected or mis-shaped before a byte of weights is read. The header reading is the same for all
of them and lives here; the name mapping is each model's own.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from longvgenbench.errors import LongVGenBenchError

_MAX_HEADER = 100 * 1024 * 1024
_SHOWN = 8  # names listed per kind of problem in an error message


class CheckpointError(LongVGenBenchError):
    """A checkpoint file does not match the model: names what is missing, unexpected or mis-shaped."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as its safetensors header describes it."""

    shape: tuple[int, ...]
    dtype: str


def read_header(path: Path | str) -> dict[str, TensorInfo]:
    """Names, shapes and dtypes of a safetensors file, from its header alone."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise CheckpointError(f"{path} is not a safetensors file (shorter than 8 bytes)")
            (length,) = struct.unpack("<Q", raw)
            if length > _MAX_HEADER or length > path.stat().st_size - 8:
                raise CheckpointError(f"{path} is not a safetensors file (header length {length} is impossible)")
            header = json.loads(handle.read(length))
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a safetensors file (its header is not JSON)") from exc
    return {name: TensorInfo(tuple(int(d) for d in meta["shape"]), str(meta["dtype"]))
            for name, meta in header.items() if name != "__metadata__"}


def read_headers(paths: Iterable[Path | str]) -> tuple[dict[str, TensorInfo], dict[str, Path]]:
    """Merged headers of several shards, and which shard holds each name (a name in two shards is an error)."""
    infos: dict[str, TensorInfo] = {}
    where: dict[str, Path] = {}
    for path in paths:
        for name, info in read_header(path).items():
            if name in infos:
                raise CheckpointError(f"tensor {name!r} is in both {where[name]} and {path}")
            infos[name], where[name] = info, Path(path)
    return infos, where


@dataclass(frozen=True)
class CheckReport:
    """The outcome of comparing a file's header with the parameters it must fill."""

    what: str
    mapping: Mapping[str, str]  # file name -> our name
    missing: tuple[str, ...]  # our names
    unexpected: tuple[str, ...]  # file names
    misshaped: tuple[str, ...]  # "file name: file shape vs our shape"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)

    def raise_if_bad(self) -> None:
        """Raise :class:`CheckpointError` naming (the first few of) every missing, unexpected and mis-shaped tensor."""
        if self.ok:
            return
        parts = []
        for label, items in (("missing", self.missing), ("unexpected", self.unexpected),
                             ("mis-shaped", self.misshaped)):
            if items:
                more = f", ... ({len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{more}")
        raise CheckpointError(f"{self.what} does not match the model ({'; '.join(parts)}); nothing was loaded")
