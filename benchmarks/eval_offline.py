"""Throughput of the offline evaluators on a synthetic 480x832, 16 fps long video (CPU by default).

Builds the video in memory (a panning smooth texture plus per-frame noise; the "ground truth" is
the same scene panning slightly differently, with its own noise), cuts it into the grid's clips
exactly as the engine does (``evaluators.feed.clip_views``: 81 frames, stride 80), and feeds
every clip to every evaluator in engine order (clip by clip, each evaluator in turn). Only the
evaluators' own calls are timed; each evaluator is warmed up first on a small video so imports
and one-time set-up are not counted. frames/s counts the frames of the video (5 clips = 401).

    .venv/bin/python benchmarks/eval_offline.py                 # all weight-free evaluators
    .venv/bin/python benchmarks/eval_offline.py --ssim-frame-stride 4 --json out.json

LPIPS is included only when its weights are on this machine (``check_available``) or when asked
with ``--lpips``; otherwise the script says why it was left out.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import click
import cv2
import numpy as np
import torch

from evaluators.feed import clip_views, in_memory_sample
from longvgenbench.atomic import write_json
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.evaluation.api import Evaluator, Need
from longvgenbench.records import PROTOCOL_GRID, Grid
from longvgenbench.registry import create_evaluator

WEIGHT_FREE = ("ssim", "psnr", "temporal_flickering", "motion_magnitude", "colour_consistency", "boundary_continuity")


def synthetic_video(num_frames: int, height: int, width: int, speed: tuple[float, float], seed: int) -> np.ndarray:
    """A smooth random texture panning at ``speed`` (px/frame, x and y) plus Gaussian noise (sigma 4)."""
    rng = np.random.default_rng(seed)
    margin_y, margin_x = int(abs(speed[1]) * num_frames) + 8, int(abs(speed[0]) * num_frames) + 8
    coarse = rng.integers(0, 256, ((height + margin_y) // 16 + 2, (width + margin_x) // 16 + 2, 3), dtype=np.uint8)
    canvas = cv2.resize(coarse, None, fx=16, fy=16, interpolation=cv2.INTER_CUBIC)
    fine = rng.integers(-40, 41, canvas.shape, dtype=np.int16)
    canvas = np.clip(canvas.astype(np.int16) + cv2.GaussianBlur(fine, (5, 5), 1.0), 0, 255).astype(np.uint8)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    noise = np.empty((height, width, 3), dtype=np.int16)
    for t in range(num_frames):
        y, x = int(round(speed[1] * t)), int(round(speed[0] * t))
        cv2.randn(noise, 0, 4)
        frames[t] = np.clip(canvas[y : y + height, x : x + width].astype(np.int16) + noise, 0, 255)
    return frames


def warm_up(evaluator: Evaluator) -> None:
    grid = Grid(clip_frames=9, stride=8, fps=16.0, height=64, width=112)
    frames = synthetic_video(grid.frames_for_clips(2), 64, 112, (1.0, 0.5), seed=7)
    sample = in_memory_sample("warm-up", frames.shape[0], 64, 112, grid)
    scorer = evaluator.begin_video(sample)
    for view in clip_views(sample, frames, frames if Need.GROUND_TRUTH in evaluator.needs else None):
        scorer.add_clip(view)
    scorer.finish()


@click.command()
@click.option("--clips", default=5, show_default=True, help="clips of the synthetic video")
@click.option("--height", default=PROTOCOL_GRID.height, show_default=True)
@click.option("--width", default=PROTOCOL_GRID.width, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--ssim-frame-stride", default=1, show_default=True, help="score every n-th frame for SSIM")
@click.option("--psnr-frame-stride", default=1, show_default=True)
@click.option("--motion-pair-stride", default=4, show_default=True)
@click.option("--colour-frame-stride", default=4, show_default=True)
@click.option("--lpips/--no-lpips", "with_lpips", default=None, help="default: only if its weights are here")
@click.option("--only", multiple=True, type=click.Choice(WEIGHT_FREE), help="run only these (repeatable)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(
    clips: int, height: int, width: int, device: str, ssim_frame_stride: int, psnr_frame_stride: int,
    motion_pair_stride: int, colour_frame_stride: int, with_lpips: bool | None, only: tuple[str, ...],
    json_path: Path | None,
) -> None:
    options: dict[str, dict[str, object]] = {
        "ssim": {"frame_stride": ssim_frame_stride}, "psnr": {"frame_stride": psnr_frame_stride},
        "motion_magnitude": {"pair_stride": motion_pair_stride},
        "colour_consistency": {"frame_stride": colour_frame_stride},
    }
    names = only or WEIGHT_FREE
    evaluators = [create_evaluator(name, device=device, **options.get(name, {})) for name in names]
    if with_lpips or (with_lpips is None and not only):
        lpips = create_evaluator("lpips", device=device)
        try:
            lpips.check_available()
            evaluators.append(lpips)
        except WeightsUnavailableError as exc:
            if with_lpips:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"lpips left out: {exc}")

    grid = Grid(height=height, width=width)
    num_frames = grid.frames_for_clips(clips)
    click.echo(f"building a synthetic {num_frames}-frame {height}x{width} video ({clips} clips) ...")
    frames = synthetic_video(num_frames, height, width, (2.0, 0.5), seed=0)
    truth = synthetic_video(num_frames, height, width, (1.8, 0.6), seed=0)
    sample = in_memory_sample("benchmark", num_frames, height, width, grid)

    for evaluator in evaluators:
        warm_up(evaluator)
    seconds = {ev.name: 0.0 for ev in evaluators}
    scorers = {}
    for ev in evaluators:
        start = time.perf_counter()
        scorers[ev.name] = ev.begin_video(sample)
        seconds[ev.name] += time.perf_counter() - start
    values: dict[str, list[float]] = {}
    for view_all in clip_views(sample, frames, truth, device):
        for ev in evaluators:
            # the engine hands ground truth only to evaluators that declare they need it
            view = view_all if Need.GROUND_TRUTH in ev.needs else replace(view_all, ground_truth=None)
            start = time.perf_counter()
            row = scorers[ev.name].add_clip(view)
            seconds[ev.name] += time.perf_counter() - start
            for key, value in row.items():
                values.setdefault(key, []).append(value)
    for ev in evaluators:
        start = time.perf_counter()
        row = scorers[ev.name].finish()
        seconds[ev.name] += time.perf_counter() - start
        for key, value in row.items():
            values.setdefault(key, []).append(value)

    total = sum(seconds.values())
    click.echo(f"torch threads {torch.get_num_threads()}, opencv threads {cv2.getNumThreads()}, "
               f"cpus {os.cpu_count()}, device {device}")
    click.echo(f"{'evaluator':<22}{'seconds':>9}{'frames/s':>11}  mean value")
    for ev in evaluators:
        means = ", ".join(f"{k}={np.mean(v):.4g}" for k, v in values.items() if k in {m.name for m in ev.metrics})
        click.echo(f"{ev.name:<22}{seconds[ev.name]:>9.2f}{num_frames / seconds[ev.name]:>11.1f}  {means}")
    click.echo(f"{'all together':<22}{total:>9.2f}{num_frames / total:>11.1f}")
    if json_path is not None:
        report = {
            "frames": num_frames, "height": height, "width": width, "clips": clips, "device": device,
            "cpus": os.cpu_count(), "machine": platform.machine(), "torch_threads": torch.get_num_threads(),
            "seconds": seconds, "frames_per_second": {k: num_frames / s for k, s in seconds.items()},
            "total_frames_per_second": num_frames / total, "options": options,
            "mean_values": {k: float(np.mean(v)) for k, v in values.items()},
        }
        write_json(json_path, report)


if __name__ == "__main__":
    main()
