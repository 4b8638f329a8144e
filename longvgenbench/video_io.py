"""Video I/O on PyAV: streaming decode, H.264 / lossless encode, resampling, resize and crop.

Decoding streams frames one at a time (frame ranges seek to the nearest keyframe), so memory
does not grow with the length of a video unless a caller asks for a whole range as an array.
Every failure of a file (missing, empty, corrupt, truncated, no video stream) raises one
error type, :class:`~longvgenbench.errors.VideoError`, naming the file and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from longvgenbench.atomic import atomic_path
from longvgenbench.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its first video stream (``num_frames`` may be an estimate)."""

    path: Path
    num_frames: int
    fps: float
    height: int
    width: int
    codec: str


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"cannot be opened as a video (corrupt or truncated?): {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "has no video stream")
    return container


def probe(path: Path | str) -> VideoInfo:
    """Read the header only. ``num_frames`` falls back to duration x fps when the header lacks it."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0)
        if frames == 0 and fps:
            if stream.duration and stream.time_base:
                frames = int(round(float(stream.duration * stream.time_base) * fps))
            elif container.duration:  # Matroska keeps only the container's duration (microseconds)
                frames = int(round(container.duration / 1e6 * fps))
        return VideoInfo(path, frames, fps, stream.codec_context.height, stream.codec_context.width,
                         stream.codec_context.name)
    finally:
        container.close()


def iter_frames(path: Path | str, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames ``[start, stop)`` in decode order, one at a time.

    Raises :class:`VideoError` if the file ends before ``stop`` (truncated) or cannot be decoded.
    A ``start`` beyond 0 seeks to the keyframe before it and decodes forward from there.
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad frame range [{start}, {stop})")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        time_base = stream.time_base
        use_pts = bool(rate and time_base)
        if start > 0 and use_pts:
            # Seek a little before the target so rounding of timestamps can never skip it.
            target = int(math.floor((start - 0.5) / float(rate) / float(time_base)))
            container.seek(max(target, 0), stream=stream, backward=True, any_frame=False)
        index = 0
        produced = 0
        for frame in container.decode(stream):
            if use_pts and frame.pts is not None:
                index = int(round(float(frame.pts * time_base) * float(rate)))
            if index >= start and (stop is None or index < stop):
                yield frame.to_ndarray(format="rgb24")
                produced += 1
            index += 1
            if stop is not None and index >= stop and produced >= stop - start:
                return
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"decoding failed near frame {start + produced} (corrupt data?): {exc}") from exc
    finally:
        container.close()
    if stop is not None and produced < stop - start:
        raise VideoError(path, f"truncated: frames [{start}, {stop}) requested, only {produced} decoded")
    if produced == 0 and stop is None:
        raise VideoError(path, "contains no decodable frames")


def read_frames(path: Path | str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``[start, stop)`` as one uint8 array (T, H, W, 3). Prefer :func:`iter_frames` for long spans."""
    frames = list(iter_frames(path, start, stop))
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def read_gray(path: Path | str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """A grey video (e.g. a depth control) as float32 (T, H, W) in [0, 1]."""
    frames = read_frames(path, start, stop)
    return frames.mean(axis=-1, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class Encoding:
    """How a video is written. ``h264`` is the protocol's sharing format; ``lossless`` (FFV1
    in Matroska, RGB) keeps generated frames bit-exact for evaluation and resume."""

    codec: str = "h264"  # "h264" | "lossless"
    crf: int = 18
    preset: str = "veryfast"
    threads: int = 1  # fixed so the same frames always give the same bytes

    @property
    def suffix(self) -> str:
        return ".mp4" if self.codec == "h264" else ".mkv"


H264 = Encoding()
LOSSLESS = Encoding(codec="lossless")


def _owned_frame(frame: np.ndarray) -> av.VideoFrame:
    """Copy an RGB array into a frame whose buffer FFmpeg allocated and owns.

    ``VideoFrame.from_ndarray`` wraps the array's own memory instead, and encoders keep frames
    for look-ahead after the array may be freed (shown: identical frames gave different bytes).
    The other source of unequal bytes for equal frames was x264's mbtree (see ``_make_stream``).
    """
    height, width = frame.shape[:2]
    owned = av.VideoFrame(width, height, "rgb24")
    plane = owned.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)
    rows[:, : width * 3] = frame.reshape(height, width * 3)
    return owned


class VideoWriter:
    """Write frames to ``path`` atomically: the file appears only when :meth:`close` succeeds.

    Use as a context manager; an exception inside the block leaves no partial file behind.
    """

    def __init__(self, path: Path | str, fps: float, encoding: Encoding = H264) -> None:
        self.path = Path(path)
        self.fps = fps
        self.encoding = encoding
        self._ctx = atomic_path(self.path, suffix=encoding.suffix)
        self._tmp = self._ctx.__enter__()
        # bitexact: no muxer version strings or random ids, so equal frames give equal bytes.
        self._container = av.open(str(self._tmp), mode="w", options={"fflags": "+bitexact"})
        self._stream: av.video.stream.VideoStream | None = None
        self.frames_written = 0

    def _make_stream(self, height: int, width: int) -> av.video.stream.VideoStream:
        rate = Fraction(self.fps).limit_denominator(1001)
        if self.encoding.codec == "h264":
            if height % 2 or width % 2:
                raise VideoError(self.path, f"H.264 yuv420p needs even sizes, got {width}x{height}")
            stream = self._container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv420p"
            # mbtree=0 (and no B-frames): x264's macroblock-tree rate control reads uninitialised memory
            # at some frame sizes (e.g. 64x112, 128x224: the bytes change with MALLOC_PERTURB_ and now and
            # then from run to run), so equal frames gave different bytes. Without it they did not in
            # 90 repeated encodes; files grow ~1.5x at CRF 18, encoding is ~25% faster.
            stream.options = {"crf": str(self.encoding.crf), "preset": self.encoding.preset,
                              "threads": str(self.encoding.threads), "x264-params": "bframes=0:mbtree=0"}
        elif self.encoding.codec == "lossless":
            stream = self._container.add_stream("ffv1", rate=rate)
            stream.pix_fmt = "bgr0"
            stream.options = {"threads": str(self.encoding.threads), "slices": "4", "level": "3"}
        else:
            raise ValueError(f"unknown encoding {self.encoding.codec!r}")
        stream.height, stream.width = height, width
        stream.codec_context.time_base = 1 / rate
        return stream

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        if self._stream is None:
            self._stream = self._make_stream(frame.shape[0], frame.shape[1])
        elif (frame.shape[0], frame.shape[1]) != (self._stream.height, self._stream.width):
            raise ValueError(f"frame size {frame.shape[:2]} differs from the stream's "
                             f"{(self._stream.height, self._stream.width)}")
        video_frame = _owned_frame(frame).reformat(format=self._stream.pix_fmt)
        video_frame.pts = self.frames_written
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.write(frame)

    def close(self) -> None:
        if self._stream is None:
            self._abort()
            raise VideoError(self.path, "no frames were written")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._ctx.__exit__(None, None, None)

    def _abort(self) -> None:
        self._container.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()
            self._ctx.__exit__(exc_type, exc, tb)


def write_video(path: Path | str, frames: Iterable[np.ndarray], fps: float, encoding: Encoding = H264) -> Path:
    with VideoWriter(path, fps, encoding) as writer:
        writer.write_all(frames)
    return Path(path)


def resample_indices(num_src: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source frame index for each output frame when changing the rate from ``src_fps`` to ``dst_fps``.

    Output frame k shows the instant k / dst_fps; it takes the latest source frame shown at that
    instant (sample-and-hold, the way a player displays a video), so no frame is ever invented.
    """
    if num_src <= 0:
        return np.zeros(0, dtype=np.int64)
    duration = num_src / src_fps
    num_dst = max(1, int(math.floor(duration * dst_fps + 1e-9)))
    times = np.arange(num_dst) / dst_fps
    return np.minimum(np.floor(times * src_fps + 1e-6).astype(np.int64), num_src - 1)


def center_crop_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center-crop ``frame`` to the target aspect ratio, then resize (area filter when shrinking)."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    target = width / height
    if w / h > target:
        new_w = int(round(h * target))
        x0 = (w - new_w) // 2
        frame = frame[:, x0 : x0 + new_w]
    else:
        new_h = int(round(w / target))
        y0 = (h - new_h) // 2
        frame = frame[y0 : y0 + new_h]
    shrinking = frame.shape[0] > height
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize without cropping (aspect not kept), area filter when shrinking."""
    if frame.shape[:2] == (height, width):
        return frame
    shrinking = frame.shape[0] > height
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
