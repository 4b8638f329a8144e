"""What a report is made from: runs with unique labels, checked for comparability before drawing.

A report puts numbers side by side, so the checks that decide whether they may stand side by
side live here, before any table or plot: different splits are refused (a different manifest
means different videos), different evaluator versions or weights for the same metric are
flagged (the numbers may not be comparable), and so are differing protocol choices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvgenbench.errors import LongVGenBenchError
from longvgenbench.results import MetricResult, Results


class ReportInputError(LongVGenBenchError):
    """The inputs of a report are unusable (nothing to report, mismatched run directories)."""


class MixedSplitsError(ReportInputError):
    """Results come from different splits (different manifest sha256) and mixing was not allowed."""


@dataclass(frozen=True)
class Run:
    """One results.json with the label it gets in tables and legends (unique within a report)."""

    label: str
    results: Results
    run_dir: Path | None


@dataclass(frozen=True)
class MetricInfo:
    """What the report knows about one metric across runs, and whether its numbers compare."""

    metric: str
    higher_is_better: bool
    level: str
    description: str
    #: evaluator name/version/weights differ between runs (numbers flagged, best not marked)
    versions_differ: bool
    #: runs disagree on whether higher is better (the arrow is then the first run's)
    direction_differs: bool


@dataclass(frozen=True)
class Grid:
    """The evaluation grid of a run, from ``results.protocol["grid"]``; None fields when absent."""

    clip_frames: int | None
    stride: int | None
    fps: float | None
    height: int | None
    width: int | None

    @property
    def has_time(self) -> bool:
        return self.stride is not None and self.fps is not None and self.fps > 0


def make_runs(results: Sequence[Results], run_dirs: Sequence[Path | str] | None) -> tuple[Run, ...]:
    """Pair results with their run directories and give each a unique, readable label."""
    results = list(results)
    if not results:
        raise ReportInputError("nothing to report: no results were given")
    for r in results:
        if not isinstance(r, Results):
            raise ReportInputError(f"expected longvgenbench.results.Results, got {type(r).__name__}")
    if run_dirs is None:
        dirs: list[Path | None] = [None] * len(results)
    else:
        dirs = [Path(d) for d in run_dirs]
        if len(dirs) != len(results):
            raise ReportInputError(f"{len(results)} results but {len(dirs)} run directories; give one per result")
    labels = _unique_labels(results, dirs)
    return tuple(Run(label=lab, results=r, run_dir=d) for lab, r, d in zip(labels, results, dirs, strict=True))


def _unique_labels(results: list[Results], dirs: list[Path | None]) -> list[str]:
    labels = [r.model for r in results]
    for model in {m for m in labels if labels.count(m) > 1}:
        idx = [i for i, m in enumerate(labels) if m == model]
        names = [dirs[i].name if dirs[i] is not None else None for i in idx]
        seeds = [results[i].seed for i in idx]
        for k, i in enumerate(idx):
            if None not in names and len(set(names)) == len(names):
                labels[i] = f"{model} ({names[k]})"
            elif len(set(seeds)) == len(seeds):
                labels[i] = f"{model} (seed {seeds[k]})"
            else:
                labels[i] = f"{model} #{k + 1}"
    return labels


def check_splits(runs: Sequence[Run], allow_mixed: bool) -> list[str]:
    """Refuse (or, when allowed, warn about) runs on different split manifests."""
    shas = {r.results.split_manifest_sha256 for r in runs}
    if len(shas) <= 1:
        names = {r.results.split for r in runs}
        return [] if len(names) <= 1 else [f"same split manifest but different split names: {sorted(names)}"]
    listing = "; ".join(
        f"{r.label}: split {r.results.split!r} (manifest {r.results.split_manifest_sha256[:12]})" for r in runs
    )
    if not allow_mixed:
        raise MixedSplitsError(
            f"results come from {len(shas)} different splits ({listing}); numbers on different videos are not "
            "comparable. Report each split separately, or pass allow_mixed_splits=True to show them anyway."
        )
    return [f"results come from different splits and are not comparable: {listing}"]


def metric_order(runs: Sequence[Run]) -> list[str]:
    """Metric names in order of first appearance across runs."""
    seen: dict[str, None] = {}
    for run in runs:
        for m in run.results.metrics:
            seen.setdefault(m.metric, None)
    return list(seen)


def find_metric(run: Run, metric: str) -> MetricResult | None:
    for m in run.results.metrics:
        if m.metric == metric:
            return m
    return None


def _evaluator_key(m: MetricResult) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return m.evaluator, m.evaluator_version, tuple(sorted((str(k), str(v)) for k, v in m.weights.items()))


def metric_infos(runs: Sequence[Run]) -> dict[str, MetricInfo]:
    infos = {}
    for name in metric_order(runs):
        present = [m for run in runs if (m := find_metric(run, name)) is not None]
        first = present[0]
        infos[name] = MetricInfo(
            metric=name, higher_is_better=first.higher_is_better, level=first.level, description=first.description,
            versions_differ=len({_evaluator_key(m) for m in present}) > 1,
            direction_differs=len({m.higher_is_better for m in present}) > 1,
        )
    return infos


def describe_evaluator(m: MetricResult) -> str:
    weights = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted(m.weights.items()))
    return f"{m.evaluator} {m.evaluator_version}" + (f" (weights: {weights})" if weights else "")


def comparability_warnings(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> list[str]:
    """Human-readable flags for everything that makes side-by-side numbers suspect."""
    warnings = []
    for name, info in infos.items():
        if info.versions_differ:
            per_run = "; ".join(
                f"{run.label}: {describe_evaluator(m)}" for run in runs if (m := find_metric(run, name)) is not None
            )
            warnings.append(f"{name}: evaluator versions or weights differ between runs ({per_run}); "
                            "the numbers may not be comparable and no best value is marked")
        if info.direction_differs:
            warnings.append(f"{name}: runs disagree on whether higher is better; the first run's direction is shown")
    for key in sorted({k for run in runs for k in run.results.protocol}):
        values = {_canonical(run.results.protocol.get(key)) for run in runs}
        if len(values) > 1:
            warnings.append(f"protocol choice {key!r} differs between runs (see Protocol)")
    return warnings


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def protocol_text(value: Any) -> str:
    """A compact one-line rendering of a protocol value (plain text; escaped by the renderer)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "), ensure_ascii=False)


def grid_of(results: Results) -> Grid:
    raw = results.protocol.get("grid")
    raw = raw if isinstance(raw, Mapping) else {}

    def num(key: str, kind: type) -> Any:
        value = raw.get(key)
        try:
            return None if value is None else kind(value)
        except (TypeError, ValueError):
            return None

    return Grid(clip_frames=num("clip_frames", int), stride=num("stride", int), fps=num("fps", float),
                height=num("height", int), width=num("width", int))
