"""VBench 0.1.5 vs ours: seconds per video for each VBench dimension, on the same videos and the same weights.

Meant for one H100 (``run`` tool). Videos: ``--videos`` synthetic one-minute 480x832 16 fps clips
(moving textures, H.264 mp4). Weights: real checkpoints are not downloadable here, so both sides
load the same deterministic random weights at the REAL architecture sizes, staged by
``tests/parity/stage_weights.py --profile full`` (or pass ``--staged DIR`` made earlier); speed
does not depend on the values.

- ours: every video is decoded ONCE (PyAV), cut into the protocol's clips (81 frames, stride 80)
  and every dimension's evaluator scores the clips on the device (batched, fp16 autocast unless
  ``--precision fp32``). Decode time is reported on its own and shared by the dimensions.
- VBench: ``VBench.evaluate(local=True, mode='custom_input')`` per dimension with VBench's python
  (``--vbench-python``; its own venv, or the device's python with the wheels on ``PYTHONPATH``),
  each re-decoding the videos as VBench does. One VBench process runs every dimension twice, on 1
  video and on N videos; the per-video time is the difference divided by N - 1, so model loading
  (VBench loads inside each evaluate) cancels out. A discarded warm-up evaluate comes first (CUDA
  and cuDNN initialisation). Ours is warmed up before timing, so neither side counts loading.
- ``--json`` is rewritten after each of our passes and after every VBench dimension, so a run cut
  short keeps what it measured. Each of our passes compiles its own models (a minute or two on an
  H100): ``--no-per-dimension`` and ``--no-side-by-side`` keep a run inside a 10-minute device call.

Dimensions plug in through ``DIMENSIONS`` (name -> how to build ours from the staging dir).

    .venv/bin/python benchmarks/eval_throughput.py --dims subject_consistency,background_consistency \\
        --videos 3 --vbench-python /work/vbench-venv/bin/python --json out.json
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import click
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "parity"))

import stage_weights  # noqa: E402
from throughput_table import print_comparison  # noqa: E402  (beside this script, on sys.path when it runs)

from evaluators.feed import clip_views, in_memory_sample  # noqa: E402
from longvgenbench.atomic import write_json  # noqa: E402
from longvgenbench.evaluation.api import ClipView, Evaluator  # noqa: E402
from longvgenbench.records import VideoSample  # noqa: E402

Builder = Callable[[Path, str, str], Evaluator]  # (vbench cache dir, device, precision) -> evaluator


def _subject(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.subject import SubjectConsistencyEvaluator

    return SubjectConsistencyEvaluator(device, precision, dino_checkpoint=str(vb / "dino_model" /
                                                                             "dino_vitbase16_pretrain.pth"))


def _background(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.background import BackgroundConsistencyEvaluator

    return BackgroundConsistencyEvaluator(device, precision, clip_checkpoint=str(vb / "clip_model" / "ViT-B-32.pt"))


def _aesthetic(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.aesthetic import AestheticQualityEvaluator

    return AestheticQualityEvaluator(device, precision, clip_checkpoint=str(vb / "clip_model" / "ViT-L-14.pt"),
                                     head_checkpoint=str(vb / "aesthetic_model" / "emb_reader" /
                                                         "sa_0_4_vit_l_14_linear.pth"))


def _registry_at(vb: Path) -> None:
    """The motion dimensions find their files through the weights registry: point it at the staged caches."""
    os.environ["VBENCH_CACHE_DIR"] = str(vb)
    os.environ["TORCH_HOME"] = str(vb.parent / stage_weights.TORCH_HOME_DIR)


def _dynamic(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.dynamic import DynamicDegreeEvaluator

    _registry_at(vb)
    return DynamicDegreeEvaluator(device, precision, verify_weights=False)


def _imaging(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.imaging import ImagingQualityEvaluator

    _registry_at(vb)
    return ImagingQualityEvaluator(device, precision, verify_weights=False)


def _smoothness(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.smoothness import MotionSmoothnessEvaluator

    _registry_at(vb)
    return MotionSmoothnessEvaluator(device, precision, verify_weights=False)


def _overall(vb: Path, device: str, precision: str) -> Evaluator:
    from evaluators.vbench.overall import OverallConsistencyEvaluator

    return OverallConsistencyEvaluator(device, precision,
                                       viclip_checkpoint=str(vb / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth"))


DIMENSIONS: dict[str, Builder] = {
    "subject_consistency": _subject,
    "background_consistency": _background,
    "aesthetic_quality": _aesthetic,
    "imaging_quality": _imaging,
    "motion_smoothness": _smoothness,
    "dynamic_degree": _dynamic,
    "overall_consistency": _overall,
}


def _captioned(sample: VideoSample) -> VideoSample:
    """Every clip captioned with the video's name: the prompt VBench's custom_input mode uses (overall_consistency)."""
    return replace(sample, segments=tuple(replace(s, caption=sample.video_id) for s in sample.segments))


def synthetic_minute(seed: int, frames: int, height: int, width: int) -> np.ndarray:
    """A moving colourful texture with a drifting bright square (content only needs to be plausible)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(rng.uniform(0.01, 0.05) * xx + rng.uniform(0.01, 0.05) * yy + c) for c in range(3)], -1)
    base = ((base + 1) * 110 + 10).astype(np.uint8)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        frame = np.roll(base, (t * 2) % width, axis=1)
        top, left = (t * 3) % (height - 60), (t * 5) % (width - 60)
        frame[top : top + 60, left : left + 60] = (255, 200, 40)
        out[t] = frame
    return out


