"""The evaluation engine: decode each video once, feed every evaluator the same clips.

For each video, the generated long video (read straight from the run's lossless segments) and
its ground truth are decoded in one streaming pass, cut into the grid's overlapping clips
(81 frames, stride 80), and every evaluator's scorer sees each clip in turn. Memory is one
clip of each, whatever the video's length. Rows are written per evaluator and clip (or per
evaluator and video for evaluators that need the whole video in order), as soon as they exist,
so an interrupted evaluation resumes and adding an evaluator later scores only that evaluator.

Under ``torchrun`` rank 0 checks the run, lists the missing scores and plans who does what
(``longvgenbench.sharding.plan_evaluation``: clips for clip-independent evaluators, whole videos
for sequential ones); every rank decodes only the clip span it needs, once per video; rank 0
then reads every rank's row files, sorts them in one fixed order (split order of videos, the
evaluators' order, clip order) and writes ``samples.jsonl`` and ``results.json``, so the numbers
are the same at any world size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from longvgenbench import atomic
from longvgenbench.distributed import SINGLE, Ranks, broadcast, gather_all, gather_main, on_main
from longvgenbench.errors import LongVGenBenchError, MismatchError, WeightsUnavailableError
from longvgenbench.evaluation.aggregate import AGGREGATION_PROTOCOL, aggregate
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Evaluator, Need, VideoScorer
from longvgenbench.evaluation.concurrent import ClipScorer
from longvgenbench.evaluation.ledger import Ledger
from longvgenbench.evaluation.prefetch import prefetched
from longvgenbench.evaluation.upload import uploaded
from longvgenbench.model import assembled_frame_slice
from longvgenbench.provenance import provenance
from longvgenbench.records import Grid, Split, VideoSample
from longvgenbench.results import SCHEMA_VERSION, Results, ScoreRow, UnavailableEvaluator, read_rows, rows_to_lines
from longvgenbench.rundir import RunDir
from longvgenbench.sharding import (
    ClipTasks,
    PendingVideo,
    RankReport,
    ShardFailure,
    ShardsMissingError,
    VideoWork,
    describe_range,
    plan_evaluation,
)
from longvgenbench.video_io import iter_frames, read_frames

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


def is_sequential(evaluator: Evaluator) -> bool:
    """True if the evaluator's scorer may carry state from clip to clip, so it must see a whole video in order.

    Only a ``ClipEvaluator`` that keeps the stateless per-clip scorer is known to score each clip on
    its own; every other evaluator (e.g. colour_consistency, boundary_continuity) is sequential.
    """
    return not (isinstance(evaluator, ClipEvaluator) and type(evaluator).begin_video is ClipEvaluator.begin_video)


def generated_clips(run: RunDir, video_id: str, clips: range, grid: Grid) -> Iterator[np.ndarray]:
    """Clips ``clips`` of the assembled long video, decoded straight from the lossless segments.

    Clip k >= 1 of the long video is the last frame of segment k-1 followed by segment k without its
    first frame (the assembly rule of ``longvgenbench.model``); a span that starts after clip 0 reads
    only the last frame of the segment before it. Memory: one segment.
    """
    previous_last: np.ndarray | None = None
    if clips.start > 0:
        previous_last = read_frames(run.segment_video(video_id, clips.start - 1),
                                    grid.clip_frames - 1, grid.clip_frames)[-1]
    for index in clips:
        kept = read_frames(run.segment_video(video_id, index))[assembled_frame_slice(index)]
        clip = kept if previous_last is None else np.concatenate([previous_last[None], kept])
        if clip.shape[0] != grid.clip_frames:
            raise MismatchError(f"{video_id}: generated segment {index} gives {clip.shape[0]} frames for clip {index}, "
                                f"not the grid's {grid.clip_frames}")
        previous_last = clip[-1]
        yield clip


def truth_clips(sample: VideoSample, clips: range, grid: Grid) -> Iterator[np.ndarray]:
    """The ground truth's clips ``clips``, decoding only their frames (seeking to the nearest keyframe)."""
    if sample.ground_truth is None:
        raise MismatchError(f"{sample.video_id} has no ground-truth video")
    start, stop = clips.start * grid.stride, (clips.stop - 1) * grid.stride + grid.clip_frames
    return clip_windows(iter_frames(sample.ground_truth, start, stop), grid)


