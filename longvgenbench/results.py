"""The results schema: one module, one version, for samples.jsonl and results.json.

Every score carries the evaluator's name, version and the sha256 of the weights that made it,
so results from different evaluator versions are never mixed (the leaderboard refuses them).
Bump ``SCHEMA_VERSION`` when a field's meaning changes; readers refuse other major versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from longvgenbench.errors import LongVGenBenchError

SCHEMA_VERSION = "1.0"


class SchemaError(LongVGenBenchError):
    """A results file does not follow this schema (or another version of it)."""


@dataclass(frozen=True)
class ScoreRow:
    """One measured value: a metric of one clip (``clip_index`` set) or of one video (None)."""

    model: str
    video_id: str
    clip_index: int | None
    metric: str
    value: float
    evaluator: str
    evaluator_version: str
    weights: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"weights": dict(self.weights)}, sort_keys=True, allow_nan=False)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ScoreRow:
        try:
            return ScoreRow(
                model=str(data["model"]), video_id=str(data["video_id"]),
                clip_index=None if data["clip_index"] is None else int(data["clip_index"]),
                metric=str(data["metric"]), value=float(data["value"]), evaluator=str(data["evaluator"]),
                evaluator_version=str(data["evaluator_version"]), weights=dict(data.get("weights") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"malformed score row {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% bootstrap interval over videos."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class MetricResult:
    """One metric of one run, aggregated: per clip -> mean per video -> mean over videos."""

    metric: str
    evaluator: str
    evaluator_version: str
    weights: Mapping[str, str]
    level: str  # "clip" | "video" | "derived"
    higher_is_better: bool
    description: str
    overall: Interval
    #: Mean over videos at each clip index (the metric along time); empty for video-level metrics.
    by_clip: tuple[float, ...] = ()
    #: Mean per category value, e.g. {"setting=indoor": Interval}
    by_category: Mapping[str, Interval] = field(default_factory=dict)
    unit: str = ""


@dataclass(frozen=True)
class UnavailableEvaluator:
    """An evaluator that could not run: why, and how to make it available. Never a number."""

    evaluator: str
    reason: str


@dataclass(frozen=True)
class Results:
    """Everything ``results.json`` holds for one model on one split."""

    schema_version: str
    model: str
    model_fingerprint: Mapping[str, str]
    split: str
    split_manifest_sha256: str
    seed: int
    protocol: Mapping[str, Any]
    metrics: tuple[MetricResult, ...]
    unavailable: tuple[UnavailableEvaluator, ...]
    provenance: Mapping[str, Any]
    num_videos: int

    def metric(self, name: str) -> MetricResult:
        for m in self.metrics:
            if m.metric == name:
                return m
        raise KeyError(name)


def results_to_dict(results: Results) -> dict[str, Any]:
    return asdict(results)


def _interval(d: Mapping[str, Any]) -> Interval:
    return Interval(mean=float(d["mean"]), low=float(d["low"]), high=float(d["high"]), n=int(d["n"]))


def results_from_dict(data: Mapping[str, Any]) -> Results:
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise SchemaError(f"results schema version {version!r} is not supported (this is {SCHEMA_VERSION})")
    try:
        metrics = tuple(
            MetricResult(
                metric=m["metric"], evaluator=m["evaluator"], evaluator_version=m["evaluator_version"],
                weights=dict(m["weights"]), level=m["level"], higher_is_better=bool(m["higher_is_better"]),
                description=m["description"], overall=_interval(m["overall"]),
                by_clip=tuple(float(v) for v in m.get("by_clip", ())),
                by_category={k: _interval(v) for k, v in m.get("by_category", {}).items()},
                unit=str(m.get("unit", "")),
            )
            for m in data["metrics"]
        )
        return Results(
            schema_version=version, model=data["model"], model_fingerprint=dict(data["model_fingerprint"]),
            split=data["split"], split_manifest_sha256=data["split_manifest_sha256"], seed=int(data["seed"]),
            protocol=dict(data["protocol"]), metrics=metrics,
            unavailable=tuple(UnavailableEvaluator(**u) for u in data["unavailable"]),
            provenance=dict(data["provenance"]), num_videos=int(data["num_videos"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"malformed results: {exc}") from exc


def load_results(path: Path | str) -> Results:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise SchemaError(f"{path}: no results here (run `longvgenbench evaluate` first)")
    try:
        return results_from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON: {exc}") from exc


def read_rows(path: Path | str) -> list[ScoreRow]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(ScoreRow.from_dict(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{path}:{n}: not valid JSON: {exc}") from exc
    return rows


def rows_to_lines(rows: Iterable[ScoreRow]) -> list[str]:
    return [r.to_json() for r in rows]
