"""Split directories on disk: the format every other part of the suite reads.

Layout::

    SPLIT/
      split.json      format, format_version, name, grid, source (params incl. seed), num_videos
      manifest.json   {"files": {relpath: sha256}} for every other file of the split
      dataset/        Hugging Face ``datasets`` Dataset (save_to_disk), one row per clip
      videos/<video_id>/ground_truth.mp4, first_frame.png, video.json,
                        clips/<k:03d>/{depth.mp4, track.mp4, tracks.npz, camera.npz}

Why this shape: a split is made video by video (minutes each), so every video lands in its own
folder and its ``video.json`` is written last, as the done-marker; a killed ``make`` keeps its
finished videos. ``dataset/`` and ``manifest.json`` are written only at the end, from the
``video.json`` files, so a split without a manifest is recognisably unfinished. The sha256 of the
manifest's bytes identifies the split's exact content in every result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from longvgenbench.atomic import write_json
from longvgenbench.errors import SplitError
from longvgenbench.records import Category, Grid

FORMAT = "longvgenbench-split"
FORMAT_VERSION = 1
SPLIT_JSON = "split.json"
MANIFEST_JSON = "manifest.json"
DATASET_DIR = "dataset"
VIDEO_JSON = "video.json"
_HASH_CHUNK = 1 << 22


@dataclass(frozen=True)
class ClipEntry:
    """One clip of a video; paths are relative to the split root, "" where a control is absent."""

    clip_index: int
    start: int
    num_frames: int
    caption: str
    depth_video: str = ""
    track_video: str = ""
    tracks: str = ""
    camera: str = ""


@dataclass(frozen=True)
class VideoEntry:
    """Everything the dataset says about one video (its ``video.json``)."""

    video_id: str
    category: Category
    fps: float
    height: int
    width: int
    num_frames: int
    ground_truth: str
    first_frame: str
    depth_p5: float | None
    depth_p95: float | None
    clips: tuple[ClipEntry, ...]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["category"] = self.category.as_dict()
        out["clips"] = [asdict(c) for c in self.clips]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoEntry:
        fields = dict(data)
        fields["category"] = Category(**fields["category"])
        fields["clips"] = tuple(ClipEntry(**c) for c in fields["clips"])
        return cls(**fields)


@dataclass(frozen=True)
class VideoLayout:
    """Relative paths of one video's files inside a split."""

    video_id: str

    @property
    def folder(self) -> str:
        return f"videos/{self.video_id}"

    @property
    def ground_truth(self) -> str:
        return f"{self.folder}/ground_truth.mp4"

    @property
    def first_frame(self) -> str:
        return f"{self.folder}/first_frame.png"

    @property
    def record(self) -> str:
        return f"{self.folder}/{VIDEO_JSON}"

    def clip_file(self, clip_index: int, name: str) -> str:
        """``name`` is one of depth.mp4, track.mp4, tracks.npz, camera.npz."""
        return f"{self.folder}/clips/{clip_index:03d}/{name}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def grid_to_json(grid: Grid) -> dict[str, Any]:
    return {"clip_frames": grid.clip_frames, "stride": grid.stride, "fps": grid.fps, "height": grid.height,
            "width": grid.width}


def split_header(name: str, grid: Grid, source: dict[str, Any], num_videos: int) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "grid": grid_to_json(grid),
            "source": source, "num_videos": num_videos}


