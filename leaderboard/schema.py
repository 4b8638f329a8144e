"""What travels to the leaderboard: a submission document, and the split definitions it is checked against.

A submission is one run's ``results.json`` and ``samples.jsonl`` (plus, optionally, the sha256
of every generated video), packed into one JSON document so that a directory drop, an HTTP
upload and a CI check all read the same bytes. Parsing is JSON only: no pickle, no code, and
NaN/Infinity are refused at the tokenizer. The server never sees the split's videos, only a
small :class:`SplitDefinition` (video ids, categories, clip counts, grid) per registered
manifest sha256, which is all that validation and re-aggregation need.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from longvgenbench.errors import LongVGenBenchError
from longvgenbench.records import Category, Grid, Segment, Split, VideoSample

SUBMISSION_FORMAT = "longvgenbench-submission"
SUBMISSION_FORMAT_VERSION = 1
SPLIT_DEFINITION_FORMAT = "longvgenbench-split-definition"


class SubmissionFormatError(LongVGenBenchError):
    """A submission document or split definition is not readable (not JSON, wrong format, too big)."""


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def strict_json(text: str | bytes, what: str) -> Any:
    """Parse JSON, refusing NaN and Infinity (``json`` accepts them by default)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SubmissionFormatError(f"{what}: not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class VideoDefinition:
    video_id: str
    category: Category
    num_clips: int


@dataclass(frozen=True)
class SplitDefinition:
    """The parts of a split the leaderboard needs: which videos, their categories and clip counts."""

    name: str
    manifest_sha256: str
    grid: Grid
    videos: tuple[VideoDefinition, ...]

    @staticmethod
    def from_split(split: Split) -> SplitDefinition:
        return SplitDefinition(
            name=split.name, manifest_sha256=split.manifest_sha256, grid=split.grid,
            videos=tuple(VideoDefinition(s.video_id, s.category, len(s.segments)) for s in split.samples),
        )

    def to_json(self) -> dict[str, Any]:
        return {"format": SPLIT_DEFINITION_FORMAT, "name": self.name, "manifest_sha256": self.manifest_sha256,
                "grid": asdict(self.grid),
                "videos": [{"video_id": v.video_id, "category": v.category.as_dict(), "num_clips": v.num_clips}
                           for v in self.videos]}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> SplitDefinition:
        if not isinstance(data, Mapping) or data.get("format") != SPLIT_DEFINITION_FORMAT:
            raise SubmissionFormatError(f"not a split definition (format must be {SPLIT_DEFINITION_FORMAT!r})")
        try:
            return SplitDefinition(
                name=str(data["name"]), manifest_sha256=str(data["manifest_sha256"]), grid=Grid(**data["grid"]),
                videos=tuple(VideoDefinition(str(v["video_id"]), Category(**v["category"]), int(v["num_clips"]))
                             for v in data["videos"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SubmissionFormatError(f"malformed split definition: {exc}") from exc

    def as_split(self) -> Split:
        """A :class:`Split` without files (for :func:`longvgenbench.evaluation.aggregate.aggregate`).

        Only ids, categories, clip positions and the grid are real; there are no frames or captions
        behind it, which is all re-aggregation reads.
        """
        g = self.grid
        samples = tuple(
            VideoSample(
                video_id=v.video_id, split=self.name, category=v.category, fps=g.fps, height=g.height,
                width=g.width, num_frames=g.frames_for_clips(v.num_clips), first_frame=Path("/dev/null"),
                segments=tuple(Segment(index=k, start=k * g.stride, num_frames=g.clip_frames, caption="")
                               for k in range(v.num_clips)),
            )
            for v in self.videos
        )
        return Split(name=self.name, root=Path("/dev/null"), grid=g, manifest_sha256=self.manifest_sha256,
                     samples=samples)


@dataclass(frozen=True)
class SubmissionDocument:
    """The raw parts of a submission, before validation (text as received; nothing trusted yet)."""

    results_json: str
    samples_jsonl: str
    video_sha256: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": SUBMISSION_FORMAT, "format_version": SUBMISSION_FORMAT_VERSION,
                           "results": strict_json(self.results_json, "results.json"),
                           "samples_jsonl": self.samples_jsonl, "video_sha256": dict(self.video_sha256)},
                          sort_keys=True, allow_nan=False)

    def content_sha256(self) -> str:
        """Identity of a submission: the same files submitted twice are one entry."""
        digest = hashlib.sha256()
        for part in (self.results_json, self.samples_jsonl, json.dumps(dict(self.video_sha256), sort_keys=True)):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()


def parse_document(raw: str | bytes, max_bytes: int) -> SubmissionDocument:
    """A submission document (as written by ``longvgenbench submit``) from its bytes."""
    if len(raw) > max_bytes:
        raise SubmissionFormatError(f"submission is {len(raw)} bytes; the limit is {max_bytes}")
    data = strict_json(raw, "submission")
    if not isinstance(data, dict) or data.get("format") != SUBMISSION_FORMAT:
        raise SubmissionFormatError(f"not a submission document (field 'format' must be {SUBMISSION_FORMAT!r})")
    if data.get("format_version") != SUBMISSION_FORMAT_VERSION:
        raise SubmissionFormatError(f"submission format_version {data.get('format_version')!r} is not supported "
                                    f"(this server reads {SUBMISSION_FORMAT_VERSION})")
    results, samples, videos = data.get("results"), data.get("samples_jsonl"), data.get("video_sha256") or {}
    if not isinstance(results, dict):
        raise SubmissionFormatError("submission field 'results' must be the object from results.json")
    if not isinstance(samples, str):
        raise SubmissionFormatError("submission field 'samples_jsonl' must be the text of samples.jsonl")
    if not isinstance(videos, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in videos.items()):
        raise SubmissionFormatError("submission field 'video_sha256' must map video ids to sha256 strings")
    return SubmissionDocument(results_json=json.dumps(results, sort_keys=True), samples_jsonl=samples,
                              video_sha256=videos)


def document_from_run(run_dir: Path | str, include_video_hashes: bool = True) -> SubmissionDocument:
    """The submission of a run directory: results.json, samples.jsonl and the sha256 of each video.mp4."""
    from longvgenbench.provenance import sha256_file
    from longvgenbench.rundir import RunDir

    run = RunDir(Path(run_dir))
    for path in (run.results, run.samples):
        if not path.is_file():
            raise SubmissionFormatError(f"{path} is missing: run `longvgenbench evaluate {run.root}` first")
    results_text = run.results.read_text(encoding="utf-8")
    videos: dict[str, str] = {}
    if include_video_hashes:
        for video in sorted((run.root / "videos").glob("*/video.mp4")):
            videos[video.parent.name] = sha256_file(video)
    return SubmissionDocument(results_json=json.dumps(strict_json(results_text, str(run.results)), sort_keys=True),
                              samples_jsonl=run.samples.read_text(encoding="utf-8"), video_sha256=videos)
