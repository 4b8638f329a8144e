"""``write_report``: results in, a folder with report.md, report.html, metrics.csv/.parquet and plots/ out.

Besides the curves over time: per-category bars, a radar of normalised scores, a contact sheet
of frames along one video (run directories needed), and, with ``paired=True``, paired
differences of every run against the first (``differences.csv``/``.parquet``).

Order matters for safety: inputs are checked before anything is written (a refused report
leaves the folder untouched), plots are written before the HTML that inlines them, and every
file is written atomically. Nothing else in ``out_dir`` is touched or deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from longvgenbench import atomic
from longvgenbench.report import published
from longvgenbench.report.charts import CONTACT_TIMES, Chart, category_bars, contact_sheet, radar
from longvgenbench.report.compare import differences_frame, differences_table, paired_differences, per_video
from longvgenbench.report.document import Block, Bullets, Document, Figure, Heading, Paragraph
from longvgenbench.report.inputs import (
    MetricInfo,
    Run,
    check_splits,
    comparability_warnings,
    describe_evaluator,
    grid_of,
    make_runs,
    metric_infos,
    protocol_text,
)
from longvgenbench.report.plots import clip_metrics, file_stem, metric_plot, overview_plot
from longvgenbench.report.render import render_html, render_markdown
from longvgenbench.report.tables import (
    category_tables,
    evaluator_table,
    long_table,
    published_table,
    runs_table,
    summary_table,
)
from longvgenbench.results import Results


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written. ``plots`` holds every PNG and SVG (per metric, then overview)."""

    markdown: Path
    html: Path
    csv: Path
    plots: tuple[Path, ...]
    #: the comparability flags shown in the report (also useful for a CLI to print)
    warnings: tuple[str, ...]
    parquet: Path | None = None
    #: paired differences against the first run (``paired=True``), as CSV and Parquet
    differences_csv: Path | None = None
    differences_parquet: Path | None = None
    #: not-significant notes and the like, one line per difference (for a CLI to print)
    differences_text: tuple[str, ...] = ()


def write_report(
    results: Sequence[Results],
    out_dir: Path | str,
    *,
    title: str = "LongVGenBench report",
    run_dirs: Sequence[Path | str] | None = None,
    include_published: bool = True,
    allow_mixed_splits: bool = False,
    generated_at: dt.datetime | None = None,
    contact_video: str | None = None,
    paired: bool = False,
) -> ReportFiles:
    """Write a report comparing ``results`` (one per model run) into ``out_dir``.

    Raises ``MixedSplitsError`` for results on different split manifests unless
    ``allow_mixed_splits``; ``ReportInputError`` for no results or mismatched ``run_dirs``.
    ``contact_video``: a video id for the contact sheet (default: the first video of the first run
    directory that has one). ``paired``: add paired differences against the first run (needs
    ``run_dirs`` with samples.jsonl and one split).
    """
    runs = make_runs(results, run_dirs)
    warnings = check_splits(runs, allow_mixed_splits)
    infos = metric_infos(runs)
    warnings += comparability_warnings(runs, infos)
    out = Path(out_dir)
    when = (generated_at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)

    diffs = _paired(runs) if paired else None  # before writing: a refused comparison writes nothing
    figures, plot_paths = _write_plots(runs, infos, out)
    extra = _write_charts(runs, infos, out, contact_video, plot_paths)
    table = long_table(runs)
    csv_path, parquet_path = out / "metrics.csv", out / "metrics.parquet"
    atomic.write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
    atomic.write_bytes(parquet_path, table.to_parquet(index=False))
    files: dict[str, object] = {}
    blocks = _blocks(runs, infos, warnings, figures, when, include_published)
    if diffs is not None:
        frame = differences_frame(diffs)
        files["differences_csv"], files["differences_parquet"] = out / "differences.csv", out / "differences.parquet"
        atomic.write_text(out / "differences.csv", frame.to_csv(index=False, lineterminator="\n"))
        atomic.write_bytes(out / "differences.parquet", frame.to_parquet(index=False))
        files["differences_text"] = tuple(
            f"{d.metric}: {d.other} - {d.baseline} = {d.difference.mean:.4g} "
            f"[{d.difference.low:.4g}, {d.difference.high:.4g}] over {d.difference.n} videos: "
            + ("not significant" if not d.significant else f"{d.other if d.better == 'other' else d.baseline} better")
            for d in diffs)
        blocks = (blocks[0], *_difference_blocks(diffs, runs[0].label), *blocks[1:])
    blocks = (*blocks, *extra)

    doc = Document(title=title, blocks=blocks)
    md_path, html_path = out / "report.md", out / "report.html"
    atomic.write_text(md_path, render_markdown(doc))
    atomic.write_text(html_path, render_html(doc))
    return ReportFiles(markdown=md_path, html=html_path, csv=csv_path, plots=tuple(plot_paths),
                       warnings=tuple(warnings), parquet=parquet_path, **files)  # type: ignore[arg-type]


