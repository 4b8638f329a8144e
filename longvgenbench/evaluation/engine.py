"""The evaluation engine: decode each video once, feed every evaluator the same clips.

For each video, the generated long video (assembled from the run's lossless segments) and
its ground truth are decoded in one streaming pass, cut into the grid's overlapping clips
(81 frames, stride 80), and every evaluator's scorer sees each clip in turn. Memory is one
clip of each, whatever the video's length. Rows are written per evaluator and video, so an
interrupted evaluation resumes and adding an evaluator later scores only that evaluator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from longvgenbench import atomic
from longvgenbench.errors import LongVGenBenchError, MismatchError, WeightsUnavailableError
from longvgenbench.evaluation.aggregate import AGGREGATION_PROTOCOL, aggregate
from longvgenbench.evaluation.api import ClipView, Evaluator, Need
from longvgenbench.provenance import provenance
from longvgenbench.records import Grid, Split, VideoSample
from longvgenbench.results import SCHEMA_VERSION, Results, ScoreRow, UnavailableEvaluator, read_rows, rows_to_lines
from longvgenbench.rundir import RunDir
from longvgenbench.runner import assembled_frames
from longvgenbench.video_io import iter_frames

ProgressHook = Callable[[str, int, int], None]


class IncompleteRunError(LongVGenBenchError):
    """Some videos of the run are not fully generated yet."""


@dataclass(frozen=True)
class EvaluationSummary:
    results: Results
    videos_scored: int
    videos_reused: int
    seconds: float


def clip_windows(frames: Iterable[np.ndarray], grid: Grid) -> Iterator[np.ndarray]:
    """Cut a frame stream into the grid's clips: [80k, 80k + 81), sharing one frame at each join."""
    buffer: list[np.ndarray] = []
    for frame in frames:
        buffer.append(frame)
        if len(buffer) == grid.clip_frames:
            yield np.stack(buffer)
            buffer = buffer[grid.clip_frames - (grid.clip_frames - grid.stride):]


def split_evaluators(
    evaluators: Sequence[Evaluator], split: Split
) -> tuple[list[Evaluator], list[UnavailableEvaluator]]:
    """Separate evaluators that can run here from those that cannot, with the reason for each."""
    has_ground_truth = all(s.ground_truth is not None for s in split.samples)
    ready, unavailable = [], []
    for evaluator in evaluators:
        if Need.GROUND_TRUTH in evaluator.needs and not has_ground_truth:
            unavailable.append(UnavailableEvaluator(evaluator.name, f"split {split.name!r} has no ground-truth videos"))
            continue
        try:
            evaluator.check_available()
        except WeightsUnavailableError as exc:
            unavailable.append(UnavailableEvaluator(evaluator.name, str(exc)))
            continue
        ready.append(evaluator)
    return ready, unavailable


def score_video(sample: VideoSample, run: RunDir, grid: Grid, evaluators: Sequence[Evaluator], model: str,
                device: str) -> dict[str, list[ScoreRow]]:
    """One decoding pass over a video and its ground truth; rows per evaluator name."""
    num = len(sample.segments)
    generated = clip_windows(assembled_frames(run, sample.video_id, num), grid)
    wants_truth = any(Need.GROUND_TRUTH in e.needs for e in evaluators)
    truth = clip_windows(iter_frames(sample.ground_truth, 0, sample.covered_frames), grid) if wants_truth else None
    scorers = [(e, e.begin_video(sample)) for e in evaluators]
    rows: dict[str, list[ScoreRow]] = {e.name: [] for e in evaluators}
    weights = {e.name: e.weight_hashes() for e in evaluators}

    def row(e: Evaluator, clip: int | None, metric: str, value: float) -> ScoreRow:
        if not np.isfinite(value):
            raise LongVGenBenchError(f"evaluator {e.name} returned {value} for {metric} on {sample.video_id}")
        return ScoreRow(model=model, video_id=sample.video_id, clip_index=clip, metric=metric, value=float(value),
                        evaluator=e.name, evaluator_version=e.version, weights=weights[e.name])

    for segment in sample.segments:
        frames = next(generated, None)
        if frames is None:
            raise MismatchError(f"{sample.video_id}: generated video ends before clip {segment.index}")
        gt = next(truth) if truth is not None else None
        if gt is not None and gt.shape != frames.shape:
            raise MismatchError(f"{sample.video_id} clip {segment.index}: generated frames {frames.shape[1:3]} x "
                                f"{frames.shape[0]} vs ground truth {gt.shape[1:3]} x {gt.shape[0]}")
        for evaluator, scorer in scorers:
            clip = ClipView(sample=sample, segment=segment, frames=frames,
                            ground_truth=gt if Need.GROUND_TRUTH in evaluator.needs else None, device=device)
            for metric, value in scorer.add_clip(clip).items():
                rows[evaluator.name].append(row(evaluator, segment.index, metric, value))
    for evaluator, scorer in scorers:
        for metric, value in scorer.finish().items():
            rows[evaluator.name].append(row(evaluator, None, metric, value))
    return rows


