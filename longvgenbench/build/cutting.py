"""Stage 1 of a build, per source video, in ONE decoding pass: shots, 16 fps grid, crop, cut, encode.

Why one pass: decoding minute-long 1080p H.264 is the most expensive CPU step, so every frame is
decoded once and feeds both the shot detector (a small BGR copy) and the grid resampler.

- Shots: PySceneDetect's ``ContentDetector`` (threshold 35 as in VBench-Long, configurable) on
  frames downscaled to 256 px wide, the size PySceneDetect's own auto-downscale picks.
- Grid: output frame k shows the instant k / 16 s; it takes the latest source frame shown at that
  instant (sample-and-hold by *timestamp*, so variable frame rate is honoured and no frame is
  invented), then center-crop + resize to the grid (480x832).
- The detector may report a cut a few frames late (its flash filter), so grid frames wait in a
  short queue (``lag`` source frames) before they are committed to a shot's encoder. A cut that
  arrives later than that (only after a long flashing stretch) moves the boundary to the commit
  point and is named in the report's warnings.
- Every single-shot stretch of at least ``min_seconds`` (and one full clip) becomes one video of
  the split (``<source_id>-shotNNN``); with ``max_seconds`` a long shot is cut into several
  videos (``-shotNNN-pM``). Shorter stretches are deleted and listed in the report.
"""

from __future__ import annotations

import bisect
import math
import shutil
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from scenedetect import ContentDetector
from scenedetect.common import FrameTimecode

from longvgenbench.atomic import write_bytes
from longvgenbench.build.probe import RejectedSource, TimedFrame, iter_timed_frames, probe_source
from longvgenbench.build.sources import SourceVideo
from longvgenbench.records import Grid
from longvgenbench.splits.store import VideoLayout
from longvgenbench.video_io import H264, VideoWriter

DETECT_WIDTH = 256
MIN_SCENE_FRAMES = 15  # PySceneDetect's default minimum scene length (source frames)
# The protocol's H.264 settings, with two x264 threads: encoding is the largest single cost of stage 1
# and otherwise runs on one core. x264's output is deterministic for a fixed thread count, so a resumed
# build still writes the same bytes.
GROUND_TRUTH_ENCODING = replace(H264, threads=2)


@dataclass(frozen=True)
class CutSettings:
    """Everything that decides which videos a source gives (part of the build's identity)."""

    grid: Grid = field(default_factory=Grid)
    threshold: float = 35.0
    min_seconds: float = 60.0
    max_seconds: float | None = None
    portrait: str = "reject"  # "reject" | "crop"
    min_scene_frames: int = MIN_SCENE_FRAMES

    @property
    def min_frames(self) -> int:
        return max(self.grid.clip_frames, int(math.ceil(self.min_seconds * self.grid.fps - 1e-9)))

    @property
    def max_frames(self) -> int | None:
        return None if self.max_seconds is None else int(math.floor(self.max_seconds * self.grid.fps + 1e-9))

    @property
    def lag(self) -> int:
        return 2 * self.min_scene_frames + 2


@dataclass(frozen=True)
class Stretch:
    """One kept single-shot stretch: a video of the split (its ground truth is already written)."""

    video_id: str
    shot_index: int
    part: int
    num_frames: int  # on the grid
    source_start: float  # seconds into the source (first frame shown)
    source_stop: float  # seconds into the source (end of the last grid frame)


@dataclass(frozen=True)
class DroppedStretch:
    shot_index: int
    part: int
    num_frames: int
    reason: str


@dataclass(frozen=True)
class SourceOutcome:
    """What stage 1 did with one source: kept stretches, dropped ones, or a rejection with its reason."""

    source: SourceVideo
    status: str  # "ok" | "rejected"
    reason: str = ""
    warnings: tuple[str, ...] = ()
    probe: dict[str, object] = field(default_factory=dict)
    source_frames: int = 0
    cut_frames: tuple[int, ...] = ()  # source frame index of the first frame of every new shot
    variable_frame_rate: bool = False
    stretches: tuple[Stretch, ...] = ()
    dropped: tuple[DroppedStretch, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["source"] = self.source.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict) -> SourceOutcome:
        from longvgenbench.records import Category

        src = dict(data["source"])
        source = SourceVideo(source_id=src["source_id"], path=Path(src["path"]),
                             category=Category(src["domain"], src["setting"], src["lighting"]),
                             licence=src["licence"], url=src["url"])
        return cls(source=source, status=data["status"], reason=data["reason"], warnings=tuple(data["warnings"]),
                   probe=dict(data["probe"]), source_frames=data["source_frames"],
                   cut_frames=tuple(data["cut_frames"]), variable_frame_rate=data["variable_frame_rate"],
                   stretches=tuple(Stretch(**s) for s in data["stretches"]),
                   dropped=tuple(DroppedStretch(**d) for d in data["dropped"]), seconds=data["seconds"])


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


