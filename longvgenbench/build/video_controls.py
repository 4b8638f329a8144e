"""Stage 2 of a build, per kept video: depth over the whole video, then per clip tracks, render, camera, caption.

Order and why:
1. depth runs over the **whole** video first (the protocol normalises with p5/p95 of every value
   of every frame): raw disparity-like values go to ``depth_raw.npy`` (float16, T x H x W on the
   grid, memory-mapped so a long video never sits in RAM), percentiles over a regular 1/16
   subsample (every 4th row and column, like the synthetic split);
2. per 81-frame clip: the normalised depth video (near = black), tracks for a regular grid of
   query points on the clip's frame 0 (re-tracked per clip, as upstream does), their
   DiffusionAsShader-style render, camera poses, a caption.

Track render colours: R = x / W, G = y / H of the frame-0 position; B = the frame-0 disparity of
the point normalised by its percentiles 2-98 over the clip's points (near = 1), drawn far to near.
Without depth (``--depth none``) B is 0 for every point and points are drawn in grid order.
The video's ``video.json`` is written last: it marks the video done for a resumed build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from longvgenbench.atomic import atomic_path, write_npz
from longvgenbench.build.camera import assumed_intrinsics
from longvgenbench.build.cutting import Stretch
from longvgenbench.build.estimator_api import (
    CameraEstimator,
    CaptionEstimator,
    DepthEstimator,
    EstimatorChoice,
    TrackEstimator,
)
from longvgenbench.build.flow_tracker import sample_bilinear
from longvgenbench.build.sources import SourceVideo
from longvgenbench.controls import Tracks, normalise_depth_global
from longvgenbench.records import Grid
from longvgenbench.splits.store import ClipEntry, VideoEntry, VideoLayout, write_video_entry
from longvgenbench.synthetic.tracks import ClipTracks, query_grid, render_tracks
from longvgenbench.video_io import iter_frames, read_frames, write_video

PERCENTILE_STEP = 4
RAW_DEPTH = "depth_raw.npy"


@dataclass(frozen=True)
class ControlSettings:
    """Which estimators make the controls (None = that control is not made)."""

    grid: Grid = field(default_factory=Grid)
    depth: EstimatorChoice | None = None
    tracks: EstimatorChoice | None = None
    camera: EstimatorChoice | None = None
    captions: EstimatorChoice | None = None
    track_grid: tuple[int, int] = (50, 50)

    def choices(self) -> list[EstimatorChoice]:
        return [c for c in (self.depth, self.tracks, self.camera, self.captions) if c is not None]


@dataclass
class Estimators:
    """The instantiated estimators of a build (one set per process)."""

    depth: DepthEstimator | None = None
    tracks: TrackEstimator | None = None
    camera: CameraEstimator | None = None
    captions: CaptionEstimator | None = None

    @classmethod
    def create(cls, settings: ControlSettings) -> Estimators:
        return cls(*(None if c is None else c.create()
                     for c in (settings.depth, settings.tracks, settings.camera, settings.captions)))

    def all(self) -> list:
        return [e for e in (self.depth, self.tracks, self.camera, self.captions) if e is not None]


@dataclass
class VideoStats:
    """What stage 2 measured for one video (the build report shows it)."""

    video_id: str
    clips: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"depth": 0.0, "tracks": 0.0, "camera": 0.0,
                                                                "captions": 0.0, "encode": 0.0, "decode": 0.0})
    camera_held_frames: int = 0
    empty_captions: int = 0


class _Clock:
    def __init__(self, stats: VideoStats, key: str) -> None:
        self.stats, self.key = stats, key

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.stats.seconds[self.key] += time.perf_counter() - self.t0


def _resize_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    if depth.shape == (height, width):
        return depth
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)


def estimate_video_depth(estimator: DepthEstimator, ground_truth: Path, target: Path, num_frames: int, grid: Grid,
                         stats: VideoStats) -> tuple[np.ndarray, float, float]:
    """Run ``estimator`` over every frame; write disparity-like float16 to ``target``; return it (memmap) + p5/p95."""
    with atomic_path(target, suffix=".npy") as tmp:
        raw = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(num_frames, grid.height, grid.width))
        chunk: list[np.ndarray] = []
        start = 0

        def flush() -> None:
            nonlocal start
            with _Clock(stats, "depth"):
                out = np.asarray(estimator.estimate(np.stack(chunk), start), dtype=np.float32)
                if out.shape[0] != len(chunk):
                    raise ValueError(f"depth estimator {estimator.name!r} returned {out.shape[0]} frames for "
                                     f"{len(chunk)}")
                for i, frame in enumerate(out):
                    frame = _resize_depth(frame, grid.height, grid.width)
                    if estimator.output == "depth":
                        frame = 1.0 / np.maximum(frame, 1e-6)
                    raw[start + i] = frame
            start += len(chunk)
            chunk.clear()

        frames = iter_frames(ground_truth, 0, num_frames)
        while True:
            with _Clock(stats, "decode"):
                frame = next(frames, None)
            if frame is None:
                break
            chunk.append(frame)
            if len(chunk) == estimator.chunk_frames:
                flush()
        if chunk:
            flush()
        raw.flush()
        sub = np.asarray(raw[:, ::PERCENTILE_STEP, ::PERCENTILE_STEP], dtype=np.float32)
    if not np.isfinite(sub).all():
        raise ValueError(f"depth estimator {estimator.name!r} produced NaN/inf values for {ground_truth}")
    p5, p95 = (float(v) for v in np.percentile(sub, [5, 95]))
    if not p95 > p5:  # a flat scene: any positive span keeps the normalisation defined
        p95 = p5 + 1e-6
    return np.load(target, mmap_mode="r"), p5, p95


def track_render_colours(queries: np.ndarray, disparity0: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """R = x / W, G = y / H; B = frame-0 disparity normalised by percentiles 2-98 (near = 1), or 0 without depth."""
    if disparity0 is None:
        blue = np.zeros(len(queries))
    else:
        d = sample_bilinear(disparity0[:, :, None].astype(np.float64), queries)[:, 0]
        lo, hi = np.percentile(d, [2, 98])
        blue = np.clip((d - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    rgb = np.stack([np.clip((queries[:, 0] + 0.5) / width, 0, 1), np.clip((queries[:, 1] + 0.5) / height, 0, 1),
                    blue], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def render_clip_tracks(tracks: Tracks, queries: np.ndarray, disparity: np.ndarray | None, height: int,
                       width: int) -> list[np.ndarray]:
    """The protocol's track render of one clip (uses the synthetic split's renderer)."""
    colours = track_render_colours(queries, None if disparity is None else disparity[0], height, width)
    num = tracks.xy.shape[1]
    if disparity is None:
        order_key = np.zeros((len(queries), num), np.float32)
    else:  # draw far to near: the renderer draws larger keys first, so the key is minus the disparity
        order_key = np.stack([-sample_bilinear(disparity[t][:, :, None].astype(np.float64), tracks.xy[:, t])[:, 0]
                              for t in range(num)], axis=1).astype(np.float32)
    clip = ClipTracks(xy=tracks.xy, visible=tracks.visible, depth=order_key, colours=colours)
    return list(render_tracks(clip, height, width))


def grey_frames(norm: np.ndarray):
    for frame in norm:
        grey = np.round(frame * 255.0).astype(np.uint8)
        yield np.repeat(grey[:, :, None], 3, axis=2)


def make_video_controls(root: Path, stretch: Stretch, source: SourceVideo, settings: ControlSettings,
                        estimators: Estimators) -> VideoStats:
    """Write every control of one video and its ``video.json`` (the done-marker)."""
    grid, layout = settings.grid, VideoLayout(stretch.video_id)
    stats = VideoStats(stretch.video_id)
    ground_truth = root / layout.ground_truth
    starts = grid.clip_starts(stretch.num_frames)
    raw, p5, p95 = None, None, None
    if estimators.depth is not None:
        raw, p5, p95 = estimate_video_depth(estimators.depth, ground_truth, root / layout.folder / RAW_DEPTH,
                                            stretch.num_frames, grid, stats)
    rows, cols = settings.track_grid
    qx, qy = query_grid(grid.height, grid.width, rows, cols)
    queries = np.stack([qx, qy], axis=1)
    intrinsics = None
    if estimators.camera is not None:
        make_k = getattr(estimators.camera, "intrinsics", None)
        intrinsics = make_k(grid.height, grid.width) if callable(make_k) else \
            assumed_intrinsics(grid.height, grid.width, 60.0)
    clips = []
    for index, start in enumerate(starts):
        stop = start + grid.clip_frames
        with _Clock(stats, "decode"):
            frames = read_frames(ground_truth, start, stop)
        disparity = None if raw is None else np.asarray(raw[start:stop], dtype=np.float32)
        entry = {"depth_video": "", "track_video": "", "tracks": "", "camera": ""}
        norm = None
        if disparity is not None:
            norm = normalise_depth_global(disparity, p5, p95)
            with _Clock(stats, "encode"):
                write_video(root / layout.clip_file(index, "depth.mp4"), grey_frames(norm), grid.fps)
            entry["depth_video"] = layout.clip_file(index, "depth.mp4")
        tracks = None
        if estimators.tracks is not None:
            with _Clock(stats, "tracks"):
                tracks = estimators.tracks.track(frames, queries, norm)
                render = render_clip_tracks(tracks, queries, disparity, grid.height, grid.width)
            with _Clock(stats, "encode"):
                write_npz(root / layout.clip_file(index, "tracks.npz"), {"xy": tracks.xy, "visible": tracks.visible})
                write_video(root / layout.clip_file(index, "track.mp4"), render, grid.fps)
            entry["tracks"], entry["track_video"] = layout.clip_file(index, "tracks.npz"), \
                layout.clip_file(index, "track.mp4")
        if estimators.camera is not None and tracks is not None:
            with _Clock(stats, "camera"):
                poses = estimators.camera.estimate(tracks, disparity, intrinsics)
                stats.camera_held_frames += int(getattr(estimators.camera, "held_frames", 0))
            write_npz(root / layout.clip_file(index, "camera.npz"),
                      {"intrinsics": intrinsics, "world_to_camera": poses})
            entry["camera"] = layout.clip_file(index, "camera.npz")
        caption = ""
        if estimators.captions is not None:
            with _Clock(stats, "captions"):
                caption = estimators.captions.caption(frames, stretch.video_id, index)
        stats.empty_captions += int(not caption)
        clips.append(ClipEntry(clip_index=index, start=start, num_frames=grid.clip_frames, caption=caption, **entry))
    stats.clips = len(clips)
    write_video_entry(root, VideoEntry(
        video_id=stretch.video_id, category=source.category, fps=grid.fps, height=grid.height, width=grid.width,
        num_frames=stretch.num_frames, ground_truth=layout.ground_truth, first_frame=layout.first_frame,
        depth_p5=p5, depth_p95=p95, clips=tuple(clips)))
    stats.seconds = {k: round(v, 3) for k, v in stats.seconds.items()}
    return stats
