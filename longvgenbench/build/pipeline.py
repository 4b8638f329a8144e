"""``build``: long videos -> a split directory (the same format as the synthetic split; ``load_split`` reads it).

Stages, each with its own progress bar:
0. setup: resolve the sources, instantiate every chosen estimator and ask each whether its weights
   are here; every problem is reported together, BEFORE any work starts;
1. cut (per source, in a process pool): probe, decode once, shots, 16 fps grid, crop, encode the
   kept single-shot stretches (``cutting.py``); the outcome goes to ``.build/sources/<id>.json``;
2. controls (per kept video; a process pool when every estimator is CPU-only, else in this
   process): depth, tracks, render, camera, captions (``video_controls.py``); ``video.json`` last;
3. finish: dataset card (README.md with the Hub's YAML), ``dataset/`` and ``manifest.json``.

Resumable: stage 1 skips sources with an outcome file, stage 2 videos with a ``video.json``; a
killed build is resumed by the same command. A build directory remembers its settings in
``.build/config.json`` and refuses to be resumed with others. A bad source never stops the others:
it is rejected with its reason, and the report (``.build/report.json`` + the printed summary)
names it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from longvgenbench.atomic import write_json
from longvgenbench.build.cutting import CutSettings, SourceOutcome, Stretch, cut_source
from longvgenbench.build.estimator_api import EstimatorChoice
from longvgenbench.build.sources import SourceVideo, collect_sources
from longvgenbench.build.video_controls import ControlSettings, Estimators, VideoStats, make_video_controls
from longvgenbench.errors import LongVGenBenchError, OutputDirError, WeightsUnavailableError
from longvgenbench.splits.store import (
    MANIFEST_JSON,
    SPLIT_JSON,
    begin_split,
    finish_split,
    finished_videos,
    grid_to_json,
    split_header,
)

BUILDER_VERSION = "1"
WORK_DIR = ".build"


class BuildError(LongVGenBenchError):
    """A build cannot start (missing weights, bad settings) or produced no usable video."""


@dataclass(frozen=True)
class BuildSettings:
    name: str = "built"
    cut: CutSettings = field(default_factory=CutSettings)
    controls: ControlSettings = field(default_factory=ControlSettings)
    workers: int = 2
    video_column: str = "video"

    def identity(self, sources: list[SourceVideo]) -> dict[str, Any]:
        """What decides the split's files: recorded in split.json and checked on resume."""
        cut = asdict(self.cut)
        cut["grid"] = grid_to_json(self.cut.grid)
        return {"builder": "longvgenbench.build", "builder_version": BUILDER_VERSION, "cut": cut,
                "track_grid": list(self.controls.track_grid),
                "estimators": {c.kind: {"name": c.name, "options": dict(c.options)}
                               for c in self.controls.choices()},
                "sources": [s.to_json() for s in sources]}


@dataclass
class BuildReport:
    """What a build did: per source (kept, dropped, rejected and why), per video, timings per stage."""

    out: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)
    failed_videos: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    manifest_sha256: str | None = None
    estimators: dict[str, Any] = field(default_factory=dict)

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return [s for s in self.sources if s["status"] == "rejected"]

    def summary(self) -> str:
        kept = [s for s in self.sources if s["status"] == "ok"]
        clips = sum(v["clips"] for v in self.videos)
        lines = [f"build {self.out}: {len(self.sources)} source(s): {len(kept)} used, {len(self.rejected)} rejected; "
                 f"{len(self.videos)} video(s), {clips} clip(s)"]
        for s in self.sources:
            if s["status"] == "rejected":
                lines.append(f"  REJECTED {s['source']['path']}: {s['reason']}")
            for w in s.get("warnings", []):
                lines.append(f"  warning {s['source']['source_id']}: {w}")
        for v in self.failed_videos:
            lines.append(f"  FAILED {v['video_id']}: {v['error']}")
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        if self.manifest_sha256:
            lines.append(f"  manifest sha256 {self.manifest_sha256[:16]}")
        return "\n".join(lines)


