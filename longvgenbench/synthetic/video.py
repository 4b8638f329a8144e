"""One synthetic long video with all of its controls, written into a split directory.

Order of work (one pass of rendering, memory bounded by a float16 depth cube):
1. plan the camera and the scene from the video's seed;
2. render every frame: RGB goes straight into the ground-truth encoder, metric depth is kept as
   float16 (0.77 GB for 960 frames at 480x832), per-primitive pixel counts feed the captions;
3. global depth normalisation: p5/p95 of disparity 1/z over the whole video (every 4th row and
   column of every frame: 1/16 of the pixels, enough for two percentiles);
4. per clip: camera.npz, exact tracks + their render, the normalised depth video, a caption.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from longvgenbench.atomic import write_bytes, write_npz
from longvgenbench.controls import normalise_depth_global
from longvgenbench.records import Category, Grid
from longvgenbench.splits.store import ClipEntry, VideoEntry, VideoLayout, write_video_entry
from longvgenbench.synthetic.camera_path import CameraTrajectory
from longvgenbench.synthetic.captions import clip_caption
from longvgenbench.synthetic.raycast import render_frame
from longvgenbench.synthetic.scene import Scene, build_scene
from longvgenbench.synthetic.tracks import compute_tracks, render_tracks
from longvgenbench.video_io import VideoWriter

PERCENTILE_STEP = 4  # depth percentiles use every 4th row and column of every frame


@dataclass(frozen=True)
class VideoSpec:
    """What to render: everything that, with the generator version, determines the files' bytes."""

    video_id: str
    entropy: tuple[int, ...]  # seeds numpy's generator, e.g. (split seed, video index)
    setting: str  # indoor | outdoor
    lighting: str  # day | night
    num_frames: int
    grid: Grid
    track_grid: tuple[int, int] = (50, 50)


class _Timer:
    """Accumulates wall-clock seconds over every ``with`` block."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> _Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t0


@dataclass
class StageTimes:
    """Wall-clock seconds per stage, disjoint (the benchmark prints them)."""

    plan: float = 0.0  # scene and camera path
    render: float = 0.0  # ray casting of RGB + metric depth
    depth_normalisation: float = 0.0  # percentiles + normalised grey frames
    tracks: float = 0.0  # exact tracks + their render
    encode: float = 0.0  # H.264 encoding of every video, PNG, npz
    other: float = 0.0  # captions, camera files

    def total(self) -> float:
        return self.plan + self.render + self.depth_normalisation + self.tracks + self.encode + self.other


@dataclass(frozen=True, eq=False)
class RenderedFrames:
    """What rendering leaves in memory for the control stages."""

    depth: np.ndarray  # float16 (T, H, W) camera z in metres
    coverage: np.ndarray  # int64 (T, NP) pixels per primitive per frame
    offsets: np.ndarray  # float64 (T, NP, 3) object translations

    @classmethod
    def allocate(cls, scene: Scene, num_frames: int, fps: float, height: int, width: int) -> RenderedFrames:
        return cls(depth=np.empty((num_frames, height, width), np.float16),
                   coverage=np.zeros((num_frames, scene.num_primitives), np.int64),
                   offsets=scene.offsets(np.arange(num_frames) / fps))


def iter_render(scene: Scene, trajectory: CameraTrajectory, out: RenderedFrames, progress: bool = False
                ) -> Iterator[np.ndarray]:
    """Render every frame, yielding its RGB (a reused buffer) and filling ``out``'s depth and coverage."""
    num, height, width = out.depth.shape
    k = trajectory.intrinsics
    intr = np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]])
    materials, light = scene.materials(), scene.lighting.pack()
    background = np.array(scene.background_params, dtype=np.float64)
    positions = trajectory.positions
    rgb = np.empty((height, width, 3), np.uint8)
    depth32 = np.empty((height, width), np.float32)
    for t in tqdm(range(num), desc="render", disable=not progress, leave=False):
        arrays = scene.frame_arrays(out.offsets[t])
        render_frame(np.ascontiguousarray(trajectory.world_to_camera[t, :3, :3].T), positions[t], intr,
                     scene.background, background, arrays.boxes, arrays.spheres, materials, out.offsets[t], light,
                     scene.lighting.lamp_array(positions[t]), rgb, depth32, out.coverage[t])
        out.depth[t] = depth32
        yield rgb