def _row(e: Evaluator, sample: VideoSample, model: str, clip: int | None, metric: str, value: float) -> ScoreRow:
    if not np.isfinite(value):
        raise LongVGenBenchError(f"evaluator {e.name} returned {value} for {metric} on {sample.video_id}")
    return ScoreRow(model=model, video_id=sample.video_id, clip_index=clip, metric=metric, value=float(value),
                    evaluator=e.name, evaluator_version=e.version, weights=e.weight_hashes())


def _write_rows(path: Path, rows: Sequence[ScoreRow]) -> None:
    atomic.write_text(path, "".join(line + "\n" for line in rows_to_lines(rows)))


def score_work(work: VideoWork, sample: VideoSample, run: RunDir, grid: Grid, evaluators: Sequence[Evaluator],
               model: str, device: str, progress: ProgressHook | None = None, ledger: Ledger | None = None,
               runner: ClipScorer | None = None) -> None:
    """One decoding pass over the clips ``work`` needs; each clip's rows are written as soon as they exist.

    ``runner`` scores a clip's evaluators serially (default) or side by side on CUDA streams; either way
    the outcomes are handled in evaluator order, so files and errors do not depend on it.
    """
    runner = ClipScorer(device, parallel=False) if runner is None else runner
    ledger = Ledger() if ledger is None else ledger
    wanted = {n for t in work.clips for n in t.evaluators} | set(work.sequential)
    used = [e for e in evaluators if e.name in wanted]
    span = work.span
    # decode (and on CUDA upload, once for every evaluator) clip k+1 while clip k is scored
    generated = prefetched(uploaded(generated_clips(run, sample.video_id, span, grid), device))
    truth = prefetched(truth_clips(sample, span, grid)) if any(Need.GROUND_TRUTH in e.needs for e in used) else None
    scorers: dict[str, VideoScorer] = {e.name: e.begin_video(sample) for e in used}
    sequential_rows: dict[str, list[ScoreRow]] = {name: [] for name in work.sequential}
    for position, index in enumerate(span):
        segment = sample.segments[index]
        clip = next(generated)
        frames = clip.frames
        gt = next(truth, None) if truth is not None else None
        if truth is not None and (gt is None or gt.shape != frames.shape):
            got = "nothing" if gt is None else f"{gt.shape[1:3]} x {gt.shape[0]}"
            raise MismatchError(f"{sample.video_id} clip {segment.index}: generated frames {frames.shape[1:3]} x "
                                f"{frames.shape[0]} vs ground truth {got}")
        here = set(work.evaluators_for(index))
        todo = [e for e in used if e.name in here or e.name in sequential_rows]
        views = [ClipView(sample=sample, segment=segment, frames=frames, device=device, device_frames=clip.on_device,
                          ground_truth=gt if Need.GROUND_TRUTH in e.needs else None) for e in todo]
        outcomes = runner.run([partial(scorers[e.name].add_clip, view) for e, view in zip(todo, views, strict=True)],
                              [e.name for e in todo])
        for evaluator, outcome in zip(todo, outcomes, strict=True):
            sequential = evaluator.name in sequential_rows
            if outcome.error is not None:
                ledger.fail(evaluator.name, None if sequential else index, outcome.error)
                sequential_rows.pop(evaluator.name, None)
                continue
            rows = [_row(evaluator, sample, model, segment.index, metric, value)
                    for metric, value in (outcome.values or {}).items()]
            if sequential:
                sequential_rows[evaluator.name].extend(rows)
            else:
                path = run.clip_rows(evaluator.name, evaluator.version, sample.video_id, index)
                _write_rows(path, rows)
                ledger.clips.add((evaluator.name, index))
                ledger.written[str(path.relative_to(run.root))] = rows
        if progress is not None:
            progress(sample.video_id, position + 1, len(span))
    for evaluator in used:
        if evaluator.name in sequential_rows:
            rows = sequential_rows[evaluator.name]
            try:
                rows += [_row(evaluator, sample, model, None, metric, value)
                         for metric, value in scorers[evaluator.name].finish().items()]
            except Exception as exc:
                ledger.fail(evaluator.name, None, exc)
                continue
            path = run.video_rows(evaluator.name, evaluator.version, sample.video_id)
            _write_rows(path, rows)
            ledger.sequential.add(evaluator.name)
            ledger.written[str(path.relative_to(run.root))] = rows