def begin_split(root: Path, header: dict[str, Any]) -> None:
    """Create ``root`` for a new split, or check that the unfinished split in it was made with the same header.

    Refuses a directory that holds anything else, so ``make`` never writes over someone's files.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / SPLIT_JSON
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SplitError(f"{path}: unreadable split.json ({exc}); delete {root} to start over") from exc
        if existing != json.loads(json.dumps(header)):
            raise SplitError(f"{root} holds a split made with other parameters ({existing.get('source')}); "
                             f"use another directory or delete it")
        return
    if any(root.iterdir()):
        raise SplitError(f"{root} is not empty and is not a split; refusing to write into it")
    write_json(path, header)


def finished_videos(root: Path) -> set[str]:
    """Video ids whose folder holds its ``video.json`` (the done-marker)."""
    videos = root / "videos"
    if not videos.is_dir():
        return set()
    return {d.name for d in videos.iterdir() if (d / VIDEO_JSON).is_file()}


def write_video_entry(root: Path, entry: VideoEntry) -> None:
    """Mark a video done: call only after all of its files are written."""
    write_json(root / VideoLayout(entry.video_id).record, entry.to_json())


def read_video_entry(root: Path, video_id: str) -> VideoEntry:
    path = root / VideoLayout(video_id).record
    try:
        return VideoEntry.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SplitError(f"{path}: unreadable video record ({exc})") from exc


DATASET_COLUMNS = ("video_id", "clip_index", "start", "num_frames", "caption", "depth_video", "track_video", "tracks",
                   "camera", "ground_truth", "first_frame", "domain", "setting", "lighting", "fps", "height", "width",
                   "video_num_frames", "depth_p5", "depth_p95")


def dataset_rows(entries: list[VideoEntry]) -> dict[str, list[Any]]:
    """Column-wise rows (one per clip) in video then clip order."""
    rows: dict[str, list[Any]] = {c: [] for c in DATASET_COLUMNS}
    for entry in entries:
        for clip in entry.clips:
            values = {**asdict(clip), **entry.category.as_dict(), "video_id": entry.video_id,
                      "ground_truth": entry.ground_truth, "first_frame": entry.first_frame, "fps": entry.fps,
                      "height": entry.height, "width": entry.width, "video_num_frames": entry.num_frames,
                      "depth_p5": entry.depth_p5, "depth_p95": entry.depth_p95}
            for column in DATASET_COLUMNS:
                rows[column].append(values[column])
    return rows


def _save_dataset(root: Path, rows: dict[str, list[Any]]) -> None:
    """Write ``dataset/`` through a temporary folder and a rename, with a content-derived fingerprint."""
    import datasets

    features = datasets.Features({
        **{c: datasets.Value("string") for c in ("video_id", "caption", "depth_video", "track_video", "tracks",
                                                 "camera", "ground_truth", "first_frame", "domain", "setting",
                                                 "lighting")},
        **{c: datasets.Value("int64") for c in ("clip_index", "start", "num_frames", "height", "width",
                                                "video_num_frames")},
        **{c: datasets.Value("float64") for c in ("fps", "depth_p5", "depth_p95")},
    })
    table = datasets.Dataset.from_dict(rows, features=features).data
    fingerprint = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
    dataset = datasets.Dataset(table, fingerprint=fingerprint)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DATASET_DIR}.", dir=root))
    bars_were_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        dataset.save_to_disk(str(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if not bars_were_off:
            datasets.enable_progress_bars()
    target = root / DATASET_DIR
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _split_files(root: Path) -> list[str]:
    """Relative paths of every file of the split but the manifest, sorted; hidden files are skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            rel = Path(dirpath, name).relative_to(root).as_posix()
            if not name.startswith(".") and rel != MANIFEST_JSON:
                out.append(rel)
    return sorted(out)


def finish_split(root: Path, video_ids: list[str]) -> str:
    """Write ``dataset/`` and ``manifest.json`` once every video is done; returns the manifest's sha256."""
    missing = sorted(set(video_ids) - finished_videos(root))
    if missing:
        raise SplitError(f"{root}: videos not finished yet: {missing}")
    for leftover in (root / "videos").rglob(".*"):  # temp files of atomic writes killed mid-way
        if leftover.is_file():
            leftover.unlink()
    entries = [read_video_entry(root, v) for v in sorted(video_ids)]
    _save_dataset(root, dataset_rows(entries))
    manifest = {"files": {rel: sha256_file(root / rel) for rel in _split_files(root)}}
    write_json(root / MANIFEST_JSON, manifest)
    return sha256_file(root / MANIFEST_JSON)


def read_json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise SplitError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SplitError(f"{path}: malformed {what} ({exc})") from exc


def read_header(root: Path) -> dict[str, Any]:
    """The validated ``split.json`` of ``root``."""
    if not root.is_dir():
        raise SplitError(f"{root}: no such split directory")
    header = read_json_file(root / SPLIT_JSON, "split.json (is this a split directory?)")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SplitError(f"{root / SPLIT_JSON}: not a {FORMAT} file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SplitError(f"{root / SPLIT_JSON}: format_version {version!r} is not supported (this suite reads "
                         f"up to {FORMAT_VERSION}); upgrade longvgenbench")
    try:
        Grid(**header["grid"])
        str(header["name"])
    except (KeyError, TypeError) as exc:
        raise SplitError(f"{root / SPLIT_JSON}: malformed name or grid ({exc})") from exc
    return header


def verify_manifest(root: Path, files: dict[str, str], check_hashes: bool) -> None:
    """Every manifest file must exist and, with ``check_hashes``, match its sha256; else SplitError naming them."""
    missing, changed = [], []
    for rel, expected in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif check_hashes and sha256_file(path) != expected:
            changed.append(rel)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing file(s): {', '.join(missing[:10])}")
    if changed:
        problems.append(f"{len(changed)} file(s) whose sha256 differs from the manifest: {', '.join(changed[:10])}")
    if problems:
        raise SplitError(f"{root}: split does not match its manifest: " + "; ".join(problems))
