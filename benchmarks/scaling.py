"""Evaluation throughput at 1, 2, 4, ... processes under torchrun: the speed-up, and where decoding or I/O
becomes the limit.

    python benchmarks/scaling.py --workdir /tmp/scaling --procs 1,2,4 --device cuda --json scaling.json

What it does, all on this machine:

1. builds a benchmark split (``--videos`` x ``--clips`` at ``--height`` x ``--width``: a textured
   pattern that moves, H.264 ground truth) and generates it with the ``oracle`` baseline under
   ``torchrun`` at the largest process count (lossless segments, as any model's run directory);
2. for each process count P, runs ``torchrun --nproc-per-node P benchmarks/scaling.py worker`` twice:
   ``decode`` scores every clip with a no-op evaluator that needs the ground truth (so: decoding of
   the generated clips and of the ground truth, sharding, row files, rank-0 merge), ``evaluate``
   with the chosen evaluators. Each worker times ``evaluate_run(recompute=True)`` between two
   barriers (after imports and evaluator set-up); the driver also records the whole wall time with
   process start. Several processes may share one GPU (the ranks then talk over gloo).

Evaluation is decode-bound at P where ``evaluate`` takes about as long as ``decode``; decoding
itself stops scaling where the CPU cores (each process decodes with FFmpeg threads of its own) or
the disk run out. The JSON holds every measurement; nothing is estimated.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np

from longvgenbench import atomic, distributed, registry
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec, Need
from longvgenbench.evaluation.engine import evaluate_run
from longvgenbench.records import Category, Grid, Segment, Split, VideoSample
from longvgenbench.runner import generate
from longvgenbench.video_io import H264, VideoWriter

DEFAULT_EVALUATORS = "ssim,psnr,temporal_flickering,motion_magnitude,colour_consistency,boundary_continuity"


class DecodeOnly(ClipEvaluator):
    """Touches one pixel of each clip and its ground truth: what is left is decoding, I/O and bookkeeping."""

    name = "decode_only"
    version = "1"
    needs = frozenset({Need.GROUND_TRUTH})
    metrics = (MetricSpec("decode_only", Level.CLIP, True, "first pixel value (a no-op)"),)

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        return {"decode_only": float(clip.frames[0, 0, 0, 0])}


def _pattern(index: int, num_frames: int, height: int, width: int) -> Iterator[np.ndarray]:
    """A smooth random texture panning by 3 px per frame with a slow brightness drift (cheap to make)."""
    rng = np.random.default_rng(index)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8), (0, 0), 4)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    for t in range(num_frames):
        shift = (3 * t) % width
        frame = texture[:, shift: shift + width].astype(np.int16) + int(20 * np.sin(t / 40.0))
        yield np.clip(frame, 0, 255).astype(np.uint8)


def bench_split(root: Path, videos: int, clips: int, height: int, width: int, write: bool) -> Split:
    """The benchmark split; ``write`` makes its files (once), otherwise only the record is built."""
    grid = Grid(height=height, width=width)
    total = grid.frames_for_clips(clips)
    samples = []
    for v in range(videos):
        video_id = f"bench{v:03d}"
        folder = root / video_id
        truth, first = folder / "ground_truth.mp4", folder / "first_frame.png"
        if write and not truth.exists():
            folder.mkdir(parents=True, exist_ok=True)
            frames = _pattern(v, total, height, width)
            with VideoWriter(truth, grid.fps, H264) as writer:
                writer.write_all(frames)
            cv2.imwrite(str(first), cv2.cvtColor(next(_pattern(v, 1, height, width)), cv2.COLOR_RGB2BGR))
        segments = tuple(Segment(index=k, start=k * grid.stride, num_frames=grid.clip_frames, caption=f"clip {k}")
                         for k in range(clips))
        samples.append(VideoSample(video_id, "scaling-bench", Category("synthetic", "outdoor", "day"), grid.fps,
                                   height, width, total, first, segments, truth))
    identity = hashlib.sha256(f"scaling-bench {videos} {clips} {height} {width}".encode()).hexdigest()
    return Split(name="scaling-bench", root=root, grid=grid, manifest_sha256=identity, samples=tuple(samples))


# -- the worker (one rank under torchrun) -----------------------------------------------------------


def _warm_up(evaluators, height: int, width: int) -> None:
    """One tiny clip through every evaluator before the clock starts: lazy imports, CUDA context, kernels."""
    from evaluators.feed import score_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, height, width, 3), dtype=np.uint8)
    for evaluator in evaluators:
        score_video(evaluator, frames, frames[::-1].copy(), grid=Grid(clip_frames=5, stride=4, height=height,
                                                                      width=width))


def worker(args: argparse.Namespace) -> None:
    ranks = distributed.init(args.device)
    device = distributed.rank_device(args.device, ranks.local_rank)
    threads = max(1, (os.cpu_count() or 1) // ranks.world_size)
    cv2.setNumThreads(threads)
    split = bench_split(Path(args.workdir) / "split", args.videos, args.clips, args.height, args.width, write=False)
    run_dir = Path(args.workdir) / "run"
    decoded: list[int] = []
    if args.mode == "generate":
        model = registry.create_model("oracle", device=device)
        distributed.barrier(ranks)
        started = time.perf_counter()
        generate(model, split, run_dir, ranks=ranks, device=device, on_plan=decoded.append)
    else:
        evaluators = ([DecodeOnly(device)] if args.mode == "decode"
                      else [registry.create_evaluator(n, device=device) for n in args.evaluators.split(",")])
        _warm_up(evaluators, args.height, args.width)
        distributed.barrier(ranks)
        started = time.perf_counter()
        summary = evaluate_run(run_dir, split, evaluators, device=device, recompute=True, ranks=ranks,
                               on_plan=decoded.append)
        if summary.results.unavailable:
            raise SystemExit(f"unavailable evaluators: {summary.results.unavailable}")
    distributed.barrier(ranks)
    seconds = time.perf_counter() - started
    work_per_rank = distributed.gather_all(ranks, decoded[0] if decoded else 0)
    if ranks.is_main:
        atomic.write_json(Path(args.result), {
            "mode": args.mode, "procs": ranks.world_size, "backend": ranks.backend, "seconds": round(seconds, 3),
            "units_per_rank": work_per_rank, "threads_per_rank": threads, "device": device,
        })
    distributed.shutdown(ranks)


# -- the driver -------------------------------------------------------------------------------------


def _torchrun(procs: int, mode: str, args: argparse.Namespace, result: Path) -> tuple[dict, float]:
    threads = max(1, (os.cpu_count() or 1) // procs)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
               str(Path(__file__).resolve()), "worker", "--mode", mode, "--workdir", args.workdir,
               "--videos", str(args.videos), "--clips", str(args.clips), "--height", str(args.height),
               "--width", str(args.width), "--device", args.device, "--evaluators", args.evaluators,
               "--result", str(result)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{mode} at {procs} processes failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(result.read_text()), wall


def _machine(device: str) -> dict[str, object]:
    import torch

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {"cpus": os.cpu_count(), "gpu": gpu, "gpus": torch.cuda.device_count() if gpu else 0,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def driver(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    procs = [int(p) for p in args.procs.split(",")]
    clips = args.videos * args.clips
    frames = clips * Grid().clip_frames
    started = time.perf_counter()
    bench_split(workdir / "split", args.videos, args.clips, args.height, args.width, write=True)
    print(f"split: {args.videos} videos x {args.clips} clips at {args.height}x{args.width} "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    generation, wall = _torchrun(max(procs), "generate", args, workdir / "generate.json")
    print(f"generate (oracle) on {max(procs)} processes: {generation['seconds']:.1f} s ({wall:.1f} s with start)",
          flush=True)
    rows = []
    for p in procs:
        row: dict[str, object] = {"procs": p}
        for mode in ("decode", "evaluate"):
            measured, wall = _torchrun(p, mode, args, workdir / f"{mode}-{p}.json")
            row[mode] = {**measured, "wall_with_start_s": round(wall, 3),
                         "clips_per_s": round(clips / measured["seconds"], 3),
                         "frames_per_s": round(frames / measured["seconds"], 2)}
            print(f"P={p} {mode:8s} {measured['seconds']:7.2f} s  {clips / measured['seconds']:7.2f} clips/s  "
                  f"(wall with start {wall:.1f} s, clips decoded per rank {measured['units_per_rank']})", flush=True)
        rows.append(row)
    base = {mode: rows[0][mode]["seconds"] for mode in ("decode", "evaluate")}  # type: ignore[index]
    print("\nprocs  evaluate s  speed-up  decode s  speed-up  evaluate/decode")
    for row in rows:
        ev, de = row["evaluate"]["seconds"], row["decode"]["seconds"]  # type: ignore[index]
        row["evaluate_speedup"] = round(base["evaluate"] / ev, 3)
        row["decode_speedup"] = round(base["decode"] / de, 3)
        row["evaluate_over_decode"] = round(ev / de, 3)
        print(f"{row['procs']:5d}  {ev:10.2f}  {row['evaluate_speedup']:8.2f}  {de:8.2f}  {row['decode_speedup']:8.2f}"
              f"  {row['evaluate_over_decode']:15.2f}")
    report = {"machine": _machine(args.device), "videos": args.videos, "clips_per_video": args.clips,
              "size": [args.height, args.width], "clips": clips, "frames": frames, "device": args.device,
              "evaluators": args.evaluators.split(","), "generation": generation, "results": rows}
    if args.json:
        atomic.write_json(Path(args.json), report)
        print(f"wrote {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="driver", choices=["driver", "worker"])
    parser.add_argument("--workdir", default="/tmp/longvgenbench-scaling")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--procs", default="1,2,4")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--evaluators", default=DEFAULT_EVALUATORS)
    parser.add_argument("--json", default=None, help="Write every measurement here.")
    parser.add_argument("--mode", choices=["generate", "decode", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
