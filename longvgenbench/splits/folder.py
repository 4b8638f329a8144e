"""A user's own folder in upstream LongVie's inference layout, read as a split (nothing is written to it).

Upstream (Vchitect/LongVie, ``inference.py`` and ``example/*``) runs one long video from:
- a first image (``--image_path``; the examples call it ``first.png``);
- ``cond.json``: a list, one entry per 81-frame clip, of ``{"text": caption, "depth": depth mp4,
  "track": track mp4}``, optionally with ``"video"``: the ground-truth clip (as in the examples'
  ``recon.json``).
A folder holding ``cond.json`` is one video; a folder whose subfolders hold one each is one
video per subfolder (sorted by name). Paths in ``cond.json`` are resolved as given if absolute,
else relative to the folder, else by file name inside the folder (upstream's examples write
paths relative to the repository root, e.g. ``./example/valley/depth_00.mp4``).

Clip k is mapped to ground-truth frames [80k, 80k + 81). Limitations: the records have no field
for per-clip ground truth, so ``VideoSample.ground_truth`` is None (evaluators that need ground
truth skip such videos; the per-clip ``video`` files are still validated); the category is
unknown. The split's hash is the sha256 over the sha256 of every file the folder uses.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2

from longvgenbench.controls import load_depth
from longvgenbench.errors import ControlError, SplitError, VideoError
from longvgenbench.records import Category, Grid, Segment, SegmentControls, Split, VideoSample
from longvgenbench.splits.store import sha256_file
from longvgenbench.video_io import iter_frames, probe

COND_JSON = "cond.json"
FIRST_IMAGE_NAMES = ("first.png", "first.jpg", "first.jpeg", "first_frame.png")
UNKNOWN_CATEGORY = Category(domain="user", setting="unknown", lighting="unknown")


def _video_folders(root: Path) -> list[Path]:
    if (root / COND_JSON).is_file():
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and (d / COND_JSON).is_file())


def is_longvie_folder(path: Path) -> bool:
    """Whether ``path`` holds ``cond.json`` or has subfolders that do."""
    return Path(path).is_dir() and bool(_video_folders(Path(path)))


def _resolve(folder: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise SplitError(f"{folder / COND_JSON}: {what} must be a non-empty path string, got {value!r}")
    given = Path(value).expanduser()
    direct = given if given.is_absolute() else folder / given
    for candidate in (direct, folder / given.name):
        if candidate.is_file():
            return candidate.resolve()
    raise SplitError(f"{folder / COND_JSON}: {what} {value!r} not found (looked for {direct} and "
                     f"{folder / given.name})")


def _first_image(folder: Path) -> Path:
    for name in FIRST_IMAGE_NAMES:
        if (folder / name).is_file():
            return (folder / name).resolve()
    raise SplitError(f"{folder}: no first image (looked for {', '.join(FIRST_IMAGE_NAMES)})")


def _check_video(path: Path, grid: Grid, size: tuple[int, int], verify: bool) -> None:
    """81 frames of the first image's size; with ``verify`` every frame is decoded and counted."""
    try:
        if path.suffix == ".npy":
            depth = load_depth(path, expected_frames=grid.clip_frames)  # also rejects NaN and values off [0, 1]
            height, width = depth.shape[1:]
        else:
            info = probe(path)
            height, width = info.height, info.width
            frames = sum(1 for _ in iter_frames(path)) if verify else info.num_frames
            if frames != grid.clip_frames:
                raise SplitError(f"{path}: {frames} frames, a LongVie clip has {grid.clip_frames}")
    except (VideoError, ControlError) as exc:
        raise SplitError(str(exc)) from exc
    if (height, width) != size:
        raise SplitError(f"{path}: size {width}x{height} differs from the first image's {size[1]}x{size[0]}")


def _read_cond(folder: Path) -> list[dict[str, Any]]:
    path = folder / COND_JSON
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SplitError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise SplitError(f"{path}: expected a non-empty list of {{text, depth, track}} objects")
    for k, entry in enumerate(entries):
        missing = [key for key in ("text", "depth", "track") if key not in entry]
        if missing:
            raise SplitError(f"{path}: clip {k} lacks {missing}")
        if not isinstance(entry["text"], str):
            raise SplitError(f"{path}: clip {k} text must be a string")
    return entries


def _read_video(folder: Path, split_name: str, grid: Grid, verify: bool, used: dict[str, Path]) -> VideoSample:
    first = _first_image(folder)
    image = cv2.imread(str(first), cv2.IMREAD_COLOR)
    if image is None:
        raise SplitError(f"{first}: not a readable image")
    size = (int(image.shape[0]), int(image.shape[1]))
    used[f"{folder.name}/{first.name}"] = first
    used[f"{folder.name}/{COND_JSON}"] = folder / COND_JSON
    segments = []
    for k, entry in enumerate(_read_cond(folder)):
        depth = _resolve(folder, entry["depth"], f"clip {k} depth")
        track = _resolve(folder, entry["track"], f"clip {k} track")
        checks = [depth, track]
        if entry.get("video"):
            checks.append(_resolve(folder, entry["video"], f"clip {k} video"))
        for path in checks:
            _check_video(path, grid, size, verify)
            used[f"{folder.name}/clip{k:03d}/{path.name}"] = path
        segments.append(Segment(index=k, start=k * grid.stride, num_frames=grid.clip_frames, caption=entry["text"],
                                controls=SegmentControls(depth_video=depth, track_video=track)))
    return VideoSample(video_id=folder.name, split=split_name, category=UNKNOWN_CATEGORY, fps=grid.fps,
                       height=size[0], width=size[1], num_frames=grid.frames_for_clips(len(segments)),
                       first_frame=first, segments=tuple(segments), ground_truth=None)


def read_longvie_folder(path: Path | str, verify: bool = True) -> Split:
    """A split from a LongVie-layout folder (see the module doc). Raises :class:`SplitError` on bad input."""
    root = Path(path).expanduser().resolve()
    folders = _video_folders(root) if root.is_dir() else []
    if not folders:
        raise SplitError(f"{root}: not a LongVie folder (no {COND_JSON} in it or in its subfolders)")
    used: dict[str, Path] = {}
    base = Grid()
    samples = tuple(_read_video(f, root.name, base, verify, used) for f in folders)
    sizes = {(s.height, s.width) for s in samples}
    if len(sizes) != 1:
        raise SplitError(f"{root}: videos of different sizes {sorted(sizes)}; a split has one grid size")
    (height, width), = sizes
    digest = hashlib.sha256()
    for name in sorted(used):
        digest.update(f"{name}\t{sha256_file(used[name])}\n".encode())
    return Split(name=root.name, root=root, grid=Grid(height=height, width=width), manifest_sha256=digest.hexdigest(),
                 samples=samples)

