"""Generation runner: one video at a time, segment by segment, resumable mid-video.

Each finished segment is written atomically (lossless frames, then the model's state, then
the record that marks it done), so a run killed at any instant — Ctrl-C or ``kill -9`` —
resumes at the first unfinished segment and produces exactly what an uninterrupted run
would have: the next segment's first frame is read back from the lossless file, and the
model's state from its ``.npz``.

Under ``torchrun`` (see ``longvgenbench.distributed``) rank 0 creates or checks ``run.json`` while
the others wait, then hands out whole videos (``longvgenbench.sharding.plan_generation``); each
rank writes only the files of its own videos, their assembled ``video.mp4`` included. A rank whose
video fails records the failure and goes on with its other videos; at the end every rank learns
what is missing and the run fails with :class:`~longvgenbench.sharding.ShardsMissingError`, so the
same command, on any number of ranks, generates only those segments.
"""

from __future__ import annotations

import enum
import resource
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from longvgenbench import atomic
from longvgenbench.distributed import SINGLE, Ranks, gather_all, on_main
from longvgenbench.errors import OutputDirError, UnknownNameError, VideoError
from longvgenbench.model import VideoModel, assembled_frame_slice, conform_to_grid, next_first_frame
from longvgenbench.provenance import provenance, sha256_file, stable_seed
from longvgenbench.records import SegmentRequest, Split, VideoSample, freeze_state
from longvgenbench.rundir import RUN_FORMAT, RUN_FORMAT_VERSION, RunDir, SegmentRecord
from longvgenbench.sharding import (
    GenerationLoad,
    RankReport,
    ShardFailure,
    ShardsMissingError,
    describe_range,
    plan_generation,
)
from longvgenbench.video_io import H264, LOSSLESS, VideoWriter, iter_frames, read_frames

ProgressHook = Callable[[str, int, int], None]


class Overwrite(enum.Enum):
    """What to do with generations already in the run directory."""

    NEVER = "never"  # refuse to touch a run directory that already has generations
    MISSING = "missing"  # keep everything finished, generate only what is missing (resume)
    ALWAYS = "always"  # move existing generations aside (.replaced/) and generate again


@dataclass(frozen=True)
class GenerationSummary:
    run_dir: Path
    videos: int
    segments_generated: int
    segments_reused: int
    seconds: float


def _identity(model: VideoModel, split: Split, seed: int) -> dict[str, object]:
    return {
        "model": model.name,
        "model_fingerprint": model.fingerprint(),
        "split": split.name,
        "split_manifest_sha256": split.manifest_sha256,
        "seed": seed,
        "grid": asdict(split.grid),
    }


def prepare_run_dir(run: RunDir, identity: dict[str, object], overwrite: Overwrite, device: str,
                    split_root: Path | None = None) -> None:
    """Create or check ``run.json``; never lets a run mix two configurations in one directory."""
    existing = run.read_manifest()
    if existing is not None:
        same = all(existing.get(k) == v for k, v in identity.items())
        if overwrite is Overwrite.NEVER and run.has_generations():
            raise OutputDirError(f"{run.root} already holds generations and --overwrite is 'never'; "
                                 "use --overwrite missing to resume or another --out")
        if overwrite is Overwrite.ALWAYS:
            _move_aside(run)
        elif not same:
            diff = sorted(k for k, v in identity.items() if existing.get(k) != v)
            raise OutputDirError(f"{run.root} was made with a different {', '.join(diff)}; its results are kept. "
                                 "Use another --out, or --overwrite always to move them aside and start over")
        else:
            return
    atomic.write_json(run.manifest, {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **identity,
                                     "split_root": None if split_root is None else str(split_root),
                                     "provenance": provenance(device)})


def _move_aside(run: RunDir) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    target = run.root / ".replaced" / stamp
    target.mkdir(parents=True)
    for name in ("run.json", "videos", "eval", "samples.jsonl", "results.json"):
        if (run.root / name).exists():
            shutil.move(str(run.root / name), str(target / name))