def _check_estimators(settings: ControlSettings) -> Estimators:
    """Instantiate every chosen estimator and collect every missing weight file into one error."""
    problems: list[str] = []
    if settings.camera is not None and settings.tracks is None:
        problems.append("--camera estimate needs tracks (drop --tracks none)")
    if settings.camera is not None and settings.depth is None:
        problems.append("--camera estimate needs depth (choose a --depth estimator, or --camera none)")
    made = Estimators()
    for choice in settings.choices():
        try:
            estimator = choice.create()
            estimator.check_available()
        except WeightsUnavailableError as exc:
            problems.append(f"{choice.kind} estimator {choice.name!r}: {exc}")
            continue
        setattr(made, choice.kind, estimator)
    if problems:
        raise BuildError("cannot start the build:\n  " + "\n  ".join(problems))
    return made


def _guard_out(out: Path, identity: dict[str, Any]) -> None:
    config = out / WORK_DIR / "config.json"
    if config.is_file():
        try:
            previous = json.loads(config.read_text())
        except (OSError, ValueError) as exc:
            raise OutputDirError(f"{config}: unreadable ({exc}); delete {out} to start over") from exc
        if previous != json.loads(json.dumps(identity)):
            raise OutputDirError(f"{out} holds a build made with other sources or settings; use another --out "
                                 f"or delete it")
        return
    if out.exists() and any(out.iterdir()):
        raise OutputDirError(f"{out} is not empty and is not a build directory; refusing to write into it")
    write_json(config, identity)


