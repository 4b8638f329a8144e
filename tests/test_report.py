"""Tests of the report writer: hand-built Results in, files out, checked for content and safety."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import html
import re
from pathlib import Path

import pytest
from PIL import Image

from longvgenbench.errors import LongVGenBenchError
from longvgenbench.report import MixedSplitsError, ReportInputError, write_report
from longvgenbench.report.render import md_escape
from longvgenbench.report.tables import decimals_for, format_interval
from longvgenbench.results import SCHEMA_VERSION, Interval, MetricResult, Results, UnavailableEvaluator

SHA = "a" * 64
REASON = ("DINO ViT-B/16 is unavailable (looked for /root/.cache/vbench/dino_vitbase16_pretrain.pth): "
          "download it from the DINO release and set VBENCH_CACHE_DIR")
EVIL = "<script>alert(1)</script>"
WHEN = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)


def metric(name: str, mean: float, half: float, *, higher: bool = True, by_clip: tuple[float, ...] = (),
           level: str = "clip", version: str = "1.0", n: int = 4, evaluator: str | None = None,
           by_category: dict[str, Interval] | None = None) -> MetricResult:
    return MetricResult(
        metric=name, evaluator=evaluator or name, evaluator_version=version, weights={}, level=level,
        higher_is_better=higher, description=f"{name} of the generated video",
        overall=Interval(mean=mean, low=mean - half, high=mean + half, n=n), by_clip=by_clip,
        by_category=by_category or {},
    )


def results(model: str, metrics: tuple[MetricResult, ...], *, sha: str = SHA,
            unavailable: tuple[UnavailableEvaluator, ...] = ()) -> Results:
    return Results(
        schema_version=SCHEMA_VERSION, model=model, model_fingerprint={"config": "f" * 64}, split="synthetic-mini",
        split_manifest_sha256=sha, seed=0,
        protocol={"grid": {"clip_frames": 81, "stride": 80, "fps": 16, "height": 480, "width": 832},
                  "reference_resize": "area"},
        metrics=metrics, unavailable=unavailable, provenance={"git": "abc123"}, num_videos=4,
    )


def summary_cells(md: str, table_index: int = 0) -> dict[str, dict[str, str]]:
    """The summary table of a Markdown report as {model: {column header: cell}}."""
    lines = md.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("| model | videos |")][table_index]
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        table[cells[0]] = dict(zip(header, cells, strict=True))
    return table


def two_models() -> list[Results]:
    a = results("static", (
        metric("ssim", 0.40612, 0.0251, by_clip=(0.52, 0.44, 0.38, 0.31)),
        metric("lpips", 0.4881, 0.0213, higher=False, by_clip=(0.40, 0.46, 0.51, 0.58)),
        metric("psnr", 17.234, 1.21, by_clip=(19.0, 17.5, 16.6, 15.8)),
        metric("colour_consistency", 0.9123, 0.0311, level="video"),
    ), unavailable=(UnavailableEvaluator("subject_consistency", REASON),))
    b = results("depth-warp", (
        metric("ssim", 0.52941, 0.0302, by_clip=(0.61, 0.55, 0.50, 0.49)),
        metric("lpips", 0.2953, 0.0188, higher=False, by_clip=(0.25, 0.28, 0.31, 0.34)),
        metric("psnr", 21.871, 0.93, by_clip=(23.1, 22.0, 21.4, 21.0)),
        metric("colour_consistency", 0.8812, 0.0404, level="video"),
    ), unavailable=(UnavailableEvaluator("subject_consistency", REASON),))
    return [a, b]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    (out / "keep.txt").write_text("not the report's")
    files = write_report(two_models(), out, generated_at=WHEN)
    return out, files


def test_files_exist(report) -> None:
    out, files = report
    assert files.markdown == out / "report.md" and files.html == out / "report.html"
    assert files.csv == out / "metrics.csv"
    for path in (files.markdown, files.html, files.csv, *files.plots):
        assert path.is_file() and path.stat().st_size > 0
    expected = {f"{m}_over_time.{ext}" for m in ("ssim", "lpips", "psnr") for ext in ("png", "svg")}
    curves = {p.name for p in files.plots if not p.stem.endswith("_by_category") and p.stem != "radar"}
    assert curves == expected | {"overview.png", "overview.svg"}
    assert len(files.plots) == len({p.name for p in files.plots})
    # the video-level metric has no curve
    assert not (out / "plots" / "colour_consistency_over_time.png").exists()
    assert (out / "keep.txt").read_text() == "not the report's"
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left behind"


def test_markdown_table(report) -> None:
    _, files = report
    md = files.markdown.read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "ssim ↑" in header and "lpips ↓" in header and "psnr ↑" in header
    row_a = next(line for line in md.splitlines() if line.startswith("| static |"))
    row_b = next(line for line in md.splitlines() if line.startswith("| depth-warp |"))
    # 3 decimals for SSIM/LPIPS (interval width ~0.04-0.06), 1 for PSNR (width ~1.9)
    assert "0.406 [0.381, 0.431]" in row_a and "**0.529 [0.499, 0.560]**" in row_b
    assert "**0.295 [0.277, 0.314]**" in row_b and "| 0.488 [0.467, 0.509] |" in row_a
    assert "17.2 [16.0, 18.4]" in row_a and "**21.9 [20.9, 22.8]**" in row_b
    assert "**0.912 [0.881, 0.943]**" in row_a  # video-level, higher is better
    assert "Split**: synthetic-mini" in md and "2026-01-02 03:04 UTC" in md
    assert "81-frame clips, stride 80, 16 fps, 480x832" in md
    assert "![ssim over time](plots/ssim_over_time.png)" in md
    assert "![Overview: all clip-level metrics over time](plots/overview.png)" in md


def test_unavailable_reason_verbatim_and_no_number(report) -> None:
    _, files = report
    md = files.markdown.read_text()
    section = md.split("## Unavailable metrics", 1)[1].split("\n## ", 1)[0]
    assert REASON in section
    # one item for both runs (same evaluator, same reason); "_" inside a word is not escaped
    assert "- **subject_consistency (static, depth-warp)**: " + REASON in section
    assert "subject_consistency" not in md.split("## Results", 1)[1].split("## Unavailable", 1)[0]
    assert html.escape(REASON) in files.html.read_text()


def test_published_table_is_separate(report) -> None:
    _, files = report
    md = files.markdown.read_text()
    results_part, published_part = md.split("## Published (LongVie 2 paper, Table 1; not protocol-matched)")
    assert "| LongVie 2 | **58.47** | **69.77** | **0.529** | **0.295** |" in published_part
    assert "LongVie 2 |" not in results_part
    assert "arXiv 2512.13604" in published_part


def test_csv_long_table(report) -> None:
    _, files = report
    rows = list(csv.DictReader(files.csv.open()))
    assert list(rows[0])[:8] == ["model", "metric", "mean", "low", "high", "n", "evaluator", "version"]
    assert len(rows) == 8
    ssim_b = next(r for r in rows if r["model"] == "depth-warp" and r["metric"] == "ssim")
    assert float(ssim_b["mean"]) == pytest.approx(0.52941) and int(ssim_b["n"]) == 4 and ssim_b["version"] == "1.0"
    assert not any(r["metric"] == "subject_consistency" for r in rows)


def test_pngs_are_valid_images(report) -> None:
    _, files = report
    for path in files.plots:
        if path.suffix == ".png":
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                width, height = img.size
                assert 400 <= width <= 3000 and 250 <= height <= 3000, (path.name, img.size)
                # not a blank canvas: a plot has many distinct colours
                assert len(img.convert("RGB").getcolors(maxcolors=1 << 20)) > 20
        else:
            assert path.read_text().lstrip().startswith("<?xml") and "<svg" in path.read_text()


def test_html_standalone_and_escaped(tmp_path: Path) -> None:
    evil = results(EVIL, (metric("ssim", 0.5, 0.02, by_clip=(0.5, 0.4)),),
                   unavailable=(UnavailableEvaluator("<b>x</b>", "reason with <img src=x onerror=alert(1)>"),))
    files = write_report([evil, two_models()[0]], tmp_path, title="T <i>", generated_at=WHEN)
    page = files.html.read_text()
    assert "<script" not in page.lower()
    assert "<img src=x" not in page and "<b>x</b>" not in page and "<i>" not in page
    assert html.escape(EVIL) in page
    # standalone: no external references, every image inlined
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    pngs = [p for p in files.plots if p.suffix == ".png"]
    assert len(pngs) == 4 and page.count('src="data:image/png;base64,') == len(pngs)  # ssim, lpips, psnr, overview
    md = files.markdown.read_text()
    assert "<script>" not in md and "\\<script\\>alert(1)\\</script\\>" in md


def test_mixed_splits_refused(tmp_path: Path) -> None:
    a, b = two_models()
    b = dataclasses.replace(b, split_manifest_sha256="b" * 64, split="other")
    with pytest.raises(MixedSplitsError, match="different splits") as info:
        write_report([a, b], tmp_path)
    assert isinstance(info.value, LongVGenBenchError)
    assert list(tmp_path.iterdir()) == [], "a refused report must write nothing"
    files = write_report([a, b], tmp_path, allow_mixed_splits=True, include_published=False)
    md = files.markdown.read_text()
    assert "not comparable" in md and "Published" not in md


def test_version_mismatch_is_flagged_not_ranked(tmp_path: Path) -> None:
    a, b = two_models()
    b = dataclasses.replace(b, metrics=(metric("ssim", 0.52941, 0.0302, version="2.0", by_clip=(0.6, 0.5)),
                                        *b.metrics[1:]))
    files = write_report([a, b], tmp_path, include_published=False)
    md = files.markdown.read_text()
    assert "ssim ↑ ⚠" in md
    assert "ssim: evaluator versions or weights differ" in md and "ssim 2.0" in md
    row_b = next(line for line in md.splitlines() if line.startswith("| depth-warp |"))
    assert "**0.529" not in row_b and "0.529 [0.499, 0.560]" in row_b
    assert any("ssim" in w for w in files.warnings)


def test_missing_metric_and_unavailable_cells(tmp_path: Path) -> None:
    a, b = two_models()
    a = dataclasses.replace(a, metrics=a.metrics[1:], unavailable=(UnavailableEvaluator("ssim", "no weights"),))
    b = dataclasses.replace(b, metrics=b.metrics[:3])  # no colour_consistency, and not marked unavailable
    md = write_report([a, b], tmp_path, include_published=False).markdown.read_text()
    table = summary_cells(md)
    assert table["static"]["ssim ↑"] == "unavailable"  # its evaluator is listed as unavailable for this run
    assert table["depth-warp"]["colour_consistency ↑"] == "—"  # simply not evaluated
    # with a single value, nothing is "best"
    assert table["depth-warp"]["ssim ↑"] == "0.529 [0.499, 0.560]"


def test_duplicate_models_get_distinct_labels(tmp_path: Path) -> None:
    a, _ = two_models()
    files = write_report([a, a], tmp_path, run_dirs=[tmp_path / "run1", tmp_path / "run2"])
    md = files.markdown.read_text()
    assert "| static (run1) |" in md and "| static (run2) |" in md


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="no results"):
        write_report([], tmp_path)
    with pytest.raises(ReportInputError, match="run directories"):
        write_report(two_models(), tmp_path, run_dirs=[tmp_path])
    with pytest.raises(ReportInputError, match="Results"):
        write_report([{"model": "x"}], tmp_path)  # type: ignore[list-item]
    assert list(tmp_path.iterdir()) == []


def test_video_level_only(tmp_path: Path) -> None:
    only = results("m", (metric("colour_consistency", 0.9, 0.01, level="video"),))
    files = write_report([only], tmp_path, include_published=False)
    assert files.plots == ()
    assert "No clip-level metrics" in files.markdown.read_text()


def test_precision_rules() -> None:
    assert decimals_for([Interval(0.406, 0.381, 0.431, 4)]) == 3
    assert decimals_for([Interval(17.2, 16.0, 18.4, 4)]) == 1
    assert decimals_for([Interval(0.9, 0.9, 0.9, 1)]) == 3  # no width: three significant digits
    assert decimals_for([Interval(0.5, 0.49999, 0.50001, 4)]) == 4  # capped
    assert format_interval(Interval(float("nan"), 0, 0, 0), 3) == "—"


def test_markdown_escape() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("[x](javascript:y)") == "[x\\](javascript:y)"
    assert md_escape("file_name.pth _em_") == "file_name.pth \\_em\\_"
    assert md_escape("two\nlines") == "two lines"


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    """Reports are diffable: the same results and date give byte-identical files, SVGs included."""
    first = write_report(two_models(), tmp_path / "one", generated_at=WHEN)
    second = write_report(two_models(), tmp_path / "two", generated_at=WHEN)
    for a, b in zip((first.markdown, first.html, first.csv, *first.plots),
                    (second.markdown, second.html, second.csv, *second.plots), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_odd_metric_names_and_unrecorded_grid(tmp_path: Path) -> None:
    odd = dataclasses.replace(
        results("m", (metric("vbench/aesthetic quality", 0.5, 0.02, by_clip=(0.5, 0.45, 0.4)),
                      metric("../escape", 0.3, 0.01, by_clip=(0.3, 0.3)))),
        protocol={},
    )
    files = write_report([odd], tmp_path, include_published=False)
    names = {p.name for p in files.plots}
    assert "vbench_aesthetic_quality_over_time.png" in names and "escape_over_time.png" in names
    assert all(p.parent == tmp_path / "plots" for p in files.plots)
    md = files.markdown.read_text()
    assert "(grid not recorded)" in md


def test_reads_back_results_json(tmp_path: Path) -> None:
    """Results written by the schema module and loaded again report the same as the objects."""
    from longvgenbench import atomic
    from longvgenbench.results import load_results, results_to_dict

    run_dirs = []
    for r in two_models():
        run = tmp_path / "runs" / r.model
        atomic.write_json(run / "results.json", results_to_dict(r))
        run_dirs.append(run)
    loaded = [load_results(d) for d in run_dirs]
    direct = write_report(two_models(), tmp_path / "direct", generated_at=WHEN, run_dirs=run_dirs)
    via_disk = write_report(loaded, tmp_path / "disk", generated_at=WHEN, run_dirs=run_dirs)
    assert direct.markdown.read_text() == via_disk.markdown.read_text()


def test_derived_metrics_get_their_own_table(tmp_path: Path) -> None:
    a, b = two_models()
    a = dataclasses.replace(a, metrics=(*a.metrics, metric("drift/ssim", -0.0412, 0.0081, level="derived",
                                                           evaluator="ssim")))
    b = dataclasses.replace(b, metrics=(*b.metrics, metric("drift/ssim", -0.0213, 0.0102, level="derived",
                                                           evaluator="ssim")))
    files = write_report([a, b], tmp_path, include_published=False)
    md = files.markdown.read_text()
    main, derived = summary_cells(md, 0), summary_cells(md, 1)
    assert "drift/ssim ↑" not in main["static"] and "ssim ↑" in main["static"]
    assert derived["static"]["drift/ssim ↑"] == "-0.041 [-0.049, -0.033]"
    assert derived["depth-warp"]["drift/ssim ↑"] == "**-0.021 [-0.032, -0.011]**"
    assert not (tmp_path / "plots" / "drift_ssim_over_time.png").exists()
