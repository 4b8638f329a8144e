"""Captions from a user's file (``--captions FILE``): the way to use captions written elsewhere.

Formats: a CSV with columns ``video_id, clip_index, caption``; or JSON, either
``{"<video_id>": ["caption of clip 0", ...]}`` or a list of ``{"video_id", "clip_index", "caption"}``.
Video ids are the builder's (``<source_id>-shotNNN``; run a build with ``--captions none`` first to
see them). A clip the file does not mention gets an empty caption, counted in the build report.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from longvgenbench.build.estimator_api import CaptionEstimator
from longvgenbench.errors import LongVGenBenchError


class CaptionFileError(LongVGenBenchError):
    """The captions file is missing or malformed."""


def read_captions(path: Path) -> dict[tuple[str, int], str]:
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                need = {"video_id", "clip_index", "caption"}
                if reader.fieldnames is None or not need <= set(reader.fieldnames):
                    raise CaptionFileError(f"{path}: a captions CSV needs columns {sorted(need)}, "
                                           f"has {reader.fieldnames}")
                return {(r["video_id"], int(r["clip_index"])): r["caption"] for r in reader}
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return {(vid, i): str(c) for vid, caps in data.items() for i, c in enumerate(caps)}
        return {(r["video_id"], int(r["clip_index"])): str(r["caption"]) for r in data}
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise CaptionFileError(f"{path}: unreadable captions file ({type(exc).__name__}: {exc})") from exc


class FileCaptions(CaptionEstimator):
    """Captions read from a CSV or JSON file keyed by video id and clip index."""

    name = "file"
    description = "captions from a CSV/JSON file (video_id, clip_index, caption)"
    parallel_safe: ClassVar[bool] = True

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CaptionFileError(f"{self.path}: captions file does not exist")
        self.captions = read_captions(self.path)

    def fingerprint(self) -> dict[str, object]:
        import hashlib

        return {"name": self.name, "kind": self.kind,
                "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest()}

    def caption(self, frames: np.ndarray, video_id: str, clip_index: int) -> str:
        return self.captions.get((video_id, clip_index), "")