def evaluate_run(run_dir: Path, split: Split, evaluators: Sequence[Evaluator], *, device: str = "cpu",
                 recompute: bool = False, progress: ProgressHook | None = None) -> EvaluationSummary:
    """Score every video of a run with ``evaluators``; write samples.jsonl and results.json."""
    started = time.perf_counter()
    run = RunDir(Path(run_dir))
    manifest = run.read_manifest()
    if manifest is None:
        raise IncompleteRunError(f"{run.root} is not a run directory (no run.json): run `longvgenbench generate` first")
    if manifest["split_manifest_sha256"] != split.manifest_sha256:
        raise MismatchError(f"{run.root} was generated on split {manifest['split']!r} (manifest "
                            f"{manifest['split_manifest_sha256'][:12]}), not on this ({split.manifest_sha256[:12]})")
    samples = [s for s in split.samples if run.finished_segments(s.video_id, len(s.segments), verify=False) > 0]
    incomplete = [s.video_id for s in samples if run.finished_segments(s.video_id, len(s.segments)) < len(s.segments)]
    if incomplete or not samples:
        missing = incomplete or [s.video_id for s in split.samples]
        raise IncompleteRunError(f"{run.root}: generation unfinished for {', '.join(missing)}; "
                                 "rerun `longvgenbench generate` with the same arguments to finish it")
    ready, unavailable = split_evaluators(evaluators, split)
    scored = reused = 0
    for position, sample in enumerate(samples):
        todo = [e for e in ready if recompute or not run.eval_rows(e.name, e.version, sample.video_id).exists()]
        if todo:
            rows = score_video(sample, run, split.grid, todo, manifest["model"], device)
            for evaluator in todo:
                atomic.write_text(run.eval_rows(evaluator.name, evaluator.version, sample.video_id),
                                  "".join(line + "\n" for line in rows_to_lines(rows[evaluator.name])))
            scored += 1
        else:
            reused += 1
        if progress is not None:
            progress(sample.video_id, position + 1, len(samples))
    all_rows = [r for s in samples for e in ready for r in read_rows(run.eval_rows(e.name, e.version, s.video_id))]
    atomic.write_text(run.samples, "".join(line + "\n" for line in rows_to_lines(all_rows)))
    results = Results(
        schema_version=SCHEMA_VERSION, model=manifest["model"], model_fingerprint=manifest["model_fingerprint"],
        split=split.name, split_manifest_sha256=split.manifest_sha256, seed=int(manifest["seed"]),
        protocol={
            "grid": asdict(split.grid),
            "aggregation": AGGREGATION_PROTOCOL,
            "generated_frames": "lossless segments on the grid; the repeated first frame of every segment after "
                                "the first is dropped, so clip k covers frames [80k, 80k+81) like the ground truth",
            "ground_truth": "decoded from the split at the grid's size, no resizing",
            "evaluators": {e.name: {"version": e.version, **e.protocol()} for e in ready},
        },
        metrics=aggregate(all_rows, ready, split), unavailable=tuple(unavailable),
        provenance={**provenance(device), "generation": manifest.get("provenance", {})}, num_videos=len(samples),
    )
    atomic.write_json(run.results, asdict(results))
    return EvaluationSummary(results, scored, reused, round(time.perf_counter() - started, 3))
