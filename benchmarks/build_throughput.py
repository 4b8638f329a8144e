"""Throughput of the split builder's CPU stages and of the flow tracker.

1. Makes a one-minute 1080p H.264 video with PyAV in a temporary folder (30 fps, a moving textured
   pattern, one shot), unless ``--video`` names one.
2. Times stage 1 of a build on it (decode, shot detection, 16 fps resampling, center crop + resize
   to 480x832, H.264 encoding of the ground truth): target at least 4x real time (under 15 s).
3. Times the flow tracker (OpenCV DIS, the default preset) on one 81-frame clip at 480x832:
   frames per second (each frame needs a forward and a backward flow).

Prints the figures and writes them as JSON (``--out``). Run:
    .venv/bin/python benchmarks/build_throughput.py --out benchmarks/build_throughput.json
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from longvgenbench.atomic import write_json
from longvgenbench.build.cutting import CutSettings, cut_source
from longvgenbench.build.flow_tracker import FlowTracker
from longvgenbench.build.sources import SourceVideo
from longvgenbench.records import Grid
from longvgenbench.synthetic.tracks import query_grid
from longvgenbench.video_io import read_frames


def make_video(path: Path, seconds: float = 60.0, fps: int = 30, height: int = 1080, width: int = 1920) -> Path:
    """A single-shot textured pattern panning slowly, encoded like typical footage (x264 medium-ish)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (height // 8 + 64, width // 8 + 64, 3), dtype=np.uint8)
    import cv2

    texture = cv2.resize(cv2.GaussianBlur(texture, (5, 5), 0), ((width // 8 + 64) * 8, (height // 8 + 64) * 8),
                         interpolation=cv2.INTER_CUBIC)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "20"}
    for i in range(int(seconds * fps)):
        x, y = int(200 + 150 * np.sin(i / 90)), int(200 + 100 * np.cos(i / 70))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[y:y + height, x:x + width]), format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None, help="Use this video instead of making one.")
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    parser.add_argument("--preset", default="medium", help="DIS preset of the flow tracker.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        video = args.video or make_video(tmp / "minute_1080p.mp4")
        made = time.perf_counter() - t0
        probe = av.open(str(video))
        stream = probe.streams.video[0]
        seconds_of_video = float(stream.duration * stream.time_base) if stream.duration else float("nan")
        size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        probe.close()

        grid = Grid()
        t0 = time.perf_counter()
        outcome = cut_source(SourceVideo("bench", video), CutSettings(grid=grid, min_seconds=10.0), tmp / "split")
        cut_seconds = time.perf_counter() - t0
        if outcome.status != "ok":
            raise SystemExit(f"stage 1 rejected the video: {outcome.reason}")
        truth = tmp / "split" / "videos" / outcome.stretches[0].video_id / "ground_truth.mp4"
        clip = read_frames(truth, 0, grid.clip_frames)
        qx, qy = query_grid(grid.height, grid.width, 50, 50)
        tracker = FlowTracker(backend="dis", preset=args.preset)
        t0 = time.perf_counter()
        tracker.track(clip, np.stack([qx, qy], axis=1), None)
        track_seconds = time.perf_counter() - t0

    figures = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "video": {"size": size, "seconds": seconds_of_video, "source_frames": outcome.source_frames,
                  "made_in_s": round(made, 2) if args.video is None else None},
        "stage1_cut_seconds": round(cut_seconds, 2),
        "stage1_realtime_factor": round(seconds_of_video / cut_seconds, 2),
        "grid_frames": outcome.stretches[0].num_frames,
        "cuts_found": len(outcome.cut_frames),
        "flow_tracker": {"backend": tracker.backend, "preset": args.preset, "frames": grid.clip_frames,
                         "points": len(qx), "seconds": round(track_seconds, 2),
                         "frames_per_s": round(grid.clip_frames / track_seconds, 2)},
    }
    print(f"stage 1 (decode, shots, 16 fps, crop/resize, H.264) on {size}, {seconds_of_video:.1f} s: "
          f"{cut_seconds:.2f} s = {figures['stage1_realtime_factor']}x real time "
          f"({outcome.source_frames} source frames -> {figures['grid_frames']} grid frames, "
          f"{len(outcome.cut_frames)} cuts)")
    print(f"flow tracker ({tracker.backend}, {args.preset}) at {grid.height}x{grid.width}, 2500 points: "
          f"{figures['flow_tracker']['frames_per_s']} frames/s")
    if args.out is not None:
        write_json(args.out, figures)


if __name__ == "__main__":
    main()
