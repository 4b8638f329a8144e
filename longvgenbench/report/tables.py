"""Tables of a report: the long CSV table (pandas) and the formatted tables of the document.

Precision is chosen per metric from the data, not per metric name: enough decimals to show two
significant digits of the narrowest 95% interval, so a reader sees what the uncertainty allows
and no more. Bold marks the best mean only where the numbers are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from longvgenbench.report import published
from longvgenbench.report.document import Cell, Table
from longvgenbench.report.inputs import MetricInfo, Run, describe_evaluator, find_metric, grid_of
from longvgenbench.results import Interval

CSV_COLUMNS = (
    "model", "metric", "mean", "low", "high", "n", "evaluator", "version",
    "level", "higher_is_better", "split", "split_manifest_sha256", "run_label",
)

MISSING = "—"
UNAVAILABLE = "unavailable"


def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def long_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (run, metric): the overall mean, its 95% interval and who computed it."""
    rows = [
        {
            "model": run.results.model, "metric": m.metric, "mean": m.overall.mean, "low": m.overall.low,
            "high": m.overall.high, "n": m.overall.n, "evaluator": m.evaluator, "version": m.evaluator_version,
            "level": m.level, "higher_is_better": m.higher_is_better, "split": run.results.split,
            "split_manifest_sha256": run.results.split_manifest_sha256, "run_label": run.label,
        }
        for run in runs
        for m in run.results.metrics
    ]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def decimals_for(intervals: Sequence[Interval]) -> int:
    """Decimals that show two significant digits of the narrowest interval (1..4).

    Without any interval width (single videos), fall back on the magnitude of the means:
    three significant digits, at least one decimal.
    """
    widths = [iv.high - iv.low for iv in intervals if math.isfinite(iv.high - iv.low) and iv.high > iv.low]
    if widths:
        return min(4, max(1, 1 - math.floor(math.log10(min(widths)))))
    means = [abs(iv.mean) for iv in intervals if math.isfinite(iv.mean) and iv.mean != 0]
    if not means:
        return 3
    return min(4, max(1, 2 - math.floor(math.log10(max(means)))))


def format_number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else MISSING


def format_interval(iv: Interval, decimals: int) -> str:
    if not math.isfinite(iv.mean):
        return MISSING
    return f"{format_number(iv.mean, decimals)} [{format_number(iv.low, decimals)}, {format_number(iv.high, decimals)}]"


def best_means(values: Mapping[str, float], higher_is_better: bool) -> set[str]:
    """Labels whose mean is the best (ties share it); empty when fewer than two finite values."""
    finite = {k: v for k, v in values.items() if math.isfinite(v)}
    if len(finite) < 2:
        return set()
    target = max(finite.values()) if higher_is_better else min(finite.values())
    return {k for k, v in finite.items() if v == target}


def metric_header(info: MetricInfo) -> str:
    return f"{info.metric} {arrow(info.higher_is_better)}" + (" ⚠" if info.versions_differ else "")


def summary_table(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> Table:
    """One row per run, one column per metric: ``mean [low, high]``; best comparable mean in bold."""
    columns: list[list[Cell]] = []
    for name, info in infos.items():
        found = {run.label: find_metric(run, name) for run in runs}
        decimals = decimals_for([m.overall for m in found.values() if m is not None])
        best = set() if info.versions_differ else best_means(
            {lab: m.overall.mean for lab, m in found.items() if m is not None}, info.higher_is_better
        )
        evaluators = {m.evaluator for m in found.values() if m is not None}
        cells = []
        for run in runs:
            m = found[run.label]
            if m is None:
                gone = {u.evaluator for u in run.results.unavailable} & evaluators
                cells.append(Cell(UNAVAILABLE if gone else MISSING))
                continue
            text = format_interval(m.overall, decimals)
            if m.overall.n != run.results.num_videos:
                text += f" (n={m.overall.n})"
            cells.append(Cell(text, bold=run.label in best))
        columns.append(cells)
    header = ("model", "videos", *(metric_header(info) for info in infos.values()))
    rows = tuple(
        (Cell(run.label), Cell(str(run.results.num_videos)), *(col[i] for col in columns))
        for i, run in enumerate(runs)
    )
    return Table(header=header, rows=rows, numeric_from=1)


def category_tables(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> list[tuple[str, Table]]:
    """Per metric with category breakdowns: one row per run, one column per category value."""
    tables = []
    for name, info in infos.items():
        found = [(run, m) for run in runs if (m := find_metric(run, name)) is not None and m.by_category]
        if not found:
            continue
        categories = sorted({c for _, m in found for c in m.by_category})
        decimals = decimals_for([iv for _, m in found for iv in m.by_category.values()])
        rows = []
        for run, m in found:
            cells = [Cell(run.label)]
            for c in categories:
                iv = m.by_category.get(c)
                cells.append(Cell(MISSING if iv is None else f"{format_interval(iv, decimals)} (n={iv.n})"))
            rows.append(tuple(cells))
        tables.append((metric_header(info), Table(header=("model", *categories), rows=tuple(rows))))
    return tables


def evaluator_table(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> Table:
    """Which evaluator (name, version, weights) produced each metric; one row per run where they differ."""
    rows = []
    for name, info in infos.items():
        found = [(run, m) for run in runs if (m := find_metric(run, name)) is not None]
        if not info.versions_differ:
            run_labels = "all" if len(found) == len(runs) else ", ".join(run.label for run, _ in found)
            rows.append((Cell(metric_header(info)), Cell(run_labels), Cell(describe_evaluator(found[0][1])),
                         Cell(found[0][1].level), Cell(found[0][1].description)))
        else:
            rows.extend((Cell(metric_header(info)), Cell(run.label), Cell(describe_evaluator(m)), Cell(m.level),
                         Cell(m.description)) for run, m in found)
    return Table(header=("metric", "runs", "evaluator", "level", "description"), rows=tuple(rows), numeric_from=99)


def runs_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        r = run.results
        grid = grid_of(r)
        grid_text = (
            f"{grid.clip_frames} frames, stride {grid.stride}, {grid.fps:g} fps, {grid.height}x{grid.width}"
            if grid.has_time else "(not recorded)"
        )
        fingerprint = ", ".join(f"{k}={str(v)[:16]}" for k, v in sorted(r.model_fingerprint.items())) or MISSING
        rows.append((Cell(run.label), Cell(r.split), Cell(r.split_manifest_sha256[:12]), Cell(str(r.num_videos)),
                     Cell(str(r.seed)), Cell(grid_text), Cell(fingerprint),
                     Cell(str(run.run_dir) if run.run_dir is not None else MISSING)))
    header = ("model", "split", "manifest sha256", "videos", "seed", "grid", "fingerprint", "run directory")
    return Table(header=header, rows=tuple(rows), numeric_from=99)


def published_table() -> Table:
    """The paper's Table 1 as printed, best per column in bold (within the published rows only)."""
    best_per_column = [
        best_means({row.method: row.values[i] for row in published.ROWS}, col.higher_is_better)
        for i, col in enumerate(published.COLUMNS)
    ]
    rows = tuple(
        (Cell(row.method), *(
            Cell(format_number(v, col.decimals), bold=row.method in best_per_column[i])
            for i, (col, v) in enumerate(zip(published.COLUMNS, row.values, strict=True))
        ))
        for row in published.ROWS
    )
    header = ("method", *(f"{col.label} {arrow(col.higher_is_better)}" for col in published.COLUMNS))
    return Table(header=header, rows=rows)
