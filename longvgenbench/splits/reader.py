"""Reading a split directory (see ``store.py`` for the layout) into a :class:`~longvgenbench.records.Split`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from longvgenbench.errors import SplitError
from longvgenbench.records import Category, Grid, Segment, SegmentControls, Split, VideoSample
from longvgenbench.splits.store import (
    DATASET_COLUMNS,
    DATASET_DIR,
    MANIFEST_JSON,
    read_header,
    read_json_file,
    sha256_file,
    verify_manifest,
)


def _load_rows(root: Path) -> list[dict[str, Any]]:
    import datasets

    folder = root / DATASET_DIR
    if not folder.is_dir():
        raise SplitError(f"{root}: missing {DATASET_DIR}/ (the split's table of clips)")
    try:
        table = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise SplitError(f"{folder}: not a readable Hugging Face dataset ({exc})") from exc
    if not isinstance(table, datasets.Dataset):
        raise SplitError(f"{folder}: expected one Dataset, found {type(table).__name__}")
    absent = [c for c in DATASET_COLUMNS if c not in table.column_names]
    if absent:
        raise SplitError(f"{folder}: missing columns {absent}")
    return table.to_list()


def _samples(root: Path, name: str, grid: Grid, rows: Iterable[dict[str, Any]]) -> tuple[VideoSample, ...]:
    by_video: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_video.setdefault(row["video_id"], []).append(row)

    def path(rel: str) -> Path | None:
        return (root / rel) if rel else None

    samples = []
    for video_id, clips in by_video.items():
        clips = sorted(clips, key=lambda r: r["clip_index"])
        segments = []
        for expected_index, row in enumerate(clips):
            if row["clip_index"] != expected_index or row["start"] != expected_index * grid.stride \
                    or row["num_frames"] != grid.clip_frames:
                raise SplitError(f"{root}: video {video_id!r} clip {row['clip_index']} is off the grid (start "
                                 f"{row['start']}, {row['num_frames']} frames; the grid has clips of "
                                 f"{grid.clip_frames} frames every {grid.stride})")
            controls = SegmentControls(depth_video=path(row["depth_video"]), track_video=path(row["track_video"]),
                                       tracks=path(row["tracks"]), camera=path(row["camera"]))
            segments.append(Segment(index=row["clip_index"], start=row["start"], num_frames=row["num_frames"],
                                    caption=row["caption"], controls=controls))
        first = clips[0]
        sample = VideoSample(
            video_id=video_id, split=name,
            category=Category(domain=first["domain"], setting=first["setting"], lighting=first["lighting"]),
            fps=float(first["fps"]), height=int(first["height"]), width=int(first["width"]),
            num_frames=int(first["video_num_frames"]), first_frame=root / first["first_frame"],
            segments=tuple(segments), ground_truth=path(first["ground_truth"]))
        if sample.num_frames < sample.covered_frames:
            raise SplitError(f"{root}: video {video_id!r} has {sample.num_frames} frames but its clips span "
                             f"{sample.covered_frames}")
        samples.append(sample)
    return tuple(samples)


def read_split(path: Path | str, verify: bool = True) -> Split:
    """Load a split directory; with ``verify`` every file's sha256 is checked against the manifest.

    Without ``verify`` the files are only checked to exist. Paths in the records are absolute.
    Raises :class:`SplitError` naming what is missing, malformed or changed.
    """
    root = Path(path).expanduser().resolve()
    header = read_header(root)
    manifest_path = root / MANIFEST_JSON
    if not manifest_path.is_file():
        raise SplitError(f"{root}: unfinished split (no {MANIFEST_JSON}; was `make` interrupted?): run the same "
                         f"make again to finish it")
    manifest = read_json_file(manifest_path, MANIFEST_JSON)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise SplitError(f"{manifest_path}: malformed manifest (expected {{'files': {{relpath: sha256}}}})")
    verify_manifest(root, files, check_hashes=verify)
    grid = Grid(**header["grid"])
    samples = _samples(root, str(header["name"]), grid, _load_rows(root))
    for sample in samples:
        referenced = [sample.first_frame, sample.ground_truth]
        referenced += [f for s in sample.segments for f in s.controls.files()]
        unlisted = [p for p in referenced if p is not None and p.relative_to(root).as_posix() not in files]
        if unlisted:
            raise SplitError(f"{root}: files referenced by the dataset are not in the manifest: "
                             f"{[str(p.relative_to(root)) for p in unlisted[:10]]}")
    if len(samples) != header.get("num_videos", len(samples)):
        raise SplitError(f"{root}: split.json says {header.get('num_videos')} videos, the dataset has {len(samples)}")
    return Split(name=str(header["name"]), root=root, grid=grid, manifest_sha256=sha256_file(manifest_path),
                 samples=samples)
