"""Charts beyond the curves over time: per-category bars, a radar of normalised scores, and a
contact sheet of frames along the video.

Normalisation for the radar: metrics that are VBench dimensions use VBench's own (Min, Max)
ranges for its Total score (PROTOCOL.md §4); SSIM and LPIPS use their natural range [0, 1]
(LPIPS inverted, so outward is better everywhere). Any other metric has no agreed range, so it
is scaled between the worst (0) and best (1) of the runs shown, after turning lower-is-better
around; such axes are marked "(relative)" and need at least two runs. Each chart says which.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from longvgenbench.report.inputs import MetricInfo, Run, find_metric
from longvgenbench.report.plots import _RC, MARKERS, _to_bytes

#: (low, high) of a metric's fixed scale; the source of each is in ``RANGE_SOURCES``
FIXED_RANGES: dict[str, tuple[float, float]] = {
    "subject_consistency": (0.1462, 1.0), "background_consistency": (0.2615, 1.0),
    "temporal_flickering": (0.6293, 1.0), "motion_smoothness": (0.706, 0.9975),
    "dynamic_degree": (0.0, 1.0), "aesthetic_quality": (0.0, 1.0), "imaging_quality": (0.0, 1.0),
    "overall_consistency": (0.0, 0.364), "ssim": (0.0, 1.0), "lpips": (0.0, 1.0),
}
RANGE_SOURCES = {name: "VBench Total-score range" for name in FIXED_RANGES} | {
    "ssim": "natural range [0, 1]", "lpips": "natural range [0, 1], inverted"}
CONTACT_TIMES = (0.0, 15.0, 30.0, 45.0, 60.0)


@dataclass(frozen=True)
class Chart:
    stem: str
    caption: str
    png: bytes
    svg: bytes


def _render(fig: plt.Figure, stem: str, caption: str) -> Chart:
    try:
        return Chart(stem=stem, caption=caption, png=_to_bytes(fig, "png"), svg=_to_bytes(fig, "svg"))
    finally:
        plt.close(fig)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._") or "metric"


def category_bars(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> list[Chart]:
    """Per measured metric with categories: one group of bars per category value, one bar per run,
    with the 95% interval as an error bar."""
    colours = plt.get_cmap("tab10").colors
    charts, taken = [], set()
    for name, info in infos.items():
        if info.level == "derived":
            continue
        found = [(i, run, m) for i, run in enumerate(runs) if (m := find_metric(run, name)) and m.by_category]
        if not found:
            continue
        categories = sorted({c for _, _, m in found for c in m.by_category})
        width = 0.8 / len(found)
        with plt.rc_context(_RC):
            fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(categories) + 2), 3.6))
            x = np.arange(len(categories))
            for k, (i, run, m) in enumerate(found):
                ivs = [m.by_category.get(c) for c in categories]
                means = [iv.mean if iv else math.nan for iv in ivs]
                err = np.array([[iv.mean - iv.low if iv else 0, iv.high - iv.mean if iv else 0] for iv in ivs]).T
                ax.bar(x + (k - (len(found) - 1) / 2) * width, means, width, yerr=err, capsize=2,
                       color=colours[i % len(colours)], label=run.label)
            ax.set_xticks(x, categories, rotation=20, ha="right", fontsize=8)
            ax.set_ylabel(f"{name} ({'higher' if info.higher_is_better else 'lower'} is better)")
            ax.set_title(f"{name} by category (95% intervals)")
            ax.legend(fontsize=8, frameon=False)
            ax.grid(True, axis="y", alpha=0.3)
            stem = f"{_safe(name)}_by_category"
            while stem in taken:
                stem += "_"
            taken.add(stem)
            charts.append(_render(fig, stem, f"{name} by category"))
    return charts


@dataclass(frozen=True)
class RadarAxis:
    metric: str
    how: str  # how it was normalised
    values: tuple[float, ...]  # per run, in [0, 1] (nan where the run lacks it)


def radar_axes(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> list[RadarAxis]:
    """Normalised scores per measured metric (see the module doc); outward is better on every axis."""
    axes = []
    for name, info in infos.items():
        if info.level == "derived" or info.versions_differ:
            continue
        means = [m.overall.mean if (m := find_metric(run, name)) else math.nan for run in runs]
        if name in FIXED_RANGES:
            low, high = FIXED_RANGES[name]
            norm = [(v - low) / (high - low) for v in means]
            how = RANGE_SOURCES[name]
        else:
            finite = [v for v in means if math.isfinite(v)]
            if len(finite) < 2 or max(finite) == min(finite):
                continue
            lo, hi = min(finite), max(finite)
            norm = [(v - lo) / (hi - lo) for v in means]
            how = "relative: worst run shown = 0, best = 1"
        if not info.higher_is_better:
            norm = [1 - v for v in norm]
        axes.append(RadarAxis(metric=name, how=how, values=tuple(float(np.clip(v, 0, 1)) if math.isfinite(v)
                                                                  else math.nan for v in norm)))
    return axes


def radar(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> Chart | None:
    axes = radar_axes(runs, infos)
    if len(axes) < 3:
        return None
    colours = plt.get_cmap("tab10").colors
    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    with plt.rc_context(_RC):
        fig = plt.figure(figsize=(6.0, 6.0))
        ax = fig.add_subplot(polar=True)
        for i, run in enumerate(runs):
            values = [a.values[i] for a in axes]
            closed = [*values, values[0]]
            ax.plot([*angles, angles[0]], closed, marker=MARKERS[i % len(MARKERS)],
                    color=colours[i % len(colours)], label=run.label)
            ax.fill([*angles, angles[0]], [0 if math.isnan(v) else v for v in closed],
                    color=colours[i % len(colours)], alpha=0.08)
        labels = [a.metric + (" (relative)" if a.how.startswith("relative") else "") for a in axes]
        ax.set_xticks(angles, labels, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title("Normalised scores (outward is better)")
        ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8, frameon=False)
        return _render(fig, "radar", "Normalised scores: " + "; ".join(f"{a.metric}: {a.how}" for a in axes))


@dataclass(frozen=True)
class ContactCell:
    seconds: float
    frame: np.ndarray | None  # None: the video is shorter
    note: str


def contact_frames(video: Path, times: Sequence[float], fps: float) -> list[ContactCell]:
    """Frames at ``times`` seconds of ``video`` (frame round(t * fps)), decoded in one pass."""
    from longvgenbench.video_io import iter_frames, probe

    info = probe(video)
    wanted = {t: round(t * fps) for t in times}
    found: dict[int, np.ndarray] = {}
    targets = {i for i in wanted.values() if i < info.num_frames}
    if targets:
        for index, frame in enumerate(iter_frames(video, 0, max(targets) + 1)):
            if index in targets:
                found[index] = frame
    return [ContactCell(t, found.get(i), "" if i in found else f"ends at {info.num_frames / fps:.1f} s")
            for t, i in wanted.items()]


def contact_sheet(runs: Sequence[Run], video_id: str, times: Sequence[float] = CONTACT_TIMES) -> Chart | None:
    """One row per run with a generated ``videos/<video_id>/video.mp4``, one column per time."""
    from longvgenbench.report.inputs import grid_of

    rows = []
    for run in runs:
        if run.run_dir is None:
            continue
        video = run.run_dir / "videos" / video_id / "video.mp4"
        if video.is_file():
            fps = grid_of(run.results).fps or 16.0
            rows.append((run.label, contact_frames(video, times, fps)))
    if not rows:
        return None
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(len(rows), len(times), figsize=(2.2 * len(times), 1.5 * len(rows) + 0.5),
                                 squeeze=False)
        for r, (label, cells) in enumerate(rows):
            for c, cell in enumerate(cells):
                ax = axes[r][c]
                ax.set_xticks([])
                ax.set_yticks([])
                if cell.frame is not None:
                    ax.imshow(cell.frame)
                else:
                    ax.text(0.5, 0.5, cell.note, ha="center", va="center", fontsize=8, transform=ax.transAxes)
                if r == 0:
                    ax.set_title(f"{cell.seconds:g} s", fontsize=9)
                if c == 0:
                    ax.set_ylabel(label, fontsize=8)
        fig.suptitle(f"Video {video_id}: frames along the video")
        fig.tight_layout()
        return _render(fig, f"contact_sheet_{_safe(video_id)}", f"Contact sheet of {video_id}")
