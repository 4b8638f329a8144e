"""Time one synthetic video with all its controls on ONE core (target: 60 s of video in < 60 s).

Usage: .venv/bin/python benchmarks/render_synthetic.py [--seconds 60] [--height 480] [--width 832]
       [--setting outdoor] [--lighting day] [--grid 50]

Threads are pinned to 1 everywhere (numba, torch, OpenCV, BLAS; the H.264 encoder already runs
one thread) before anything heavy is imported. The numba kernels are compiled (or loaded from
their cache) on a tiny warm-up video first, so the figure is steady-state rendering. Prints wall
seconds in total and per stage, and the peak resident memory.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numba  # noqa: E402
import torch  # noqa: E402

from longvgenbench.records import Grid  # noqa: E402
from longvgenbench.synthetic.video import VideoSpec, render_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--setting", default="outdoor", choices=["indoor", "outdoor"])
    parser.add_argument("--lighting", default="day", choices=["day", "night"])
    parser.add_argument("--grid", type=int, default=50, help="track query grid side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    num_frames = int(round(args.seconds * 16))
    with tempfile.TemporaryDirectory() as tmp:
        warm = VideoSpec("warmup", (args.seed, 99), args.setting, args.lighting, 81, Grid(height=32, width=64),
                         (4, 4))
        render_video(warm, Path(tmp) / "warm")
        spec = VideoSpec("bench", (args.seed, 0), args.setting, args.lighting, num_frames,
                         Grid(height=args.height, width=args.width), (args.grid, args.grid))
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        entry, times = render_video(spec, Path(tmp) / "split")
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        size = sum(p.stat().st_size for p in (Path(tmp) / "split").rglob("*") if p.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"video: {args.seconds:g} s = {num_frames} frames at {args.height}x{args.width}, {args.setting} "
          f"{args.lighting}, {len(entry.clips)} clips, tracks {args.grid}x{args.grid}, one core")
    print(f"total wall {wall:.1f} s (cpu {cpu:.1f} s), stages sum {times.total():.1f} s")
    for stage in ("plan", "render", "depth_normalisation", "tracks", "encode", "other"):
        value = getattr(times, stage)
        print(f"  {stage:<20} {value:7.2f} s  ({1000 * value / num_frames:6.2f} ms/frame)")
    print(f"output {size / 2**20:.1f} MiB, peak RSS {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
