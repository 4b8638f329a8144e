"""Memory of evaluating a long, large video with the seven VBench dimensions: peak host RSS and GPU memory.

The claim under test: evaluation memory does not grow with the video's length, because frames are
decoded as a stream and scored one 81-frame clip at a time (the engine's pattern). VBench decodes a
whole video into memory, ~180 GB for five minutes of 1080p.

What it does (meant for one GPU via the ``run`` tool; CPU works but is slow):

1. writes a ``--seconds`` long ``--height`` x ``--width`` 16 fps H.264 video of a cheap moving
   pattern with PyAV (streamed: one frame in memory at a time);
2. stages full-size random weights of the seven dimensions (``tests/parity/stage_weights.py``; the
   values do not matter for memory) or reuses ``--staged``;
3. streams the video through ``longvgenbench.video_io.iter_frames`` and the engine's
   ``clip_windows``; every frame is conformed to the protocol grid (480x832, centre crop + resize,
   as the engine conforms model outputs) unless ``--native`` keeps the decoded size; every clip
   goes to every evaluator (models built by ``eval_throughput.DIMENSIONS``);
4. reports the peak host RSS during evaluation (sampled every 20 ms from /proc/self/status, and
   the RSS after a few clips to show it is flat), the process's ``ru_maxrss`` (all phases), and the
   peak GPU memory allocated / reserved by PyTorch during evaluation.

    .venv/bin/python benchmarks/eval_memory.py --seconds 300 --height 1080 --width 1920 --json mem.json
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_throughput
import stage_weights

from evaluators.feed import in_memory_sample
from longvgenbench.atomic import write_json
from longvgenbench.evaluation.api import ClipView
from longvgenbench.evaluation.concurrent import ClipScorer
from longvgenbench.evaluation.engine import clip_windows
from longvgenbench.evaluation.prefetch import prefetched
from longvgenbench.evaluation.upload import uploaded
from longvgenbench.records import PROTOCOL_GRID, Grid
from longvgenbench.video_io import Encoding, VideoWriter, center_crop_resize, iter_frames, probe

FPS = 16.0
FAST_H264 = Encoding(codec="h264", crf=23, preset="ultrafast", threads=0)


def write_pattern_video(path: Path, seconds: float, height: int, width: int) -> Path:
    """A moving gradient texture with a drifting square, written frame by frame (constant memory)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(0.013 * xx + 0.021 * yy + c) for c in range(3)], -1)
    base = ((base + 1) * 110 + 10).astype(np.uint8)
    side = max(8, height // 8)
    frames = int(round(seconds * FPS))
    with VideoWriter(path, FPS, FAST_H264) as writer:
        for t in range(frames):
            frame = np.roll(base, (t * 4) % width, axis=1)
            top, left = (t * 3) % (height - side), (t * 7) % (width - side)
            frame[top : top + side, left : left + side] = (255, 200, 40)
            writer.write(frame)
    return path


class RssSampler:
    """Peak resident set size of this process, sampled from /proc/self/status in a background thread."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current_bytes() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.current_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> RssSampler:
        self.peak_bytes = self.current_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.current_bytes())


def evaluate_streaming(path: Path, dims: list[str], vb: Path, device: str, precision: str, native: bool,
                       checkpoints: tuple[int, ...], at_once: bool = False) -> dict[str, object]:
    """Score every clip of ``path`` with every dimension; memory figures of the evaluation phase."""
    info = probe(path)
    evaluators = {dim: eval_throughput.DIMENSIONS[dim](vb, device, precision) for dim in dims}
    height, width = (info.height, info.width) if native else (PROTOCOL_GRID.height, PROTOCOL_GRID.width)
    grid = Grid(height=height, width=width)
    # num_frames may be an estimate: a stride of spare segments covers it (unused ones cost nothing)
    sample = in_memory_sample(path.stem, info.num_frames + grid.stride, height, width, grid)
    sample = replace(sample, segments=tuple(replace(s, caption="a moving pattern") for s in sample.segments))
    frames = iter_frames(path) if native else (center_crop_resize(f, height, width) for f in iter_frames(path))
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_after: dict[int, float] = {}
    scored = 0
    start = time.perf_counter()
    with RssSampler() as sampler:
        scorers = {dim: evaluator.begin_video(sample) for dim, evaluator in evaluators.items()}
        # as the engine runs them: next clip decoded (and uploaded) in the background; evaluators in turn by default,
        # side by side on CUDA streams with --at-once (the engine's --evaluators-at-once)
        with ClipScorer(device, parallel=at_once and torch.device(device).type == "cuda") as runner:
            for index, clip in enumerate(prefetched(uploaded(clip_windows(frames, grid), device))):
                view = ClipView(sample, sample.segments[index], clip.frames, None, device, device_frames=clip.on_device)
                eval_throughput.score_clip_everywhere(runner, list(scorers.values()), view)
                scored += 1
                if scored in checkpoints:
                    rss_after[scored] = RssSampler.current_bytes() / 2**30
                    print(f"clip {scored}: RSS {rss_after[scored]:.2f} GiB, {time.perf_counter() - start:.1f} s",
                          flush=True)
        for scorer in scorers.values():
            scorer.finish()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
    result: dict[str, object] = {
        "video": {"frames": info.num_frames, "height": info.height, "width": info.width, "fps": info.fps},
        "scored_at": [height, width], "clips": scored, "evaluate_seconds": time.perf_counter() - start,
        "peak_rss_gib_during_evaluation": sampler.peak_bytes / 2**30, "rss_gib_after_clip": rss_after,
    }
    if torch.device(device).type == "cuda":
        result["peak_gpu_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        result["peak_gpu_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return result


@click.command(epilog="Example: eval_memory.py --seconds 300 --height 1080 --width 1920 --json mem.json")
@click.option("--seconds", default=300.0, show_default=True, help="length of the test video")
@click.option("--height", default=1080, show_default=True)
@click.option("--width", default=1920, show_default=True)
@click.option("--dims", default=",".join(eval_throughput.DIMENSIONS), show_default=True,
              help="comma-separated VBench dimensions")
@click.option("--staged", type=click.Path(path_type=Path), default=None,
              help="staging dir of full-size random weights (made there if missing)")
@click.option("--video", type=click.Path(path_type=Path), default=None, help="use this video instead of writing one")
@click.option("--native", is_flag=True, help="score at the decoded size instead of the protocol grid (480x832)")
@click.option("--device", default="cuda" if torch.cuda.is_available() else "cpu", show_default=True)
@click.option("--precision", default="auto", show_default=True)
@click.option("--at-once", is_flag=True, help="evaluators side by side on CUDA streams (engine: --evaluators-at-once)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(seconds: float, height: int, width: int, dims: str, staged: Path | None, video: Path | None, native: bool,
         device: str, precision: str, at_once: bool, json_out: Path | None) -> None:
    """Peak host RSS and GPU memory while the seven VBench dimensions score a long, large video."""
    dim_list = [d for d in dims.split(",") if d]
    unknown = sorted(set(dim_list) - set(eval_throughput.DIMENSIONS))
    if unknown:
        raise click.UsageError(f"unknown dimensions {unknown}; known: {sorted(eval_throughput.DIMENSIONS)}")
    with tempfile.TemporaryDirectory() as tmp:
        staged = eval_throughput.ensure_staged(staged or Path(tmp, "staged"), dim_list, None)
        if video is None:
            start = time.perf_counter()
            video = write_pattern_video(Path(tmp, f"pattern_{height}p.mp4"), seconds, height, width)
            print(f"wrote {video.name} ({video.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s",
                  flush=True)
        checkpoints = (1, 5, 15, 30, 45, 60, 75, 90)
        result = evaluate_streaming(video, dim_list, staged / stage_weights.VBENCH_DIR, device, precision, native,
                                    checkpoints, at_once)
    result |= {"at_once": at_once, "dims": dim_list,
               "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
               "precision": precision, "ru_maxrss_gib_whole_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
               / 2**20}
    print(json.dumps(result, indent=1))
    if json_out:
        write_json(json_out, result)


if __name__ == "__main__":
    main()