class _StretchWriter:
    """Encodes the grid frames of the current stretch straight into ``videos/<id>/ground_truth.mp4``."""

    def __init__(self, root: Path, video_id: str, shot: int, part: int, fps: float, start: float) -> None:
        self.root, self.video_id, self.shot, self.part, self.start = root, video_id, shot, part, start
        self.layout = VideoLayout(video_id)
        folder = root / self.layout.folder
        if folder.exists():  # leftovers of a killed build of this source: this pass rewrites them
            shutil.rmtree(folder)
        self.writer = VideoWriter(root / self.layout.ground_truth, fps, GROUND_TRUTH_ENCODING)
        self.frames = 0
        self.first: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        if self.first is None:
            self.first = frame.copy()
        self.writer.write(frame)
        self.frames += 1

    def finish(self, keep: bool) -> None:
        if keep:
            self.writer.close()
            write_bytes(self.root / self.layout.first_frame, png_bytes(self.first))
        else:
            self.writer.__exit__(RuntimeError, RuntimeError("dropped"), None)
            shutil.rmtree(self.root / self.layout.folder, ignore_errors=True)


class _Cutter:
    """State of the single pass over one source (see the module docstring)."""

    def __init__(self, source: SourceVideo, settings: CutSettings, root: Path) -> None:
        self.source, self.settings, self.root = source, settings, root
        self.grid = settings.grid
        self.cuts: list[int] = []
        self.committed_source = -1
        self.warnings: list[str] = []
        self.current: _StretchWriter | None = None
        self.current_shot = -1
        self.part = 0
        self.kept: list[Stretch] = []
        self.dropped: list[DroppedStretch] = []
        self.pending: deque[tuple[int, int, float, np.ndarray]] = deque()  # (grid k, source index, time, rgb)

    def video_id(self, shot: int, part: int) -> str:
        base = f"{self.source.source_id}-shot{shot:03d}"
        return base if self.settings.max_seconds is None else f"{base}-p{part}"

    def add_cut(self, frame_index: int) -> None:
        if frame_index <= self.committed_source:
            self.warnings.append(f"a cut at source frame {frame_index} was reported after frame "
                                 f"{self.committed_source} had been committed; the boundary moved there")
        bisect.insort(self.cuts, frame_index)

    def commit_until(self, source_index: int | None) -> None:
        while self.pending and (source_index is None or self.pending[0][1] <= source_index):
            _k, src, t, rgb = self.pending.popleft()
            shot = bisect.bisect_right(self.cuts, src)
            limit = self.settings.max_frames
            if self.current is None or shot != self.current_shot:
                self._close()
                self.part = 0
                self._open(shot, t)
            elif limit is not None and self.current.frames >= limit:
                self._close()
                self.part += 1
                self._open(shot, t)
            self.current.write(rgb)
            self.committed_source = max(self.committed_source, src)
            self.last_time = t + 1.0 / self.grid.fps

    def _open(self, shot: int, t: float) -> None:
        self.current_shot = shot
        self.current = _StretchWriter(self.root, self.video_id(shot, self.part), shot, self.part, self.grid.fps, t)

    def _close(self) -> None:
        cur = self.current
        if cur is None:
            return
        keep = cur.frames >= self.settings.min_frames
        cur.finish(keep)
        if keep:
            self.kept.append(Stretch(cur.video_id, cur.shot, cur.part, cur.frames, round(cur.start, 6),
                                     round(self.last_time, 6)))
        else:
            need = self.settings.min_frames
            self.dropped.append(DroppedStretch(cur.shot, cur.part, cur.frames,
                                               f"{cur.frames / self.grid.fps:.2f} s on the grid < the minimum "
                                               f"{need / self.grid.fps:.2f} s ({need} frames)"))
        self.current = None