def _peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load_state(path: Path) -> Mapping[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return freeze_state({k: data[k] for k in data.files})


def generate_video(model: VideoModel, sample: VideoSample, split: Split, run: RunDir, seed: int,
                   progress: ProgressHook | None = None) -> tuple[int, int]:
    """Generate the missing segments of one video; returns (generated, reused)."""
    _remove_leftovers(run, sample.video_id)
    grid = split.grid
    num = len(sample.segments)
    done = run.finished_segments(sample.video_id, num)
    if done > 0:
        first_frame = next_first_frame(read_frames(run.segment_video(sample.video_id, done - 1)))
        state = _load_state(run.segment_state(sample.video_id, done - 1))
    else:
        first_frame = read_image(sample.first_frame)
        state = model.initial_state(sample)
    video_seed = stable_seed(seed, split.name, sample.video_id)
    for index in range(done, num):
        segment = sample.segments[index]
        started = time.perf_counter()
        request = SegmentRequest(sample=sample, segment=segment, first_frame=first_frame, grid=grid, seed=video_seed)
        output = model.generate_segment(request, state)
        frames, how = conform_to_grid(output.frames, model.native, grid)
        with VideoWriter(run.segment_video(sample.video_id, index), grid.fps, LOSSLESS) as writer:
            writer.write_all(frames)
        atomic.write_npz(run.segment_state(sample.video_id, index), output.state)
        record = SegmentRecord(
            index=index, frames=int(frames.shape[0]),
            video_sha256=sha256_file(run.segment_video(sample.video_id, index)),
            state_sha256=sha256_file(run.segment_state(sample.video_id, index)),
            seconds=round(time.perf_counter() - started, 3), peak_memory_mb=round(_peak_memory_mb(), 1), conform=how,
        )
        atomic.write_json(run.segment_record_path(sample.video_id, index), asdict(record))
        first_frame = next_first_frame(frames)
        state = freeze_state(output.state)
        if progress is not None:
            progress(sample.video_id, index + 1, num)
    if done < num or not run.assembled_video(sample.video_id).exists():
        assemble_video(run, sample.video_id, num, grid.fps)
    return num - done, done


def _remove_leftovers(run: RunDir, video_id: str) -> None:
    """Delete half-written temporary files (hidden, from ``atomic``) that a killed process left in a video's
    folders. Safe: one video is generated by one process at a time, and finished files are never hidden."""
    for folder in (run.video_dir(video_id), run.segment_dir(video_id)):
        if folder.is_dir():
            for leftover in folder.glob(".*"):
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image (the first frame of a sample)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(path, "cannot be read as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def assembled_frames(run: RunDir, video_id: str, num_segments: int):
    """Stream the long video: every segment's frames, dropping the repeated first frame after segment 0."""
    for index in range(num_segments):
        keep = assembled_frame_slice(index)
        for position, frame in enumerate(iter_frames(run.segment_video(video_id, index))):
            if position >= (keep.start or 0):
                yield frame


def assemble_video(run: RunDir, video_id: str, num_segments: int, fps: float) -> Path:
    """Write the shareable H.264 long video from the lossless segments."""
    with VideoWriter(run.assembled_video(video_id), fps, H264) as writer:
        writer.write_all(assembled_frames(run, video_id, num_segments))
    return run.assembled_video(video_id)


def generate(model: VideoModel, split: Split, out: Path, *, seed: int = 0, overwrite: Overwrite = Overwrite.MISSING,
             video_ids: Sequence[str] | None = None, device: str = "cpu",
             progress: ProgressHook | None = None, ranks: Ranks = SINGLE, keep_going: bool | None = None,
             on_plan: Callable[[int], None] | None = None) -> GenerationSummary:
    """Generate every (or the chosen) video of ``split`` with ``model`` into run directory ``out``.

    With several ``ranks`` every rank calls this with the same arguments; each generates its share
    of the videos. ``keep_going`` (default: only when distributed) records a failing video and goes
    on with the others, then raises :class:`ShardsMissingError` naming what is missing; without it
    the first failure propagates at once. ``on_plan`` gets the number of segments this rank will
    generate (for a progress bar). The summary counts the work of all ranks.
    """
    run = RunDir(Path(out))
    samples = _select(split, video_ids)
    keep_going = ranks.is_distributed if keep_going is None else keep_going

    def plan() -> tuple[tuple[str, ...], ...]:
        prepare_run_dir(run, _identity(model, split, seed), overwrite, device, split.root)
        loads = [GenerationLoad(s.video_id, len(s.segments) - run.finished_segments(s.video_id, len(s.segments),
                                                                                      verify=False))
                 for s in samples]
        return plan_generation(loads, ranks.world_size)

    started = time.perf_counter()
    mine = [split.sample(video_id) for video_id in on_main(ranks, plan)[ranks.rank]]
    if on_plan is not None:
        on_plan(sum(len(s.segments) - run.finished_segments(s.video_id, len(s.segments), verify=False)
                    for s in mine))
    generated = reused = 0
    failures: list[ShardFailure] = []
    for sample in mine:
        try:
            g, r = generate_video(model, sample, split, run, seed, progress)
        except Exception as exc:
            if not keep_going:
                raise
            num = len(sample.segments)
            done = run.finished_segments(sample.video_id, num, verify=False)
            failures.append(ShardFailure(ranks.rank, sample.video_id,
                                         f"segments {describe_range(range(done, num))} of {num}"
                                         if done < num else "assembling video.mp4",
                                         type(exc).__name__, str(exc)))
            continue
        generated, reused = generated + g, reused + r
    reports = gather_all(ranks, RankReport(done=generated, reused=reused, failures=tuple(failures)))
    all_failures = [f for report in reports for f in report.failures]
    if all_failures:
        raise ShardsMissingError("generation", all_failures,
                                 "Run the same command again (on any number of ranks) to generate only these.")
    return GenerationSummary(run.root, len(samples), sum(r.done for r in reports), sum(r.reused for r in reports),
                             round(time.perf_counter() - started, 3))


def _select(split: Split, video_ids: Sequence[str] | None) -> list[VideoSample]:
    if not video_ids:
        return list(split.samples)
    known = [s.video_id for s in split.samples]
    for video_id in video_ids:
        if video_id not in known:
            raise UnknownNameError("video", video_id, known)
    return [s for s in split.samples if s.video_id in set(video_ids)]