def pending_work(run: RunDir, samples: Sequence[VideoSample], ready: Sequence[Evaluator],
                 recompute: bool) -> list[PendingVideo]:
    """Scores still missing (all of them with ``recompute``), by video: row files that do not exist yet."""
    per_clip = [e for e in ready if not is_sequential(e)]
    pending = []
    for sample in samples:
        clips = []
        for index in range(len(sample.segments)):
            names = tuple(e.name for e in per_clip
                          if recompute or not run.clip_rows(e.name, e.version, sample.video_id, index).exists())
            if names:
                clips.append(ClipTasks(index, names))
        sequential = tuple(e.name for e in ready if is_sequential(e)
                           and (recompute or not run.video_rows(e.name, e.version, sample.video_id).exists()))
        pending.append(PendingVideo(sample.video_id, len(sample.segments), tuple(clips), sequential))
    return pending


@dataclass(frozen=True)
class EvaluationPlan:
    """What rank 0 decided and every rank follows."""

    manifest: Mapping[str, Any]
    video_ids: tuple[str, ...]  # the videos of the run (split order)
    ready: tuple[str, ...]  # evaluators that run (the given order)
    unavailable: tuple[UnavailableEvaluator, ...]
    works: tuple[tuple[VideoWork, ...], ...]  # per rank


def _check_run(run: RunDir, split: Split) -> tuple[Mapping[str, Any], list[VideoSample]]:
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
    return manifest, samples


def _failures(rank: int, work: VideoWork, ledger: Ledger, escaped: Exception | None) -> list[ShardFailure]:
    """One entry per evaluator that failed, and one for whatever an escaping error (e.g. decoding) left undone."""
    failures = [ShardFailure(rank, work.video_id, f"{name} clips {describe_range(clips)}",
                             type(ledger.first_error[name]).__name__, str(ledger.first_error[name]))
                for name, clips in ledger.failed_clips.items()]
    failures += [ShardFailure(rank, work.video_id, f"{name} (whole video)", type(ledger.first_error[name]).__name__,
                              str(ledger.first_error[name])) for name in sorted(ledger.failed_videos)]
    if escaped is not None:
        undone: dict[str, list[int]] = {}
        for task in work.clips:
            for name in task.evaluators:
                finished = (name, task.clip_index) in ledger.clips
                if not finished and task.clip_index not in ledger.failed_clips.get(name, []):
                    undone.setdefault(name, []).append(task.clip_index)
        parts = [f"{name} clips {describe_range(clips)}" for name, clips in undone.items()]
        parts += [f"{name} (whole video)" for name in work.sequential
                  if name not in ledger.sequential and name not in ledger.failed_videos]
        failures.append(ShardFailure(rank, work.video_id, "; ".join(parts) or "nothing", type(escaped).__name__,
                                     str(escaped)))
    return failures


def collect_rows(run: RunDir, samples: Sequence[VideoSample], ready: Sequence[Evaluator],
                 fresh: Mapping[str, Sequence[ScoreRow]] | None = None) -> list[ScoreRow]:
    """Every row of the run in one fixed order: videos (split order), evaluators (given order), clips.

    ``fresh`` holds rows just written (by run-relative path); the others are read from their files."""
    fresh = fresh or {}
    rows: list[ScoreRow] = []
    for sample in samples:
        for evaluator in ready:
            paths = ([run.video_rows(evaluator.name, evaluator.version, sample.video_id)] if is_sequential(evaluator)
                     else [run.clip_rows(evaluator.name, evaluator.version, sample.video_id, k)
                           for k in range(len(sample.segments))])
            for path in paths:
                key = str(path.relative_to(run.root))
                if key in fresh:
                    rows.extend(fresh[key])
                    continue
                if not path.exists():
                    raise IncompleteRunError(f"{path} is missing: run `longvgenbench evaluate {run.root}` again")
                rows.extend(read_rows(path))
    return rows


