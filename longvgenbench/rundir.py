"""The layout of a run directory (one model on one split), in one place.

```
RUN/
  run.json                          model, fingerprint, split + manifest sha256, seed, grid, provenance
  videos/<video_id>/segments/
      0000.mkv                      segment 0 on the grid, lossless (FFV1), all 81 frames
      0000.state.npz                the model's state after segment 0 (to resume mid-video)
      0000.json                     written last: sha256 of both files, seconds, peak memory, how the
                                    native output was mapped onto the grid. Its presence = segment done.
  videos/<video_id>/video.mp4       the assembled long video (H.264), once every segment is done
  eval/<evaluator>@<version>/<video_id>/
      clip-0003.jsonl               score rows of one clip (evaluators that score clips independently)
      video.jsonl                   every row of an evaluator that needs the whole video in order
                                    (e.g. colour_consistency); either file's presence = that work done
  samples.jsonl                     every score row of the run (rebuilt by `evaluate`)
  results.json                      aggregates (see longvgenbench.results)
  .replaced/<timestamp>/            what `--overwrite always` moved aside (never deleted)
```

Every file is written atomically and belongs to one piece of work (a segment, a clip of one
evaluator, a whole video of one evaluator), so several ranks can share a run directory on a
shared file system: each writes only its own files, and rank 0 alone writes ``run.json``,
``samples.jsonl`` and ``results.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvgenbench.errors import OutputDirError
from longvgenbench.provenance import sha256_file

RUN_FORMAT = "longvgenbench-run"
RUN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SegmentRecord:
    """What ``NNNN.json`` says about a finished segment."""

    index: int
    frames: int
    video_sha256: str
    state_sha256: str
    seconds: float
    peak_memory_mb: float
    conform: dict[str, Any]


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.jsonl"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    def video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / video_id

    def segment_dir(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "segments"

    def segment_video(self, video_id: str, index: int) -> Path:
        return self.segment_dir(video_id) / f"{index:04d}.mkv"

    def segment_state(self, video_id: str, index: int) -> Path:
        return self.segment_dir(video_id) / f"{index:04d}.state.npz"

    def segment_record_path(self, video_id: str, index: int) -> Path:
        return self.segment_dir(video_id) / f"{index:04d}.json"

    def assembled_video(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "video.mp4"

    def eval_dir(self, evaluator: str, version: str, video_id: str) -> Path:
        return self.root / "eval" / f"{evaluator}@{version}" / video_id

    def clip_rows(self, evaluator: str, version: str, video_id: str, clip_index: int) -> Path:
        """Rows of one clip, keyed by content (evaluator, video, clip), never by the rank that wrote them."""
        return self.eval_dir(evaluator, version, video_id) / f"clip-{clip_index:04d}.jsonl"

    def video_rows(self, evaluator: str, version: str, video_id: str) -> Path:
        """All rows of an evaluator that saw the whole video in one pass (clip- and video-level)."""
        return self.eval_dir(evaluator, version, video_id) / "video.jsonl"

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest.exists():
            return None
        try:
            data = json.loads(self.manifest.read_text())
        except json.JSONDecodeError as exc:
            raise OutputDirError(f"{self.manifest}: not valid JSON ({exc}); is this a longvgenbench run?") from exc
        if data.get("format") != RUN_FORMAT:
            raise OutputDirError(f"{self.manifest}: not a longvgenbench run directory")
        return data

    def read_segment(self, video_id: str, index: int, verify: bool = True) -> SegmentRecord | None:
        """The record of a finished segment, or None if it is missing or its files do not match it."""
        path = self.segment_record_path(video_id, index)
        if not path.exists():
            return None
        try:
            record = SegmentRecord(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            return None
        video, state = self.segment_video(video_id, index), self.segment_state(video_id, index)
        if not (video.exists() and state.exists()):
            return None
        if verify and (sha256_file(video) != record.video_sha256 or sha256_file(state) != record.state_sha256):
            return None
        return record

    def finished_segments(self, video_id: str, num_segments: int, verify: bool = True) -> int:
        """How many leading segments of a video are finished and intact."""
        for index in range(num_segments):
            if self.read_segment(video_id, index, verify=verify) is None:
                return index
        return num_segments

    def has_generations(self) -> bool:
        return any((self.root / "videos").glob("*/segments/*.json"))
