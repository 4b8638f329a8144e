"""The fixture videos of the VBench parity harness: small, deterministic, and decoded bit-exactly by both sides.

Every fixture is computed from a fixed seed with numpy alone, so the frames our evaluators are fed
in the fast tests are the same arrays the live harness writes to disk for VBench. The files are
RGB H.264 at qp 0 (``libx264rgb``, lossless) in ``.mp4`` because VBench only reads ``.mp4`` through
decord; the harness records the sha256 of the frames VBench actually decoded next to its scores,
and the parity test checks those hashes against :func:`frames_sha256` of the arrays made here, so a
decoder that changed a single pixel would fail loudly instead of blurring the comparison.

The set covers what the VBench dimensions are sensitive to: several sizes (upscaled and downscaled
to 224, landscape and portrait, sizes that are not multiples of the patch size), several frame rates
(dynamic degree samples by fps), several lengths, one static video and one fast-moving video.

Run ``python tests/parity/fixtures.py OUT_DIR`` to write them.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Fixture:
    """One fixture video: its file stem, frame rate and how its frames are made."""

    name: str
    fps: float
    num_frames: int
    height: int
    width: int
    kind: str  # "static" | "pan" | "fast" | "alternate" | "fade"
    seed: int

    def frames(self) -> np.ndarray:
        """The uint8 (T, H, W, 3) frames, identical on every call and machine."""
        return _MAKERS[self.kind](self)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colourful float texture in [0, 255]: a few random sinusoids per channel plus blobs."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.zeros((height, width, 3))
    for channel in range(3):
        for _ in range(4):
            fy, fx = rng.uniform(-0.08, 0.08, size=2)
            phase = rng.uniform(0, 2 * np.pi)
            out[..., channel] += np.sin(fy * yy + fx * xx + phase)
    out = (out - out.min()) / (np.ptp(out) + 1e-9) * 200 + 20
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.05, 0.2) * min(height, width)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        out[mask] = rng.uniform(0, 255, size=3)
    return out


def _static(f: Fixture) -> np.ndarray:
    frame = _texture(np.random.default_rng(f.seed), f.height, f.width).round().astype(np.uint8)
    return np.repeat(frame[None], f.num_frames, axis=0)


def _pan(f: Fixture) -> np.ndarray:
    """A slow camera pan over a texture twice as wide, one pixel step per frame and a slight zoom drift."""
    rng = np.random.default_rng(f.seed)
    big = _texture(rng, f.height, f.width * 2)
    frames = [big[:, t * 2 : t * 2 + f.width] for t in range(f.num_frames)]
    return np.stack(frames).round().clip(0, 255).astype(np.uint8)


def _fast(f: Fixture) -> np.ndarray:
    """Large bright shapes that jump across the frame every frame over a changing background."""
    rng = np.random.default_rng(f.seed)
    base = _texture(rng, f.height, f.width)
    yy, xx = np.mgrid[0 : f.height, 0 : f.width]
    frames = []
    for t in range(f.num_frames):
        frame = np.roll(base, shift=(7 * t, 13 * t), axis=(0, 1)).copy()
        for _ in range(5):
            cy, cx = rng.uniform(0, f.height), rng.uniform(0, f.width)
            half = rng.uniform(0.1, 0.3) * min(f.height, f.width)
            mask = (np.abs(yy - cy) < half) & (np.abs(xx - cx) < half)
            frame[mask] = rng.uniform(0, 255, size=3)
        frames.append(frame)
    return np.stack(frames).round().clip(0, 255).astype(np.uint8)


def _alternate(f: Fixture) -> np.ndarray:
    """Two unrelated images, alternating every frame (the worst case for the consistency dimensions)."""
    rng = np.random.default_rng(f.seed)
    a = _texture(rng, f.height, f.width).round().astype(np.uint8)
    b = _texture(rng, f.height, f.width).round().astype(np.uint8)
    return np.stack([a if t % 2 == 0 else b for t in range(f.num_frames)])


def _fade(f: Fixture) -> np.ndarray:
    """A cross-fade from one image to another with a little noise (slow drift away from frame 0)."""
    rng = np.random.default_rng(f.seed)
    a, b = _texture(rng, f.height, f.width), _texture(rng, f.height, f.width)
    frames = []
    for t in range(f.num_frames):
        alpha = t / max(1, f.num_frames - 1)
        frames.append((1 - alpha) * a + alpha * b + rng.normal(0, 3, size=a.shape))
    return np.stack(frames).round().clip(0, 255).astype(np.uint8)


_MAKERS: dict[str, Callable[[Fixture], np.ndarray]] = {
    "static": _static, "pan": _pan, "fast": _fast, "alternate": _alternate, "fade": _fade,
}

FIXTURES: tuple[Fixture, ...] = (
    Fixture("static_64x112_16fps", 16.0, 10, 64, 112, "static", 1),
    Fixture("pan_96x160_16fps", 16.0, 17, 96, 160, "pan", 2),
    Fixture("fast_120x80_24fps", 24.0, 13, 120, 80, "fast", 3),
    Fixture("alternate_72x128_8fps", 8.0, 9, 72, 128, "alternate", 4),
    Fixture("fade_480x832_16fps", 16.0, 7, 480, 832, "fade", 5),
    Fixture("fast_250x338_30fps", 30.0, 25, 250, 338, "fast", 6),
)


def fixture(name: str) -> Fixture:
    for item in FIXTURES:
        if item.name == name:
            return item
    raise KeyError(f"no fixture {name!r}; there are {[f.name for f in FIXTURES]}")


def frames_sha256(frames: np.ndarray) -> str:
    """sha256 of uint8 (T, H, W, 3) frames in C order, prefixed by the shape (what goldens record)."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    digest = hashlib.sha256(repr(tuple(frames.shape)).encode())
    digest.update(frames.tobytes())
    return digest.hexdigest()


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Lossless RGB H.264 (qp 0) in .mp4: decoded back to exactly ``frames`` by FFmpeg-based readers."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264rgb", rate=rate)
        stream.pix_fmt = "rgb24"
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.options = {"qp": "0", "preset": "veryfast", "threads": "1", "x264-params": "bframes=0:mbtree=0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_fixtures(out_dir: Path) -> dict[str, Path]:
    """Write every fixture as ``<name>.mp4`` into ``out_dir``; returns name -> path."""
    return {f.name: write_mp4(Path(out_dir) / f"{f.name}.mp4", f.frames(), f.fps) for f in FIXTURES}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/parity/fixtures.py OUT_DIR")
    for name, written in write_fixtures(Path(sys.argv[1])).items():
        print(name, written)