def time_ours(videos: list[Path], dims: list[str], vb: Path, device: str, precision: str) -> dict[str, float]:
    """Seconds per video: decode (once) and each dimension; models are loaded and warmed up before timing."""
    from longvgenbench.video_io import read_frames  # PyAV: imported only where videos are read or written

    evaluators = {dim: DIMENSIONS[dim](vb, device, precision) for dim in dims}
    warm = synthetic_minute(0, 81, 480, 832)
    for evaluator in evaluators.values():
        sample = _captioned(in_memory_sample("warm", 81, 480, 832))
        scorer = evaluator.begin_video(sample)
        for view in clip_views(sample, warm, device=device):
            scorer.add_clip(view)
    totals = dict.fromkeys(["decode", *dims], 0.0)
    for path in videos:
        start = time.perf_counter()
        frames = read_frames(path)
        totals["decode"] += time.perf_counter() - start
        sample = _captioned(in_memory_sample(path.stem, *frames.shape[:3]))
        for dim, evaluator in evaluators.items():
            _sync(device)
            start = time.perf_counter()
            scorer = evaluator.begin_video(sample)
            for view in clip_views(sample, frames, device=device):
                scorer.add_clip(view)
            scorer.finish()
            _sync(device)
            totals[dim] += time.perf_counter() - start
    return {key: value / len(videos) for key, value in totals.items()}


def score_clip_everywhere(runner, scorers, view: ClipView) -> None:
    """``view`` to every scorer through ``runner`` (a ``ClipScorer``), raising the first evaluator error."""
    for outcome in runner.run([partial(scorer.add_clip, view) for scorer in scorers]):
        if outcome.error is not None:
            raise outcome.error


def time_ours_together(videos: list[Path], dims: list[str], vb: Path, device: str, precision: str,
                       parallel: bool = False) -> float:
    """Seconds per video with every dimension in one pass, as ``longvgenbench evaluate`` runs them: the file is
    decoded clip by clip (the next clip in a background thread) and each clip goes to every evaluator, in turn
    or (``parallel``) side by side on CUDA streams."""
    from longvgenbench.evaluation.concurrent import ClipScorer
    from longvgenbench.evaluation.engine import clip_windows
    from longvgenbench.evaluation.prefetch import prefetched
    from longvgenbench.evaluation.upload import uploaded
    from longvgenbench.records import PROTOCOL_GRID
    from longvgenbench.video_io import iter_frames, probe

    evaluators = [DIMENSIONS[dim](vb, device, precision) for dim in dims]
    warm = synthetic_minute(0, 81, 480, 832)
    warm_sample = _captioned(in_memory_sample("warm", 81, 480, 832))
    for evaluator in evaluators:
        scorer = evaluator.begin_video(warm_sample)
        for view in clip_views(warm_sample, warm, device=device):
            scorer.add_clip(view)
    total = 0.0
    for path in videos:
        _sync(device)
        start = time.perf_counter()
        info = probe(path)
        sample = _captioned(in_memory_sample(path.stem, info.num_frames, info.height, info.width))
        scorers = [e.begin_video(sample) for e in evaluators]
        with ClipScorer(device, parallel) as runner:
            # as the engine: the next clip decoded and (on CUDA) uploaded once for all evaluators in the background
            for index, clip in enumerate(prefetched(uploaded(clip_windows(iter_frames(path), PROTOCOL_GRID), device))):
                view = ClipView(sample, sample.segments[index], clip.frames, None, device, device_frames=clip.on_device)
                score_clip_everywhere(runner, scorers, view)
        for scorer in scorers:
            scorer.finish()
        _sync(device)
        total += time.perf_counter() - start
    return total / len(videos)


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# Runs in VBench's python: a discarded warm-up, then every dimension on the 1-video and the N-video folder.
_VBENCH_DRIVER = """
import json, sys, time
from vbench import VBench
dims, one, many, out, device = sys.argv[1].split(","), *sys.argv[2:6]
def run(dim, folder, tag):
    start = time.perf_counter()
    VBench(device, out + "/info.json", out).evaluate(videos_path=folder, name=dim + "_" + tag, dimension_list=[dim],
                                                     local=True, mode="custom_input")
    return time.perf_counter() - start
run(dims[0], one, "warmup")
for dim in dims:
    print("VBENCH_TIMING", json.dumps({"dim": dim, "one": run(dim, one, "one"), "many": run(dim, many, "many")}),
          flush=True)
"""