def cut_source(source: SourceVideo, settings: CutSettings, root: Path) -> SourceOutcome:
    """Run stage 1 for ``source``; never raises for a bad file: a rejection is an outcome."""
    started = time.perf_counter()
    try:
        return _cut(source, settings, root, started)
    except RejectedSource as exc:
        return SourceOutcome(source=source, status="rejected", reason=exc.reason,
                             seconds=round(time.perf_counter() - started, 3))


def _cut(source: SourceVideo, settings: CutSettings, root: Path, started: float) -> SourceOutcome:
    grid = settings.grid
    probe = probe_source(source.path)
    warnings: list[str] = []
    if probe.duration is not None and probe.duration + 1.0 / grid.fps < settings.min_frames / grid.fps:
        raise RejectedSource(source.path, f"too short: {probe.duration:.2f} s, need at least "
                                          f"{settings.min_frames / grid.fps:.2f} s of one shot")
    if probe.portrait:
        kept = probe.width * grid.height / grid.width / probe.height
        if settings.portrait != "crop":
            raise RejectedSource(source.path, f"portrait video ({probe.width}x{probe.height}): the center crop to "
                                              f"{grid.width}x{grid.height} would keep {kept:.0%} of each frame; "
                                              f"pass --portrait crop to accept it")
        warnings.append(f"portrait {probe.width}x{probe.height}: center crop keeps {kept:.0%} of each frame")
    if probe.width < grid.width or probe.height < grid.height:
        warnings.append(f"{probe.width}x{probe.height} is smaller than the grid ({grid.width}x{grid.height}): "
                        f"frames are upscaled")
    if probe.rotation:
        warnings.append(f"rotation {probe.rotation} degrees in the display matrix: frames turned upright")
    if 0 < probe.fps < grid.fps:
        warnings.append(f"{probe.fps:g} fps < {grid.fps:g} fps: source frames are shown more than once")

    state = _Cutter(source, settings, root)
    state.last_time = 0.0
    detector = ContentDetector(threshold=settings.threshold, min_scene_len=settings.min_scene_frames)
    rate = probe.fps if probe.fps > 0 else 30.0
    next_grid = 0
    prev: TimedFrame | None = None
    prev_rgb: np.ndarray | None = None
    deltas: list[float] = []

    def emit_until(limit: float) -> None:
        nonlocal next_grid, prev_rgb
        while next_grid / grid.fps < limit - 1e-6:
            if prev_rgb is None:
                prev_rgb = prev.grid_rgb(grid.height, grid.width)
            state.pending.append((next_grid, prev.index, next_grid / grid.fps, prev_rgb))
            next_grid += 1

    for tf in iter_timed_frames(probe):
        if prev is not None:
            deltas.append(tf.time - prev.time)
            emit_until(tf.time)
        for cut in detector.process_frame(FrameTimecode(tf.index, rate), tf.small_bgr(DETECT_WIDTH)):
            state.add_cut(int(cut.frame_num))
        state.commit_until(tf.index - settings.lag)
        prev, prev_rgb = tf, None
    if prev is None:
        raise RejectedSource(source.path, "contains no decodable frames (0 frames)")
    step = float(np.median(deltas)) if deltas else 1.0 / rate
    if prev.frame.duration and prev.frame.time_base:
        step = float(prev.frame.duration * prev.frame.time_base) or step
    emit_until(prev.time + step)
    for cut in detector.post_process(FrameTimecode(prev.index, rate)):
        state.add_cut(int(cut.frame_num))
    state.commit_until(None)
    state._close()
    warnings += state.warnings
    vfr = bool(deltas) and (max(deltas) - min(deltas)) > 0.1 * float(np.median(deltas))
    if vfr:
        warnings.append(f"variable frame rate (frame intervals {min(deltas) * 1000:.1f}-{max(deltas) * 1000:.1f} ms):"
                        f" resampled by timestamps")
    status, reason = "ok", ""
    if not state.kept:
        longest = max((d.num_frames for d in state.dropped), default=0)
        status = "rejected"
        reason = (f"no single-shot stretch of at least {settings.min_frames / grid.fps:.2f} s (longest: "
                  f"{longest / grid.fps:.2f} s over {len(state.cuts) + 1} shot(s), {prev.index + 1} source frames)")
    return SourceOutcome(source=source, status=status, reason=reason, warnings=tuple(warnings),
                         probe=probe.to_json(), source_frames=prev.index + 1, cut_frames=tuple(state.cuts),
                         variable_frame_rate=vfr, stretches=tuple(state.kept), dropped=tuple(state.dropped),
                         seconds=round(time.perf_counter() - started, 3))
