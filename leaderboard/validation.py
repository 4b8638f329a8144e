"""Submission validation: one function, used by the server, the ``submit`` CLI and CI alike.

A submission is accepted only if every number on the leaderboard can be traced to rows that
the installed evaluators could have produced on the registered split:

- the results schema version is one this package reads; names and sizes are bounded;
- the split is registered here (by manifest sha256) and the grid matches it;
- every evaluator is installed here, at the same version, with the same weight hashes
  (rows and aggregates agree with each other, and with what is installed: "current");
- every (metric, video, clip) of the split appears exactly once in samples.jsonl;
- the aggregates, recomputed from the rows with :mod:`longvgenbench.evaluation.aggregate`,
  equal the submitted ones (means, intervals, curves, categories) within float tolerance.

The verdict is a typed record listing every problem found, each with a code, the field it is
about and a message a person can act on. Nothing in a submission is executed or unpickled.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from leaderboard.schema import SplitDefinition, SubmissionDocument, SubmissionFormatError, strict_json
from longvgenbench.errors import LongVGenBenchError
from longvgenbench.evaluation.aggregate import aggregate
from longvgenbench.evaluation.api import Evaluator, Level, MetricSpec, VideoScorer
from longvgenbench.records import VideoSample
from longvgenbench.results import SCHEMA_VERSION, Interval, MetricResult, Results, ScoreRow, results_from_dict

REL_TOL = 1e-9
ABS_TOL = 1e-12
MAX_PROBLEMS_PER_CODE = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one submission may hold (LongVGenBench itself needs about 1% of these)."""

    max_bytes: int = 64 * 1024 * 1024
    max_rows: int = 1_000_000
    max_videos: int = 10_000
    max_metrics: int = 500
    max_name_chars: int = 200


@dataclass(frozen=True)
class EvaluatorInfo:
    """What an installed evaluator is: the reference a submission's evaluator must match."""

    name: str
    version: str
    metrics: tuple[MetricSpec, ...]
    #: sha256 of its weight files here; None where they are not available (then ``weights_problem`` says why)
    weights: Mapping[str, str] | None
    weights_problem: str = ""


@dataclass(frozen=True)
class Problem:
    code: str
    field: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of validation. ``accepted`` iff ``problems`` is empty."""

    problems: tuple[Problem, ...]
    content_sha256: str
    model: str = ""
    split: str = ""
    num_rows: int = 0
    results: Results | None = field(default=None, compare=False)

    @property
    def accepted(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.accepted:
            return f"accepted: {self.model} on {self.split} ({self.num_rows} score rows)"
        return "rejected: " + "; ".join(f"[{p.code}] {p.field}: {p.message}" for p in self.problems)


def installed_evaluators() -> dict[str, EvaluatorInfo]:
    """Every evaluator registered here, with its version, metrics and weight hashes (if present)."""
    from longvgenbench import registry

    infos = {}
    for name in registry.names(registry.EVALUATORS):
        try:
            evaluator = registry.create_evaluator(name)
        except Exception:  # a broken plug-in is simply not installed, as far as validation goes
            continue
        try:
            weights: dict[str, str] | None = dict(evaluator.weight_hashes())
            problem = ""
        except LongVGenBenchError as exc:
            weights, problem = None, str(exc)
        infos[name] = EvaluatorInfo(name=name, version=str(evaluator.version), metrics=tuple(evaluator.metrics),
                                    weights=weights, weights_problem=problem)
    return infos


class _DeclaredEvaluator(Evaluator):
    """An installed evaluator's identity for re-aggregation: it never scores, it only names metrics."""

    def __init__(self, info: EvaluatorInfo, weights: Mapping[str, str]) -> None:
        super().__init__("cpu")
        self.name = info.name  # type: ignore[misc]
        self.version = info.version  # type: ignore[misc]
        self.metrics = info.metrics  # type: ignore[misc]
        self._weights = dict(weights)

    def weight_hashes(self) -> dict[str, str]:
        return dict(self._weights)

    def begin_video(self, sample: VideoSample) -> VideoScorer:
        raise NotImplementedError("a declared evaluator only re-aggregates submitted rows")