def _paired(runs: Sequence[Run]) -> list:
    from longvgenbench.report.inputs import ReportInputError
    from longvgenbench.results import read_rows

    if any(run.run_dir is None or not (run.run_dir / "samples.jsonl").is_file() for run in runs):
        raise ReportInputError("paired differences need every run's directory with its samples.jsonl")
    if len(runs) < 2:
        raise ReportInputError("paired differences need at least two runs (the first is the baseline)")
    values = [per_video(read_rows(run.run_dir / "samples.jsonl")) for run in runs]  # type: ignore[operator]
    return paired_differences(runs, values)


def _difference_blocks(diffs: Sequence, baseline: str) -> list[Block]:
    return [
        Heading(2, f"Paired differences against {baseline}"),
        Paragraph("Per video: run minus baseline (each video's value is the mean of its clips); mean over the videos "
                  "both runs have, with a 95% bootstrap interval over videos. Bold: the interval excludes 0. "
                  "\"Not significant\": the interval contains 0, so these videos do not tell the runs apart.",
                  emphasis=True),
        differences_table(diffs) if diffs else Paragraph("No metric is shared by the runs."),
    ]


def _write_charts(runs: Sequence[Run], infos: Mapping[str, MetricInfo], out: Path, contact_video: str | None,
                  paths: list[Path]) -> list[Block]:
    """Per-category bars, the radar and the contact sheet, written beside the other plots."""
    def save(chart: Chart) -> Figure:
        png, svg = out / "plots" / f"{chart.stem}.png", out / "plots" / f"{chart.stem}.svg"
        atomic.write_bytes(png, chart.png)
        atomic.write_bytes(svg, chart.svg)
        paths.extend([png, svg])
        return Figure(caption=chart.caption, png=png, relpath=f"plots/{chart.stem}.png")

    blocks: list[Block] = []
    bars = category_bars(runs, infos)
    if bars:
        blocks += [Heading(2, "By category, as bars"), *(save(c) for c in bars)]
    chart = radar(runs, infos)
    if chart is not None:
        blocks += [Heading(2, "Normalised scores"),
                   Paragraph("VBench dimensions use VBench's (Min, Max) ranges; SSIM and LPIPS their natural [0, 1] "
                             "(LPIPS inverted); any other metric is scaled from the worst (0) to the best (1) run "
                             "shown, so its axis only ranks these runs. Outward is better on every axis."),
                   save(chart)]
    video = contact_video or _first_video(runs)
    if video is not None:
        sheet = contact_sheet(runs, video)
        if sheet is not None:
            seconds = ", ".join(f"{t:g}" for t in CONTACT_TIMES)
            blocks += [Heading(2, "Contact sheet"),
                       Paragraph(f"Frames of {video} at {seconds} s, one row per run."), save(sheet)]
    return blocks


def _first_video(runs: Sequence[Run]) -> str | None:
    for run in runs:
        if run.run_dir is not None:
            videos = sorted((run.run_dir / "videos").glob("*/video.mp4"))
            if videos:
                return videos[0].parent.name
    return None


def _write_plots(runs: Sequence[Run], infos: Mapping[str, MetricInfo], out: Path) -> tuple[list[Figure], list[Path]]:
    metrics = clip_metrics(infos, runs)
    taken: set[str] = set()
    rendered = [metric_plot(m, infos[m], runs, file_stem(m, taken)) for m in metrics]
    if metrics:
        rendered.append(overview_plot(metrics, infos, runs))
    figures, paths = [], []
    for plot in rendered:
        png, svg = out / "plots" / f"{plot.stem}.png", out / "plots" / f"{plot.stem}.svg"
        atomic.write_bytes(png, plot.png)
        atomic.write_bytes(svg, plot.svg)
        paths += [png, svg]
        caption = f"{plot.metric} over time" if plot.metric else "Overview: all clip-level metrics over time"
        figures.append(Figure(caption=caption, png=png, relpath=f"plots/{plot.stem}.png"))
    return figures, paths


def _header(runs: Sequence[Run], infos: Mapping[str, MetricInfo], when: dt.datetime) -> Bullets:
    splits = sorted({f"{r.results.split} (manifest sha256 {r.results.split_manifest_sha256[:12]})" for r in runs})
    grids = sorted({
        f"{g.clip_frames}-frame clips, stride {g.stride}, {g.fps:g} fps, {g.height}x{g.width} (HxW)"
        if g.has_time else "(grid not recorded)"
        for g in (grid_of(r.results) for r in runs)
    })
    evaluators = sorted({describe_evaluator(m) for run in runs for m in run.results.metrics})
    return Bullets(items=(
        ("Split", "; ".join(splits)),
        ("Models", ", ".join(f"{r.label} ({r.results.num_videos} videos)" for r in runs)),
        ("Generated", when.strftime("%Y-%m-%d %H:%M UTC")),
        ("Grid", "; ".join(grids)),
        ("Metrics", f"{len(infos)} measured, "
                    f"{len({u.evaluator for r in runs for u in r.results.unavailable})} evaluator(s) unavailable"),
        ("Evaluators", "; ".join(evaluators) or "(none ran)"),
    ))