def depth_percentiles(depth: np.ndarray) -> tuple[float, float]:
    """p5 and p95 of disparity 1/z over the whole video (a regular 1/16 subsample of the pixels)."""
    sub = depth[:, ::PERCENTILE_STEP, ::PERCENTILE_STEP].astype(np.float32)
    p5, p95 = np.percentile(1.0 / sub, [5, 95])
    if not p95 > p5:  # a flat wall filling every frame: any positive span keeps the maths defined
        p95 = p5 + 1e-6
    return float(p5), float(p95)


def depth_to_grey(depth_z: np.ndarray, p5: float, p95: float) -> np.ndarray:
    """One frame of camera z -> the stored grey frame (H, W, 3) uint8, near = black."""
    norm = normalise_depth_global(1.0 / depth_z.astype(np.float32), p5, p95)
    grey = np.round(norm * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _png(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def _write_timed(path: Path, frames: Iterator[np.ndarray], fps: float, stage: _Timer, encode: _Timer,
                 on_frame: Callable[[int, np.ndarray], None] | None = None) -> None:
    """Encode ``frames`` to ``path``; time spent producing frames goes to ``stage``, encoding to ``encode``."""
    with VideoWriter(path, fps) as writer:
        index = 0
        while True:
            with stage:
                frame = next(frames, None)
            if frame is None:
                break
            if on_frame is not None:
                on_frame(index, frame)
            with encode:
                writer.write(frame)
            index += 1
        closing = time.perf_counter()
    encode.seconds += time.perf_counter() - closing


def render_video(spec: VideoSpec, root: Path, progress: bool = False) -> tuple[VideoEntry, StageTimes]:
    """Render ``spec`` into ``root`` (a split directory) and mark it done; returns its record and timings."""
    grid, layout = spec.grid, VideoLayout(spec.video_id)
    height, width, fps = grid.height, grid.width, grid.fps
    starts = grid.clip_starts(spec.num_frames)
    if not starts:
        raise ValueError(f"{spec.num_frames} frames hold no {grid.clip_frames}-frame clip")
    plan, render, depth_time, track_time, encode, other = (_Timer() for _ in range(6))

    with plan:
        rng = np.random.default_rng(list(spec.entropy))
        scene, trajectory = build_scene(rng, spec.setting, spec.lighting, spec.num_frames, fps, height, width)
        frames = RenderedFrames.allocate(scene, spec.num_frames, fps, height, width)
    first: list[np.ndarray] = []
    _write_timed(root / layout.ground_truth, iter_render(scene, trajectory, frames, progress), fps, render, encode,
                 lambda i, rgb: first.append(rgb.copy()) if i == 0 else None)
    with encode:
        write_bytes(root / layout.first_frame, _png(first[0]))
    with depth_time:
        p5, p95 = depth_percentiles(frames.depth)

    clips = []
    for index, start in enumerate(starts):
        stop = start + grid.clip_frames
        with other:
            write_npz(root / layout.clip_file(index, "camera.npz"),
                      {"intrinsics": trajectory.intrinsics, "world_to_camera": trajectory.world_to_camera[start:stop]})
            caption = clip_caption(scene, trajectory, frames.coverage, start, stop, fps)
        with track_time:
            tracks = compute_tracks(scene, trajectory, frames.offsets, start, stop, height, width, spec.track_grid)
        with encode:
            write_npz(root / layout.clip_file(index, "tracks.npz"), {"xy": tracks.xy, "visible": tracks.visible})
        _write_timed(root / layout.clip_file(index, "track.mp4"), render_tracks(tracks, height, width), fps,
                     track_time, encode)
        greys = (depth_to_grey(frames.depth[t], p5, p95) for t in range(start, stop))
        _write_timed(root / layout.clip_file(index, "depth.mp4"), greys, fps, depth_time, encode)
        clips.append(ClipEntry(clip_index=index, start=start, num_frames=grid.clip_frames, caption=caption,
                               depth_video=layout.clip_file(index, "depth.mp4"),
                               track_video=layout.clip_file(index, "track.mp4"),
                               tracks=layout.clip_file(index, "tracks.npz"),
                               camera=layout.clip_file(index, "camera.npz")))
    entry = VideoEntry(video_id=spec.video_id, category=Category("synthetic", spec.setting, spec.lighting), fps=fps,
                       height=height, width=width, num_frames=spec.num_frames, ground_truth=layout.ground_truth,
                       first_frame=layout.first_frame, depth_p5=p5, depth_p95=p95, clips=tuple(clips))
    write_video_entry(root, entry)
    times = StageTimes(plan=plan.seconds, render=render.seconds, depth_normalisation=depth_time.seconds,
                       tracks=track_time.seconds, encode=encode.seconds, other=other.seconds)
    return entry, times