def time_vbench(python: str, videos: list[Path], dims: list[str], staged: Path, device: str,
                on_result: Callable[[dict[str, float]], None] = lambda _: None) -> dict[str, float]:
    """Seconds per video of VBench per dimension: (time on N videos - time on 1 video) / (N - 1)."""
    if len(videos) < 2:
        raise click.UsageError("VBench timing needs --videos >= 2 (the 1-video run cancels model loading)")
    env = {**os.environ, "VBENCH_CACHE_DIR": str(staged / stage_weights.VBENCH_DIR),
           "TORCH_HOME": str(staged / stage_weights.TORCH_HOME_DIR), "HF_HUB_OFFLINE": "1"}
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp, "one"), Path(tmp, "many")
        one.mkdir()
        many.mkdir()
        (one / videos[0].name).symlink_to(videos[0])
        for video in videos:
            (many / video.name).symlink_to(video)
        command = [python, "-c", _VBENCH_DRIVER, ",".join(dims), str(one), str(many), tmp, device]
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                if line.startswith("VBENCH_TIMING"):
                    row = json.loads(line.split(" ", 1)[1])
                    result[row["dim"]] = (row["many"] - row["one"]) / (len(videos) - 1)
                    print(f"VBench {row['dim']}: 1 video {row['one']:.2f} s, {len(videos)} videos {row['many']:.2f} s "
                          f"-> {result[row['dim']]:.2f} s/video", flush=True)
                    on_result(result)
            errors = proc.stderr.read()
        if proc.returncode != 0:
            missing = [d for d in dims if d not in result]
            print(f"VBench failed (exit {proc.returncode}) before {missing}:\n{errors[-3000:]}", flush=True)
    return result


@click.command(epilog="Example: eval_throughput.py --dims subject_consistency --videos 3 "
                      "--vbench-python /work/vbench-venv/bin/python")
@click.option("--dims", default=",".join(DIMENSIONS), show_default=True, help="comma-separated dimensions")
@click.option("--videos", default=3, show_default=True, help="number of one-minute videos")
@click.option("--seconds", default=60, show_default=True, help="length of each video")
@click.option("--staged", type=click.Path(path_type=Path), default=None,
              help="a staging dir of stage_weights.py --profile full (made there if it has no full manifest)")
@click.option("--device", default="cuda" if torch.cuda.is_available() else "cpu", show_default=True)
@click.option("--precision", default="auto", show_default=True, help="ours: auto (fp16 on CUDA) | fp32 | bf16")
@click.option("--vbench-python", default=None, help="python of a VBench 0.1.5 venv; without it only ours is timed")
@click.option("--dino-repo", type=click.Path(path_type=Path), default=None,
              help="facebookresearch/dino code (clone, bare mirror or copy) for VBench's local DINO hub")
@click.option("--together/--no-together", default=True, show_default=True,
              help="also time every dimension in one pass over each file, as `longvgenbench evaluate` does")
@click.option("--per-dimension/--no-per-dimension", default=True, show_default=True,
              help="time each dimension on its own (decode timed once); off: only the one-pass totals")
@click.option("--side-by-side/--no-side-by-side", default=True, show_default=True,
              help="with --together on CUDA, also time the one pass with the evaluators side by side on CUDA streams")
@click.option("--video-dir", type=click.Path(path_type=Path), default=None,
              help="keep the test videos here and reuse those already there (default: a temporary dir)")
