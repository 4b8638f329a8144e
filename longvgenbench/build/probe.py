"""Probe a source video and decode it upright, with presentation timestamps.

Real footage is messy: phones store portrait video as landscape frames plus a rotation in the
display matrix, screen recordings have variable frame rates, some files are audio-only, empty or
cut off. This module turns each into either a stream of upright frames with their times in
seconds (so later stages resample by *time*, never by frame index) or a :class:`RejectedSource`
that says in one line why the file cannot be used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from longvgenbench.errors import LongVGenBenchError

MIN_SIDE = 16  # pixels: smaller frames carry nothing a 480x832 grid could use


class RejectedSource(LongVGenBenchError):
    """A source video that cannot be used; ``reason`` is what the build report shows."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class SourceProbe:
    """What the container says (sizes are as *displayed*, i.e. after rotation)."""

    path: Path
    width: int
    height: int
    rotation: int  # counter-clockwise degrees of the display matrix (0, 90, 180, 270)
    fps: float  # average rate from the header (0.0 when unknown)
    duration: float | None  # seconds, None when the header does not say
    codec: str
    has_audio: bool

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    def to_json(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "rotation": self.rotation, "fps": self.fps,
                "duration": self.duration, "codec": self.codec, "has_audio": self.has_audio}


@dataclass(frozen=True, eq=False)
class TimedFrame:
    """One decoded frame: its index in the file, its time from the first frame, and the frame itself
    (a PyAV frame, converted to RGB only when a stage needs the pixels: most source frames are not
    sampled onto the 16 fps grid)."""

    index: int
    time: float
    frame: av.VideoFrame
    rotation: int

    def rgb(self) -> np.ndarray:
        return upright(self.frame.to_ndarray(format="rgb24"), self.rotation)

    def small_bgr(self, width: int) -> np.ndarray:
        """A downscaled BGR copy for shot detection (orientation does not matter there)."""
        scale = min(1.0, width / self.frame.width)
        w = max(2, int(round(self.frame.width * scale)) // 2 * 2)
        h = max(2, int(round(self.frame.height * scale)) // 2 * 2)
        return self.frame.reformat(width=w, height=h, format="bgr24", interpolation="AREA").to_ndarray()

    def grid_rgb(self, height: int, width: int) -> np.ndarray:
        """The upright frame center-cropped to ``height`` x ``width``'s aspect and resized to it.

        Scaling first (in FFmpeg's swscale, straight from YUV, area filter when shrinking) and cropping
        after is the same geometry as crop-then-resize and ~6x cheaper than converting the full-size
        frame to RGB and resizing it with OpenCV (measured on 1080p).
        """
        turned = (self.rotation // 90) % 2 == 1
        src_w, src_h = (self.frame.height, self.frame.width) if turned else (self.frame.width, self.frame.height)
        scale = max(width / src_w, height / src_h)
        scaled_w, scaled_h = max(width, int(round(src_w * scale))), max(height, int(round(src_h * scale)))
        out_w, out_h = (scaled_h, scaled_w) if turned else (scaled_w, scaled_h)
        interpolation = "AREA" if scale < 1.0 else "BILINEAR"
        rgb = upright(self.frame.reformat(width=out_w, height=out_h, format="rgb24",
                                          interpolation=interpolation).to_ndarray(), self.rotation)
        y0, x0 = (scaled_h - height) // 2, (scaled_w - width) // 2
        return np.ascontiguousarray(rgb[y0:y0 + height, x0:x0 + width])


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display matrix: a counter-clockwise ``rotation`` of 90 means turn the pixels 90 degrees
    counter-clockwise (``np.rot90`` k=1); -90/270 (phones' portrait) turns them clockwise."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=k)) if k else frame


def _rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame | None) -> int:
    value = 0.0
    if first is not None:
        value = float(getattr(first, "rotation", 0) or 0)
    if not value:
        tag = stream.metadata.get("rotate")  # older muxers wrote a tag instead of a matrix
        if tag:
            try:
                value = -float(tag)  # the tag is clockwise
            except ValueError:
                value = 0.0
    snapped = int(round(value / 90.0)) * 90 % 360
    if abs(((value % 360) - snapped + 180) % 360 - 180) > 1.0:
        raise RejectedSource(stream.container.name, f"rotation of {value:g} degrees is not a multiple of 90")
    return snapped


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise RejectedSource(path, "file does not exist")
    if path.stat().st_size == 0:
        raise RejectedSource(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except av.error.EOFError as exc:
        raise RejectedSource(path, "unreadable: the file ends before its first frame (0 frames, or truncated)") \
            from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise RejectedSource(path, f"unreadable: not a video container, or corrupt or truncated ({exc})") from exc
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        what = "audio-only" if "audio" in kinds else f"streams: {', '.join(kinds) or 'none'}"
        raise RejectedSource(path, f"has no video stream ({what})")
    return container


def probe_source(path: Path | str) -> SourceProbe:
    """Header facts plus the rotation of the first frame; rejects unusable files with their reason."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.error.FFmpegError as exc:
            raise RejectedSource(path, f"the first frame cannot be decoded (corrupt?): {exc}") from exc
        if first is None:
            raise RejectedSource(path, "contains no decodable frames (0 frames)")
        rotation = _rotation(stream, first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        if min(width, height) < MIN_SIDE:
            raise RejectedSource(path, f"frames of {width}x{height} are too small (need at least {MIN_SIDE} px)")
        rate = stream.average_rate or stream.guessed_rate
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1e6
        return SourceProbe(path=path, width=width, height=height, rotation=rotation,
                           fps=float(rate) if rate else 0.0, duration=duration, codec=stream.codec_context.name,
                           has_audio=bool(container.streams.audio))
    finally:
        container.close()


def iter_timed_frames(probe: SourceProbe) -> Iterator[TimedFrame]:
    """Every frame in presentation order with its time (seconds after the first frame).

    Times come from the timestamps, so variable frame rate is honoured; frames whose timestamp
    does not advance (duplicates some muxers emit) are skipped. A decoding error mid-file raises
    :class:`RejectedSource` naming the frame it happened at.
    """
    container = _open(probe.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fallback = 1.0 / probe.fps if probe.fps > 0 else 1.0 / 30.0
        origin: float | None = None
        last = -math.inf
        index = 0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.pts is not None and frame.time is not None else None
                if t is None:
                    t = (origin or 0.0) + index * fallback if origin is not None else 0.0
                if origin is None:
                    origin = t
                rel = float(t) - origin
                if rel <= last + 1e-9:
                    continue
                last = rel
                yield TimedFrame(index=index, time=rel, frame=frame, rotation=probe.rotation)
                index += 1
        except av.error.FFmpegError as exc:
            raise RejectedSource(probe.path, f"decoding failed after {index} frames (corrupt data?): {exc}") from exc
    finally:
        container.close()