class _Collector:
    """Problems, at most a few per code (the count of the rest is kept, so nothing is hidden)."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.extra: Counter[str] = Counter()

    def add(self, code: str, where: str, message: str) -> None:
        if sum(1 for p in self.items if p.code == code) >= MAX_PROBLEMS_PER_CODE:
            self.extra[code] += 1
        else:
            self.items.append(Problem(code, where, message))

    def done(self) -> tuple[Problem, ...]:
        more = [Problem(code, "(more)", f"{n} more problem(s) of this kind") for code, n in sorted(self.extra.items())]
        return (*self.items, *more)


def validate(doc: SubmissionDocument, splits: Mapping[str, SplitDefinition],
             evaluators: Mapping[str, EvaluatorInfo], limits: Limits = Limits()) -> Verdict:
    """Check a submission against the registered ``splits`` (by manifest sha256) and installed ``evaluators``."""
    out = _Collector()
    sha = doc.content_sha256()
    size = len(doc.results_json.encode()) + len(doc.samples_jsonl.encode())
    if size > limits.max_bytes:
        out.add("too_large", "submission", f"{size} bytes; the limit is {limits.max_bytes}")
        return Verdict(out.done(), sha)
    try:
        results = results_from_dict(strict_json(doc.results_json, "results.json"))
    except LongVGenBenchError as exc:
        out.add("schema", "results.json", f"{exc} (this server reads results schema {SCHEMA_VERSION})")
        return Verdict(out.done(), sha)
    _check_names(results, limits, out)
    split = splits.get(results.split_manifest_sha256)
    if split is None:
        known = ", ".join(f"{d.name} ({k[:12]})" for k, d in sorted(splits.items())) or "(none)"
        out.add("unknown_split", "results.split_manifest_sha256",
                f"split {results.split!r} with manifest {results.split_manifest_sha256[:16]}... is not registered "
                f"here; registered splits: {known}")
        return Verdict(out.done(), sha, results.model, results.split, results=results)
    _check_split(results, split, limits, out)
    rows = _parse_rows(doc.samples_jsonl, results, limits, out)
    _check_evaluators(results, rows, evaluators, out)
    _check_coverage(rows, split, evaluators, out)
    _check_video_hashes(doc.video_sha256, split, out)
    if not out.items:  # only rows that passed every check above are worth re-aggregating
        _check_aggregates(results, rows, split, evaluators, out)
    return Verdict(out.done(), sha, results.model, results.split, len(rows), results)


def _check_names(results: Results, limits: Limits, out: _Collector) -> None:
    for name, value in (("model", results.model), ("split", results.split)):
        if not value.strip():
            out.add("bad_name", f"results.{name}", "must not be empty")
        elif len(value) > limits.max_name_chars:
            out.add("bad_name", f"results.{name}", f"{len(value)} characters; the limit is {limits.max_name_chars}")
    if len(results.metrics) > limits.max_metrics:
        out.add("too_large", "results.metrics", f"{len(results.metrics)} metrics; the limit is {limits.max_metrics}")


def _check_split(results: Results, split: SplitDefinition, limits: Limits, out: _Collector) -> None:
    if results.split != split.name:
        out.add("split_mismatch", "results.split",
                f"{results.split!r}, but manifest {split.manifest_sha256[:12]} is split {split.name!r}")
    grid = results.protocol.get("grid")
    expected = {"clip_frames": split.grid.clip_frames, "stride": split.grid.stride, "fps": split.grid.fps,
                "height": split.grid.height, "width": split.grid.width}
    if not isinstance(grid, Mapping) or {k: grid.get(k) for k in expected} != expected:
        out.add("grid_mismatch", "results.protocol.grid", f"{grid!r}; the split's grid is {expected}")
    if results.num_videos != len(split.videos):
        out.add("missing_sample", "results.num_videos",
                f"{results.num_videos} videos; split {split.name!r} has {len(split.videos)}")
    if len(split.videos) > limits.max_videos:
        out.add("too_large", "split", f"{len(split.videos)} videos; the limit is {limits.max_videos}")


def _parse_rows(text: str, results: Results, limits: Limits, out: _Collector) -> list[ScoreRow]:
    rows: list[ScoreRow] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(rows) >= limits.max_rows:
            out.add("too_large", "samples.jsonl", f"more than {limits.max_rows} rows")
            break
        try:
            data = strict_json(line, f"samples.jsonl line {number}")
            if not isinstance(data, dict):
                raise SubmissionFormatError(f"samples.jsonl line {number}: not a JSON object")
            row = ScoreRow.from_dict(data)
        except LongVGenBenchError as exc:
            out.add("bad_row", f"samples.jsonl:{number}", str(exc))
            continue
        if not math.isfinite(row.value):
            out.add("bad_row", f"samples.jsonl:{number}", f"value {row.value} is not finite")
            continue
        if row.model != results.model:
            out.add("bad_row", f"samples.jsonl:{number}", f"model {row.model!r}, but results.json is {results.model!r}")
        rows.append(row)
    if not rows:
        out.add("missing_sample", "samples.jsonl", "no score rows")
    return rows


def _identity(version: str, weights: Mapping[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return version, tuple(sorted((str(k), str(v)) for k, v in weights.items()))


def _check_evaluators(results: Results, rows: Sequence[ScoreRow], evaluators: Mapping[str, EvaluatorInfo],
                      out: _Collector) -> None:
    seen: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = defaultdict(set)
    for row in rows:
        seen[row.evaluator].add(_identity(row.evaluator_version, row.weights))
    for m in results.metrics:
        seen[m.evaluator].add(_identity(m.evaluator_version, m.weights))
    for name, identities in sorted(seen.items()):
        info = evaluators.get(name)
        if info is None:
            out.add("unknown_evaluator", f"evaluator {name}",
                    f"not installed on this server (installed: {', '.join(sorted(evaluators)) or 'none'})")
            continue
        if len(identities) > 1:
            listing = "; ".join(f"version {v} weights {dict(w)}" for v, w in sorted(identities))
            out.add("inconsistent_evaluator", f"evaluator {name}",
                    f"rows and aggregates name different versions or weights: {listing}")
        versions = {v for v, _ in identities}
        if versions != {info.version}:
            out.add("stale_evaluator", f"evaluator {name}",
                    f"version {', '.join(sorted(versions))}; the current version is {info.version}: re-evaluate")
        if info.weights is None:
            out.add("weights_unverifiable", f"evaluator {name}",
                    f"this server cannot check its weights: {info.weights_problem}")
        elif any(dict(w) != dict(info.weights) for _, w in identities):
            out.add("stale_weights", f"evaluator {name}",
                    f"weight sha256 {[dict(w) for _, w in sorted(identities)]} differ from the current "
                    f"{dict(info.weights)}")
    for m in results.metrics:
        info = evaluators.get(m.evaluator)
        names = {s.name for s in info.metrics} | {f"drift/{s.name}" for s in info.metrics} if info else set()
        if info is not None and m.metric not in names:
            out.add("unknown_metric", f"results.metrics {m.metric}", f"evaluator {m.evaluator} has no such metric")


def _check_coverage(rows: Sequence[ScoreRow], split: SplitDefinition, evaluators: Mapping[str, EvaluatorInfo],
                    out: _Collector) -> None:
    """Every (metric, video, clip) of the split exactly once; nothing outside the split."""
    by_metric: dict[tuple[str, str], Counter[tuple[str, int | None]]] = defaultdict(Counter)
    for row in rows:
        by_metric[(row.evaluator, row.metric)][(row.video_id, row.clip_index)] += 1
    for (evaluator, metric), counts in sorted(by_metric.items(), key=lambda kv: kv[0]):
        info = evaluators.get(evaluator)
        spec = next((s for s in info.metrics if s.name == metric), None) if info else None
        if info is not None and spec is None:
            out.add("unknown_metric", f"samples.jsonl {metric}", f"evaluator {evaluator} has no metric {metric!r}")
            continue
        if spec is None:
            continue  # unknown evaluator: already reported
        if spec.level is Level.CLIP:
            expected = {(v.video_id, k) for v in split.videos for k in range(v.num_clips)}
        else:
            expected = {(v.video_id, None) for v in split.videos}
        duplicates = sorted((k for k, n in counts.items() if n > 1), key=str)
        missing = sorted(expected - set(counts), key=str)
        unexpected = sorted(set(counts) - expected, key=str)
        for what, keys, code in (("duplicated", duplicates, "duplicate_sample"), ("missing", missing,
                                 "missing_sample"), ("not in the split", unexpected, "unexpected_sample")):
            if keys:
                shown = ", ".join(f"{v} clip {c}" if c is not None else f"{v} (video)" for v, c in keys[:5])
                out.add(code, f"samples.jsonl {metric}",
                        f"{len(keys)} (video, clip) {what}: {shown}{' ...' if len(keys) > 5 else ''}")


def _check_video_hashes(hashes: Mapping[str, str], split: SplitDefinition, out: _Collector) -> None:
    if not hashes:
        return
    ids = {v.video_id for v in split.videos}
    if set(hashes) != ids:
        out.add("video_hashes", "video_sha256",
                f"{len(set(hashes) - ids)} unknown and {len(ids - set(hashes))} missing video ids")
    bad = sorted(k for k, v in hashes.items() if not _SHA256.match(v))
    if bad:
        out.add("video_hashes", "video_sha256", f"not a lowercase hex sha256 for {', '.join(bad[:5])}")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _interval_diff(a: Interval, b: Interval) -> str:
    if a.n != b.n or not all(_close(x, y) for x, y in ((a.mean, b.mean), (a.low, b.low), (a.high, b.high))):
        return (f"submitted {a.mean!r} [{a.low!r}, {a.high!r}] n={a.n}, "
                f"recomputed {b.mean!r} [{b.low!r}, {b.high!r}] n={b.n}")
    return ""


def _metric_diffs(sub: MetricResult, ref: MetricResult) -> list[str]:
    diffs = []
    for name in ("evaluator", "evaluator_version", "level", "higher_is_better"):
        if getattr(sub, name) != getattr(ref, name):
            diffs.append(f"{name} {getattr(sub, name)!r} should be {getattr(ref, name)!r}")
    if dict(sub.weights) != dict(ref.weights):
        diffs.append("weights differ")
    if text := _interval_diff(sub.overall, ref.overall):
        diffs.append(f"overall: {text}")
    same_curve = len(sub.by_clip) == len(ref.by_clip) and all(
        _close(a, b) for a, b in zip(sub.by_clip, ref.by_clip, strict=True))
    if not same_curve:
        diffs.append(f"by_clip {list(sub.by_clip)} should be {list(ref.by_clip)}")
    if set(sub.by_category) != set(ref.by_category):
        diffs.append(f"categories {sorted(sub.by_category)} should be {sorted(ref.by_category)}")
    else:
        diffs += [f"by_category {k}: {t}" for k in sorted(ref.by_category)
                  if (t := _interval_diff(sub.by_category[k], ref.by_category[k]))]
    return diffs


def _check_aggregates(results: Results, rows: Sequence[ScoreRow], split: SplitDefinition,
                      evaluators: Mapping[str, EvaluatorInfo], out: _Collector) -> None:
    weights = {r.evaluator: r.weights for r in rows}
    names = sorted({r.evaluator for r in rows} | {m.evaluator for m in results.metrics})
    declared = [_DeclaredEvaluator(evaluators[n], weights.get(n, {})) for n in names]
    recomputed = {m.metric: m for m in aggregate(rows, declared, split.as_split())}
    submitted = {m.metric: m for m in results.metrics}
    if len(submitted) != len(results.metrics):
        out.add("aggregate_mismatch", "results.metrics", "a metric appears more than once")
    for name in sorted(set(recomputed) - set(submitted)):
        out.add("aggregate_mismatch", f"results.metrics {name}", "has rows in samples.jsonl but no aggregate")
    for name in sorted(set(submitted) - set(recomputed)):
        out.add("aggregate_mismatch", f"results.metrics {name}", "has an aggregate but no rows in samples.jsonl")
    for name in sorted(set(submitted) & set(recomputed)):
        diffs = _metric_diffs(submitted[name], recomputed[name])
        if diffs:
            out.add("aggregate_mismatch", f"results.metrics {name}", "; ".join(diffs))