@click.option("--ours-from", type=click.Path(path_type=Path, exists=True), default=None,
              help="take ours from an earlier run's --json instead of timing it (same machine; VBench side only)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(dims: str, videos: int, seconds: int, staged: Path | None, device: str, precision: str,
         vbench_python: str | None, dino_repo: Path | None, together: bool, per_dimension: bool,
         side_by_side: bool, video_dir: Path | None,
         ours_from: Path | None, json_out: Path | None) -> None:
    """Time VBench 0.1.5 and ours per dimension on the same one-minute 480x832 16 fps videos."""
    dim_list = [d for d in dims.split(",") if d]
    unknown = sorted(set(dim_list) - set(DIMENSIONS))
    if unknown:
        raise click.UsageError(f"unknown dimensions {unknown}; known: {sorted(DIMENSIONS)}")
    device_name = torch.cuda.get_device_name() if torch.device(device).type == "cuda" else platform.processor()
    header = {"device": device_name, "videos": videos, "seconds": seconds, "precision": precision, "dims": dim_list}

    def save(ours: dict[str, float], theirs: dict[str, float]) -> None:
        if json_out:
            write_json(json_out, {**header, "ours_s_per_video": ours, "vbench_s_per_video": theirs})

    with tempfile.TemporaryDirectory() as tmp:
        staged = ensure_staged(staged or Path(tmp, "staged"), dim_list, dino_repo)
        paths = make_videos(video_dir or Path(tmp), videos, seconds)
        if ours_from is not None:  # an earlier run's timings of ours (same machine), e.g. when PyAV cannot travel
            ours = json.loads(ours_from.read_text())["ours_s_per_video"]
            print(f"ours, from {ours_from}: {json.dumps(ours)}", flush=True)
        elif per_dimension:
            ours = time_ours(paths, dim_list, staged / stage_weights.VBENCH_DIR, device, precision)
            print(f"ours, seconds per video: {json.dumps({k: round(v, 3) for k, v in ours.items()})}", flush=True)
            save(ours, {})
        else:
            ours = {}
        if together and ours_from is None:
            ours["all_in_one_pass"] = time_ours_together(paths, dim_list, staged / stage_weights.VBENCH_DIR, device,
                                                         precision)
            print(f"ours, all dimensions in one pass: {ours['all_in_one_pass']:.3f} s/video", flush=True)
            save(ours, {})
            if side_by_side and torch.device(device).type == "cuda":
                ours["all_in_one_pass_parallel"] = time_ours_together(
                    paths, dim_list, staged / stage_weights.VBENCH_DIR, device, precision, parallel=True)
                print(f"ours, all dimensions in one pass, side by side on CUDA streams: "
                      f"{ours['all_in_one_pass_parallel']:.3f} s/video", flush=True)
        save(ours, {})
        theirs = (time_vbench(vbench_python, paths, dim_list, staged, device, lambda t: save(ours, t))
                  if vbench_python else {})
    print(f"device: {device_name}; {videos} videos of {seconds} s at 480x832 16 fps; ours precision {precision}")
    print_comparison(dim_list, ours, theirs)
    if torch.device(device).type == "cuda":
        print(f"peak GPU memory (ours): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    if json_out:
        save(ours, theirs)
        print(json.dumps({"written": str(json_out)}))


def make_videos(folder: Path, count: int, seconds: int) -> list[Path]:
    """The benchmark's H.264 test videos in ``folder``: reused when present (PyAV is imported only to write them)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"video{i}-{seconds}s.mp4" for i in range(count)]
    for i, path in enumerate(paths):
        if not path.is_file():
            from longvgenbench.video_io import write_video

            write_video(path, synthetic_minute(i + 1, seconds * 16, 480, 832), 16.0)
    return paths


def ensure_staged(staged: Path, dims: list[str], dino_repo: Path | None) -> Path:
    """``staged`` holding full-size random weights of ``dims``: reused when its full manifest covers them."""
    manifest = staged / "manifest.full.json"
    if manifest.is_file() and set(dims) <= set(json.loads(manifest.read_text())["files"]):
        print(f"reusing staged weights in {staged}", flush=True)
        if dino_repo is not None and "subject_consistency" in dims:  # VBench's DINO needs the code beside the weights
            stage_weights.stage_dino_code(dino_repo, staged / stage_weights.VBENCH_DIR / "dino_model" /
                                          "facebookresearch_dino_main")
        return staged
    start = time.perf_counter()
    stage_weights.stage(staged, "full", dims, dino_repo)
    print(f"staged full-size random weights of {len(dims)} dimensions in {time.perf_counter() - start:.1f} s",
          flush=True)
    return staged


if __name__ == "__main__":
    main()