def evaluate_run(run_dir: Path, split: Split, evaluators: Sequence[Evaluator], *, device: str = "cpu",
                 recompute: bool = False, progress: ProgressHook | None = None, ranks: Ranks = SINGLE,
                 keep_going: bool | None = None, on_plan: Callable[[int], None] | None = None,
                 parallel: bool | None = None) -> EvaluationSummary:
    """Score every video of a run with ``evaluators``; write samples.jsonl and results.json.

    With several ``ranks`` every rank calls this with the same arguments and scores its share of the
    clips. ``keep_going`` (default: only when distributed) records a failing piece of work and goes
    on, then raises :class:`ShardsMissingError` on every rank; the finished scores are kept and the
    same command scores only what is missing. ``on_plan`` gets the number of clips this rank decodes;
    ``progress`` is called after each of them. ``parallel`` scores each clip's evaluators side by side on CUDA
    streams (same numbers, same files; see :mod:`~longvgenbench.evaluation.concurrent`). Default: in turn.
    Once clips reached the GPU only once for all evaluators, side by side stopped paying on an H100 (5.22 vs
    5.10 s per one-minute video for the seven VBench dimensions, ``benchmarks/RESULTS.md``) and it holds
    several evaluators' working memory at once.
    """
    started = time.perf_counter()
    parallel = False if parallel is None else parallel
    run = RunDir(Path(run_dir))
    keep_going = ranks.is_distributed if keep_going is None else keep_going

    def make_plan() -> EvaluationPlan:
        manifest, samples = _check_run(run, split)
        ready, unavailable = split_evaluators(evaluators, split)
        works = plan_evaluation(pending_work(run, samples, ready, recompute), ranks.world_size)
        return EvaluationPlan(dict(manifest), tuple(s.video_id for s in samples), tuple(e.name for e in ready),
                              tuple(unavailable), works)

    plan = on_main(ranks, make_plan)
    samples = [split.sample(video_id) for video_id in plan.video_ids]
    ready = [e for e in evaluators if e.name in plan.ready]
    mine = plan.works[ranks.rank]
    if on_plan is not None:
        on_plan(sum(len(w.span) for w in mine))
    failures: list[ShardFailure] = []
    written: dict[str, list[ScoreRow]] = {}
    with ClipScorer(device, parallel, max_workers=max(1, len(ready))) as runner:
        for work in mine:
            ledger = Ledger(keep_going=keep_going)
            escaped: Exception | None = None
            try:
                score_work(work, split.sample(work.video_id), run, split.grid, ready, plan.manifest["model"], device,
                           progress, ledger, runner)
            except Exception as exc:
                if not keep_going:
                    raise
                escaped = exc
            failures += _failures(ranks.rank, work, ledger, escaped)
            written.update(ledger.written)
    reports = gather_all(ranks, RankReport(done=len(mine) - len(failures), reused=0, failures=tuple(failures)))
    all_failures = [f for report in reports for f in report.failures]
    if all_failures:
        raise ShardsMissingError("evaluation", all_failures,
                                 "Run the same command again (on any number of ranks) to score only these.")
    parts = gather_main(ranks, written)
    scored = len({w.video_id for works in plan.works for w in works})
    results = None
    if ranks.is_main:
        fresh = {key: rows for part in parts or [] for key, rows in part.items()}
        results = _write_results(run, split, samples, ready, plan, device, ranks, fresh)
    results = broadcast(ranks, results)
    return EvaluationSummary(results, scored, len(samples) - scored, round(time.perf_counter() - started, 3))


def _write_results(run: RunDir, split: Split, samples: Sequence[VideoSample], ready: Sequence[Evaluator],
                   plan: EvaluationPlan, device: str, ranks: Ranks, fresh: Mapping[str, Sequence[ScoreRow]]) -> Results:
    all_rows = collect_rows(run, samples, ready, fresh)
    atomic.write_text(run.samples, "".join(line + "\n" for line in rows_to_lines(all_rows)))
    manifest = plan.manifest
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
        metrics=aggregate(all_rows, ready, split), unavailable=plan.unavailable,
        provenance={**provenance(device), "world_size": ranks.world_size, "generation": manifest.get("provenance", {})},
        num_videos=len(samples),
    )
    atomic.write_json(run.results, asdict(results))
    return results
