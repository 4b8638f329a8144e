"""Paired comparisons of runs on the same split: per metric, other run minus baseline, per video.

Two runs on the same videos are compared video by video (each video's value is the mean of its
clip scores, as in aggregation), so the variation between videos, which is large and shared,
cancels out. The interval is the same 95% percentile bootstrap over videos as every other
interval of the suite (:func:`longvgenbench.evaluation.aggregate.bootstrap_interval`); a
difference whose interval contains 0 is marked "not significant". Needs each run's
samples.jsonl (the per-video values), so it takes run directories.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from longvgenbench.evaluation.aggregate import bootstrap_interval
from longvgenbench.report.document import Cell, Table
from longvgenbench.report.inputs import ReportInputError, Run, check_splits, find_metric, make_runs, metric_infos
from longvgenbench.report.tables import arrow, decimals_for, format_interval
from longvgenbench.results import Interval, ScoreRow, load_results, read_rows


@dataclass(frozen=True)
class PairedDifference:
    metric: str
    baseline: str
    other: str
    higher_is_better: bool
    #: mean over paired videos of (other - baseline), with its 95% bootstrap interval; n = paired videos
    difference: Interval
    significant: bool
    #: "other", "baseline" or "" (not significant)
    better: str
    #: videos in only one of the two runs (left out of the pairing)
    unpaired: int
    versions_differ: bool


def per_video(rows: Sequence[ScoreRow]) -> dict[str, dict[str, float]]:
    """metric -> video id -> mean of its rows (clip scores or the one video score)."""
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row.metric][row.video_id].append(row.value)
    return {m: {v: float(np.mean(vals)) for v, vals in videos.items()} for m, videos in grouped.items()}


def load_runs(run_dirs: Sequence[Path | str]) -> tuple[tuple[Run, ...], list[dict[str, dict[str, float]]]]:
    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ReportInputError("compare needs at least two run directories (the first is the baseline)")
    for d in dirs:
        if not (d / "samples.jsonl").is_file():
            raise ReportInputError(f"{d}: no samples.jsonl (paired differences need per-video scores); "
                                   "evaluate the run first")
    runs = make_runs([load_results(d) for d in dirs], dirs)
    return runs, [per_video(read_rows(d / "samples.jsonl")) for d in dirs]


def paired_differences(runs: Sequence[Run], values: Sequence[dict[str, dict[str, float]]]) -> list[PairedDifference]:
    """Every other run against ``runs[0]``, for every metric both have. Refuses different splits."""
    check_splits(runs, allow_mixed=False)
    infos = metric_infos(runs)
    base, base_values = runs[0], values[0]
    out = []
    for run, run_values in zip(runs[1:], values[1:], strict=True):
        for name, info in infos.items():
            a, b = base_values.get(name), run_values.get(name)
            if not a or not b or find_metric(base, name) is None or find_metric(run, name) is None:
                continue
            paired = sorted(set(a) & set(b))
            if not paired:
                continue
            interval = bootstrap_interval([b[v] - a[v] for v in paired])
            significant = len(paired) > 1 and (interval.low > 0 or interval.high < 0)
            better = ""
            if significant:
                better = "other" if (interval.mean > 0) == info.higher_is_better else "baseline"
            versions_differ = (find_metric(base, name).evaluator_version  # type: ignore[union-attr]
                               != find_metric(run, name).evaluator_version)  # type: ignore[union-attr]
            out.append(PairedDifference(
                metric=name, baseline=base.label, other=run.label, higher_is_better=info.higher_is_better,
                difference=interval, significant=significant, better=better,
                unpaired=len(set(a) ^ set(b)), versions_differ=versions_differ,
            ))
    return out


def differences_frame(diffs: Sequence[PairedDifference]) -> pd.DataFrame:
    return pd.DataFrame([{
        "metric": d.metric, "baseline": d.baseline, "other": d.other, "higher_is_better": d.higher_is_better,
        "difference": d.difference.mean, "low": d.difference.low, "high": d.difference.high,
        "paired_videos": d.difference.n, "unpaired_videos": d.unpaired, "significant": d.significant,
        "better": d.better, "versions_differ": d.versions_differ,
    } for d in diffs], columns=["metric", "baseline", "other", "higher_is_better", "difference", "low", "high",
                                "paired_videos", "unpaired_videos", "significant", "better", "versions_differ"])


def verdict_text(d: PairedDifference) -> str:
    if d.difference.n < 2:
        return "one video only: no interval"
    if not d.significant:
        return "not significant (interval contains 0)"
    return f"{d.other if d.better == 'other' else d.baseline} better"


def differences_table(diffs: Sequence[PairedDifference]) -> Table:
    rows = []
    for d in diffs:
        decimals = decimals_for([d.difference])
        note = verdict_text(d) + (" ⚠ evaluator versions differ" if d.versions_differ else "")
        rows.append((Cell(f"{d.metric} {arrow(d.higher_is_better)}"), Cell(d.other), Cell(d.baseline),
                     Cell(format_interval(d.difference, decimals), bold=d.significant),
                     Cell(str(d.difference.n)), Cell(note)))
    return Table(header=("metric", "run", "minus baseline", "difference [95% interval]", "paired videos", "verdict"),
                 rows=tuple(rows), numeric_from=3)
