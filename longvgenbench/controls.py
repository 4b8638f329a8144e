"""Loading and validating a segment's controls (depth, tracks, camera) from their files.

Formats (shared by the synthetic split, the builder, the folder source and every model):
- depth: a grey video, globally normalised over the whole long video, near = black (0),
  far = white (1): d_norm = (p95 - clip(d, p5, p95)) / (p95 - p5) on disparity-like d.
- tracks: ``.npz`` with ``xy`` float32 (N, T, 2) pixel coordinates (x right, y down) on the
  grid's size and ``visible`` bool (N, T); the query frame is frame 0 of the segment.
- camera: ``.npz`` with ``intrinsics`` (3, 3) and ``world_to_camera`` (T, 4, 4), OpenCV axes
  (x right, y down, z forward).
Bad values (NaN, out of range, wrong shapes) raise :class:`ControlError` naming the file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvgenbench.errors import ControlError
from longvgenbench.video_io import read_frames, read_gray


@dataclass(frozen=True, eq=False)
class Tracks:
    """Point tracks of one segment: N points over T frames, queried on frame 0."""

    xy: np.ndarray  # float32 (N, T, 2)
    visible: np.ndarray  # bool (N, T)


@dataclass(frozen=True, eq=False)
class Camera:
    """Pinhole camera of one segment, OpenCV axes."""

    intrinsics: np.ndarray  # float64 (3, 3)
    world_to_camera: np.ndarray  # float64 (T, 4, 4)


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.exists():
        raise ControlError(path, "file does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise ControlError(path, f"missing arrays {missing}; has {sorted(data.files)}")
            return {k: data[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ControlError(path, f"not a readable .npz file: {exc}") from exc


def validate_depth(path: Path, depth: np.ndarray, expected_frames: int | None = None) -> np.ndarray:
    if depth.ndim != 3:
        raise ControlError(path, f"depth must be (T, H, W), got shape {depth.shape}")
    if expected_frames is not None and depth.shape[0] != expected_frames:
        raise ControlError(path, f"depth has {depth.shape[0]} frames, the segment has {expected_frames}")
    if not np.isfinite(depth).all():
        raise ControlError(path, f"depth contains {int((~np.isfinite(depth)).sum())} NaN/inf values")
    if depth.min() < 0.0 or depth.max() > 1.0:
        raise ControlError(path, f"depth must lie in [0, 1], got [{depth.min():.4g}, {depth.max():.4g}]")
    return depth


def load_depth(path: Path, expected_frames: int | None = None) -> np.ndarray:
    """Globally normalised depth as float32 (T, H, W) in [0, 1], near = 0."""
    path = Path(path)
    if path.suffix == ".npy":  # raw float arrays are accepted too (already normalised)
        try:
            depth = np.load(path, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise ControlError(path, f"not a readable .npy file: {exc}") from exc
    else:
        depth = read_gray(path)
    return validate_depth(path, depth, expected_frames)


def load_track_video(path: Path, expected_frames: int | None = None) -> np.ndarray:
    """The track render as uint8 (T, H, W, 3)."""
    frames = read_frames(Path(path))
    if expected_frames is not None and frames.shape[0] != expected_frames:
        raise ControlError(path, f"track video has {frames.shape[0]} frames, the segment has {expected_frames}")
    return frames


def load_tracks(path: Path, expected_frames: int | None = None) -> Tracks:
    path = Path(path)
    data = _load_npz(path, ("xy", "visible"))
    xy, visible = data["xy"].astype(np.float32), data["visible"].astype(bool)
    if xy.ndim != 3 or xy.shape[2] != 2 or visible.shape != xy.shape[:2]:
        raise ControlError(path, f"tracks need xy (N, T, 2) and visible (N, T); got {xy.shape} and {visible.shape}")
    if expected_frames is not None and xy.shape[1] != expected_frames:
        raise ControlError(path, f"tracks span {xy.shape[1]} frames, the segment has {expected_frames}")
    if not np.isfinite(xy).all():
        raise ControlError(path, f"track coordinates contain {int((~np.isfinite(xy)).sum())} NaN/inf values")
    return Tracks(xy=xy, visible=visible)


def load_camera(path: Path, expected_frames: int | None = None) -> Camera:
    path = Path(path)
    data = _load_npz(path, ("intrinsics", "world_to_camera"))
    k, poses = data["intrinsics"].astype(np.float64), data["world_to_camera"].astype(np.float64)
    if k.shape != (3, 3) or poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ControlError(path, f"camera needs intrinsics (3, 3) and world_to_camera (T, 4, 4); got {k.shape}, "
                                 f"{poses.shape}")
    if expected_frames is not None and poses.shape[0] != expected_frames:
        raise ControlError(path, f"camera has {poses.shape[0]} poses, the segment has {expected_frames}")
    if not (np.isfinite(k).all() and np.isfinite(poses).all()):
        raise ControlError(path, "camera contains NaN/inf values")
    return Camera(intrinsics=k, world_to_camera=poses)


def normalise_depth_global(raw: np.ndarray, p5: float, p95: float) -> np.ndarray:
    """The protocol's global normalisation of disparity-like ``raw`` (bigger = nearer): near -> 0.

    ``p5`` and ``p95`` are percentiles 5 and 95 of all values of all frames of the whole video.
    """
    if not p95 > p5:
        raise ValueError(f"need p95 > p5, got p5={p5}, p95={p95}")
    return ((p95 - np.clip(raw, p5, p95)) / (p95 - p5)).astype(np.float32)
