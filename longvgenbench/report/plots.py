"""Plots of each clip-level metric along the video, and one overview of all of them.

The point of a long-video benchmark is how quality holds up over a minute, so the x axis is
time in seconds (each clip placed at its centre, from the run's own grid), not clip index:
runs on different grids then still share an axis. Figures are rendered to bytes and written
atomically; the Agg backend keeps this usable on machines without a display.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display needed, same output everywhere

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from longvgenbench.report.inputs import MetricInfo, Run, find_metric, grid_of
from longvgenbench.report.tables import arrow

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: svg.hashsalt and no date make the same data give the same SVG bytes (diffable reports)
_RC = {"svg.hashsalt": "longvgenbench-report", "svg.fonttype": "path", "figure.dpi": 100}


@dataclass(frozen=True)
class Series:
    """One run's curve of one metric: x in seconds (or clip index when the grid is unknown)."""

    label: str
    #: position of the run in the report: fixes its colour and marker in every figure
    run_index: int
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class RenderedPlot:
    metric: str
    stem: str  # file name without extension, e.g. "ssim_over_time"
    png: bytes
    svg: bytes


def file_stem(metric: str, taken: set[str]) -> str:
    """A safe, unique file name stem for a metric (names come from plug-ins and may hold anything)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", metric).strip("._") or "metric"
    stem, k = f"{base}_over_time", 2
    while stem in taken or stem == "overview":
        stem, k = f"{base}_{k}_over_time", k + 1
    taken.add(stem)
    return stem


def clip_metrics(infos: Mapping[str, MetricInfo], runs: Sequence[Run]) -> list[str]:
    """Metrics with a value per clip index in at least one run (video-level ones have none)."""
    return [name for name in infos if any((m := find_metric(run, name)) is not None and m.by_clip for run in runs)]


def series_for(metric: str, runs: Sequence[Run]) -> tuple[list[Series], bool]:
    """Curves of ``metric``; the flag says whether x is in seconds (every run recorded its grid)."""
    grids = {run.label: grid_of(run.results) for run in runs}
    in_seconds = all(g.has_time for g in grids.values())
    out = []
    for run_index, run in enumerate(runs):
        m = find_metric(run, metric)
        if m is None or not m.by_clip:
            continue
        grid = grids[run.label]
        if in_seconds:
            assert grid.stride is not None and grid.fps is not None
            half = ((grid.clip_frames or grid.stride + 1) - 1) / 2
            x = tuple((k * grid.stride + half) / grid.fps for k in range(len(m.by_clip)))
        else:
            x = tuple(float(k) for k in range(len(m.by_clip)))
        out.append(Series(label=run.label, run_index=run_index, x=x, y=tuple(m.by_clip)))
    return out, in_seconds


def _draw(ax: Axes, metric: str, info: MetricInfo, series: Sequence[Series], in_seconds: bool, small: bool) -> None:
    colours = plt.get_cmap("tab10").colors
    for s in series:
        y = [v if math.isfinite(v) else float("nan") for v in s.y]
        i = s.run_index
        ax.plot(s.x, y, marker=MARKERS[i % len(MARKERS)], color=colours[i % len(colours)], label=s.label,
                linewidth=1.2 if small else 1.6, markersize=3.5 if small else 5)
    better = "higher is better" if info.higher_is_better else "lower is better"
    ax.set_xlabel("time in video, clip centre (s)" if in_seconds else "clip index (grid not recorded)")
    ax.set_ylabel(f"{metric} ({arrow(info.higher_is_better)} {better})" if not small else metric)
    if small:
        ax.set_title(f"{metric} {arrow(info.higher_is_better)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.03)


def _to_bytes(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    fig.savefig(buffer, format=fmt, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def metric_plot(metric: str, info: MetricInfo, runs: Sequence[Run], stem: str) -> RenderedPlot:
    series, in_seconds = series_for(metric, runs)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 4.0))
        try:
            _draw(ax, metric, info, series, in_seconds, small=False)
            title = f"{metric} over time"
            if info.versions_differ:
                title += " (⚠ evaluator versions differ)"
            ax.set_title(title)
            ax.legend(loc="best", fontsize=9, frameon=False)
            return RenderedPlot(metric=metric, stem=stem, png=_to_bytes(fig, "png"), svg=_to_bytes(fig, "svg"))
        finally:
            plt.close(fig)


def overview_plot(metrics: Sequence[str], infos: Mapping[str, MetricInfo], runs: Sequence[Run]) -> RenderedPlot:
    """Small multiples of every clip-level metric over time, with one shared legend."""
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    with plt.rc_context(_RC):
        # shared time axis: the panels line up along the video
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.9 * nrows + 0.6), squeeze=False, sharex=True)
        try:
            for ax, metric in zip(axes.flat, metrics, strict=False):
                series, in_seconds = series_for(metric, runs)
                _draw(ax, metric, infos[metric], series, in_seconds, small=True)
            for k, ax in enumerate(axes.flat):
                if k >= len(metrics):
                    ax.set_visible(False)
                    if k >= ncols:  # the panel above an empty slot is a bottom panel: give it its ticks
                        axes.flat[k - ncols].xaxis.set_tick_params(labelbottom=True)
                elif k < len(metrics) - ncols:
                    ax.set_xlabel("")
            handles: dict[str, object] = {}
            for ax in axes.flat:
                for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                    handles.setdefault(label, handle)
            fig.suptitle("All clip-level metrics over time")
            legend_inches = 0.1 + 0.25 * math.ceil(len(handles) / 4)  # room for the legend, whatever the grid
            fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
            fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=min(4, len(handles)),
                       frameon=False, bbox_to_anchor=(0.5, legend_inches / fig.get_figheight()))
            return RenderedPlot(metric="", stem="overview", png=_to_bytes(fig, "png"), svg=_to_bytes(fig, "svg"))
        finally:
            plt.close(fig)
