"""From score rows to aggregates: per clip -> mean per video -> mean over videos, with 95%
bootstrap intervals over videos, the metric along time (per clip index), per category, and
drift (each clip-level metric's least-squares slope against time, per video, per minute).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from longvgenbench.evaluation.api import Evaluator, Level, MetricSpec
from longvgenbench.records import Split
from longvgenbench.results import Interval, MetricResult, ScoreRow

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
AGGREGATION_PROTOCOL = {
    "order": "per clip -> mean per video -> mean over videos",
    "interval": f"95% percentile bootstrap over videos, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}",
    "drift": "per video: least-squares slope of a clip-level metric against clip start time, per minute; "
             "mean over videos (videos with at least 2 clips)",
}


def bootstrap_interval(values: Sequence[float]) -> Interval:
    """Mean of ``values`` with a 95% percentile bootstrap interval (deterministic)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values to aggregate")
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean=mean, low=mean, high=mean, n=1)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, data.size, size=(BOOTSTRAP_RESAMPLES, data.size))
    means = data[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(mean=mean, low=float(min(low, mean)), high=float(max(high, mean)), n=int(data.size))


def _per_video(rows: Sequence[ScoreRow]) -> dict[str, float]:
    by_video: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_video[row.video_id].append(row.value)
    return {video: float(np.mean(values)) for video, values in sorted(by_video.items())}


def _by_category(per_video: Mapping[str, float], split: Split) -> dict[str, Interval]:
    groups: dict[str, list[float]] = defaultdict(list)
    for sample in split.samples:
        if sample.video_id in per_video:
            for key, value in sample.category.as_dict().items():
                groups[f"{key}={value}"].append(per_video[sample.video_id])
    return {name: bootstrap_interval(values) for name, values in sorted(groups.items())}


def _by_clip(rows: Sequence[ScoreRow]) -> tuple[float, ...]:
    by_index: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        if row.clip_index is not None:
            by_index[row.clip_index].append(row.value)
    if not by_index:
        return ()
    # Clip indices run from 0 without gaps (every video starts at clip 0); stop at the first gap.
    curve = []
    for k in range(max(by_index) + 1):
        if k not in by_index:
            break
        curve.append(float(np.mean(by_index[k])))
    return tuple(curve)


def _drift(rows: Sequence[ScoreRow], split: Split) -> dict[str, float]:
    """Per video: slope of the metric against clip start time (per minute)."""
    seconds_per_clip = split.grid.stride / split.grid.fps
    by_video: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        if row.clip_index is not None:
            by_video[row.video_id].append((row.clip_index, row.value))
    slopes = {}
    for video, points in sorted(by_video.items()):
        if len(points) >= 2:
            minutes = np.array([i for i, _ in points], dtype=np.float64) * seconds_per_clip / 60.0
            values = np.array([v for _, v in points], dtype=np.float64)
            slopes[video] = float(np.polyfit(minutes, values, 1)[0])
    return slopes


def aggregate(rows: Sequence[ScoreRow], evaluators: Sequence[Evaluator], split: Split) -> tuple[MetricResult, ...]:
    """Aggregate every metric of ``evaluators`` found in ``rows``; drift for every clip-level metric."""
    by_metric: dict[str, list[ScoreRow]] = defaultdict(list)
    for row in rows:
        by_metric[row.metric].append(row)
    results: list[MetricResult] = []
    for evaluator in evaluators:
        weights = evaluator.weight_hashes()
        for spec in evaluator.metrics:
            metric_rows = by_metric.get(spec.name, [])
            if not metric_rows:
                continue
            per_video = _per_video(metric_rows)
            results.append(_result(spec, evaluator, weights, per_video, split, _by_clip(metric_rows), spec.level.value))
            if spec.level is Level.CLIP:
                slopes = _drift(metric_rows, split)
                if slopes:
                    drift_spec = MetricSpec(
                        name=f"drift/{spec.name}", level=Level.VIDEO, higher_is_better=spec.higher_is_better,
                        description=f"change of {spec.name} per minute along the video (slope over clips)",
                        unit=f"{spec.unit or spec.name}/min",
                    )
                    results.append(_result(drift_spec, evaluator, weights, slopes, split, (), "derived"))
    return tuple(results)


def _result(spec: MetricSpec, evaluator: Evaluator, weights: Mapping[str, str], per_video: Mapping[str, float],
            split: Split, by_clip: tuple[float, ...], level: str) -> MetricResult:
    return MetricResult(
        metric=spec.name, evaluator=evaluator.name, evaluator_version=evaluator.version, weights=dict(weights),
        level=level, higher_is_better=spec.higher_is_better, description=spec.description, unit=spec.unit,
        overall=bootstrap_interval(list(per_video.values())), by_clip=by_clip,
        by_category=_by_category(per_video, split),
    )