def _unavailable_blocks(runs: Sequence[Run]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Unavailable metrics")]
    # the same evaluator failing the same way for several runs is one item, not a wall of repeats
    grouped: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        for u in run.results.unavailable:
            grouped.setdefault((u.evaluator, u.reason), []).append(run.label)
    items = tuple((f"{evaluator} ({', '.join(labels)})", reason) for (evaluator, reason), labels in grouped.items())
    if not items:
        return [*blocks, Paragraph("None: every requested evaluator ran for every model.")]
    return [*blocks, Paragraph("These evaluators could not run; they have no numbers. Reasons as recorded:"),
            Bullets(items=items)]


def _time_blocks(runs: Sequence[Run], infos: Mapping[str, MetricInfo], figures: list[Figure]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Metrics over time")]
    video_level = [name for name in infos if name not in clip_metrics(infos, runs)]
    if not figures:
        blocks.append(Paragraph("No clip-level metrics: nothing to plot over time."))
    else:
        blocks.append(Paragraph("Mean over videos at each clip, placed at the clip's centre in seconds from the "
                                "start of the video. Later clips may average fewer videos (shorter videos end "
                                "earlier)."))
        blocks += figures
    if video_level:
        blocks.append(Paragraph(f"Video-level metrics (one value per video, no curve): {', '.join(video_level)}."))
    return blocks


def _details_blocks(runs: Sequence[Run], infos: Mapping[str, MetricInfo]) -> list[Block]:
    items = []
    for key in sorted({k for run in runs for k in run.results.protocol if k != "grid"}):
        values = {run.label: protocol_text(run.results.protocol.get(key)) for run in runs}
        if len(set(values.values())) == 1:
            items.append((key, next(iter(values.values()))))
        else:
            items += [(f"{key} ({label})", value) for label, value in values.items()]
    provenance = tuple((f"provenance ({run.label})", protocol_text(dict(run.results.provenance))) for run in runs)
    return [
        Heading(2, "Runs, protocol and evaluators"), runs_table(runs),
        Heading(3, "Protocol choices"), Bullets(items=tuple(items)) if items else Paragraph("(none recorded)"),
        Heading(3, "Evaluators"), evaluator_table(runs, infos),
        Heading(3, "Provenance"), Bullets(items=provenance),
    ]


def _published_blocks() -> list[Block]:
    return [
        Heading(2, published.TABLE_TITLE),
        Paragraph(f"Source: {published.CITATION} Shown for reference only, never ranked against the runs above."),
        published_table(),
        Bullets(items=tuple(("", c) for c in published.CAVEATS)),
    ]


def _blocks(runs: Sequence[Run], infos: Mapping[str, MetricInfo], warnings: list[str], figures: list[Figure],
            when: dt.datetime, include_published: bool) -> tuple[Block, ...]:
    blocks: list[Block] = [_header(runs, infos, when)]
    if warnings:
        blocks += [Heading(2, "⚠ Comparability warnings"), Bullets(items=tuple(("", w) for w in warnings))]
    blocks += [
        Heading(2, "Results"),
        Paragraph("Each cell: mean over videos [95% bootstrap interval]. ↑ higher is better, ↓ lower is better. "
                  "Bold: best mean among these runs (not a significance test). ⚠: evaluator versions differ. "
                  "— : not evaluated; unavailable: see below. (n=k): fewer videos than the run has.", emphasis=True),
    ]
    # metrics derived from others (e.g. drift/<metric>, slopes along the video) get their own table,
    # so the main table stays one column per thing actually measured
    measured = {k: v for k, v in infos.items() if v.level != "derived"}
    derived = {k: v for k, v in infos.items() if v.level == "derived"}
    if measured:
        blocks.append(summary_table(runs, measured))
    else:
        blocks.append(Paragraph("No metric was measured."))
    if derived:
        blocks += [Heading(3, "Derived metrics"),
                   Paragraph("Computed from the clip scores above (definitions under Evaluators below)."),
                   summary_table(runs, derived)]
    blocks += _unavailable_blocks(runs)
    blocks += _time_blocks(runs, infos, figures)
    by_category = category_tables(runs, measured)
    if by_category:
        blocks.append(Heading(2, "By category"))
        for header, table in by_category:
            blocks += [Heading(3, header), table]
    blocks += _details_blocks(runs, infos)
    if include_published:
        blocks += _published_blocks()
    return tuple(blocks)