def _pool(workers: int) -> ProcessPoolExecutor:
    """Workers start from a forkserver, not a fork of this process: a fork copies the locks of live
    OpenCV / FFmpeg thread pools and hung now and then (seen in the test suite)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["longvgenbench.build.cutting", "longvgenbench.build.video_controls"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # N workers on N cores: no oversubscription


def _stage_cut(sources: list[SourceVideo], settings: BuildSettings, out: Path, progress: bool) -> list[SourceOutcome]:
    folder = out / WORK_DIR / "sources"
    done: dict[str, SourceOutcome] = {}
    for s in sources:
        path = folder / f"{s.source_id}.json"
        if path.is_file():
            done[s.source_id] = SourceOutcome.from_json(json.loads(path.read_text()))
    todo = [s for s in sources if s.source_id not in done]
    bar = tqdm(total=len(sources), initial=len(done), desc="cut (decode, shots, 16 fps, crop, encode)",
               unit="video", disable=not progress)
    try:
        if settings.workers > 1 and len(todo) > 1:
            with _pool(min(settings.workers, len(todo))) as pool:
                futures = [pool.submit(cut_source, s, settings.cut, out) for s in todo]
                for future in as_completed(futures):
                    outcome = future.result()
                    write_json(folder / f"{outcome.source.source_id}.json", outcome.to_json())
                    done[outcome.source.source_id] = outcome
                    bar.update()
        else:
            for s in todo:
                outcome = cut_source(s, settings.cut, out)
                write_json(folder / f"{s.source_id}.json", outcome.to_json())
                done[s.source_id] = outcome
                bar.update()
    finally:
        bar.close()
    return [done[s.source_id] for s in sources]


_WORKER_ESTIMATORS: dict[int, Estimators] = {}


def _controls_in_worker(out: Path, stretch: Stretch, source: SourceVideo, settings: ControlSettings) -> VideoStats:
    estimators = _WORKER_ESTIMATORS.get(os.getpid())
    if estimators is None:
        estimators = _WORKER_ESTIMATORS[os.getpid()] = Estimators.create(settings)
    return make_video_controls(out, stretch, source, settings, estimators)


def _stage_controls(todo: list[tuple[Stretch, SourceVideo]], total: int, settings: BuildSettings,
                    estimators: Estimators, out: Path, report: BuildReport, progress: bool) -> None:
    bar = tqdm(total=total, initial=total - len(todo), desc="controls (depth, tracks, camera, captions)",
               unit="video", disable=not progress)
    parallel = settings.workers > 1 and len(todo) > 1 and all(e.parallel_safe for e in estimators.all())
    try:
        if parallel:
            with _pool(min(settings.workers, len(todo))) as pool:
                futures = {pool.submit(_controls_in_worker, out, st, src, settings.controls): st
                           for st, src in todo}
                for future in as_completed(futures):
                    try:
                        report.videos.append(asdict(future.result()))
                    except (LongVGenBenchError, ValueError, OSError) as exc:
                        report.failed_videos.append({"video_id": futures[future].video_id, "error": str(exc)})
                    bar.update()
        else:
            for st, src in todo:
                try:
                    report.videos.append(asdict(make_video_controls(out, st, src, settings.controls, estimators)))
                except (LongVGenBenchError, ValueError, OSError) as exc:
                    report.failed_videos.append({"video_id": st.video_id, "error": str(exc)})
                bar.update()
    finally:
        bar.close()


def build(source: str | Path, out: Path, settings: BuildSettings, progress: bool = True) -> BuildReport:
    """Build a split from ``source`` into ``out`` (resumable). Returns the report; raises BuildError if
    nothing usable came out or a video failed (the report is written first)."""
    out = Path(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sources = collect_sources(source, settings.video_column, cache=out / WORK_DIR / "dataset-videos")
    estimators = _check_estimators(settings.controls)
    identity = settings.identity(sources)
    identity["estimator_fingerprints"] = {e.kind: e.fingerprint() for e in estimators.all()}
    _guard_out(out, identity)
    timings["setup"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    outcomes = _stage_cut(sources, settings, out, progress)
    timings["cut"] = time.perf_counter() - t0
    report = BuildReport(out=str(out), sources=[o.to_json() for o in outcomes],
                         estimators=identity["estimator_fingerprints"])
    stretches = sorted(((st, o.source) for o in outcomes for st in o.stretches), key=lambda p: p[0].video_id)
    report_path = out / WORK_DIR / "report.json"
    if not stretches:
        report.seconds = {k: round(v, 3) for k, v in timings.items()}
        write_json(report_path, asdict(report))
        raise BuildError(f"none of the {len(sources)} source(s) gave a usable video:\n"
                         + "\n".join(f"  {o.source.path}: {o.reason}" for o in outcomes))

    header = split_header(settings.name, settings.cut.grid, identity, len(stretches))
    if (out / SPLIT_JSON).is_file():
        begin_split(out, header)  # validates that an unfinished split was made the same way
    else:
        write_json(out / SPLIT_JSON, header)
    t0 = time.perf_counter()
    done = finished_videos(out)
    todo = [(st, src) for st, src in stretches if st.video_id not in done]
    if todo:
        (out / MANIFEST_JSON).unlink(missing_ok=True)
    _stage_controls(todo, len(stretches), settings, estimators, out, report, progress)
    timings["controls"] = time.perf_counter() - t0
    if report.failed_videos:
        report.seconds = {k: round(v, 3) for k, v in timings.items()}
        write_json(report_path, asdict(report))
        raise BuildError(f"{len(report.failed_videos)} video(s) failed in the controls stage (the others are kept; "
                         f"run the same command to retry): "
                         + "; ".join(f"{v['video_id']}: {v['error']}" for v in report.failed_videos))

    t0 = time.perf_counter()
    from longvgenbench.build.card import write_card

    video_ids = [st.video_id for st, _ in stretches]
    if not (out / MANIFEST_JSON).is_file():
        write_card(out, settings, outcomes)
        report.manifest_sha256 = finish_split(out, video_ids)
    else:
        from longvgenbench.splits.store import sha256_file

        report.manifest_sha256 = sha256_file(out / MANIFEST_JSON)
    timings["finish"] = time.perf_counter() - t0
    report.seconds = {k: round(v, 3) for k, v in timings.items()}
    write_json(report_path, asdict(report))
    return report


def build_choice(kind: str, value: str | None, options: dict[str, Any] | None = None) -> EstimatorChoice | None:
    """CLI value -> choice: ``none`` -> None; a file for captions -> the file estimator; else a registered name."""
    if value is None or value == "none":
        return None
    if kind == "captions" and Path(value).expanduser().is_file():
        return EstimatorChoice("captions", "file", {"path": str(Path(value).expanduser().resolve())})
    return EstimatorChoice(kind, value, dict(options or {}))
