"""Paired differences between runs (per video, bootstrap over videos) and the compare/report outputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from leaderboard_support import cli, real_runs

from longvgenbench.report.compare import load_runs, paired_differences, per_video
from longvgenbench.report.inputs import MixedSplitsError, ReportInputError, make_runs
from longvgenbench.results import load_results, read_rows


def test_difference_is_per_video_mean_of_clip_scores():
    runs, values = load_runs([real_runs().run("static"), real_runs().run("oracle")])
    diffs = {d.metric: d for d in paired_differences(runs, values)}
    rows = {m: read_rows(real_runs().run(m) / "samples.jsonl") for m in ("static", "oracle")}
    static = per_video(rows["static"])["ssim"]
    expected = np.mean([1.0 - static[v] for v in static])  # the oracle's SSIM is 1 on every clip
    assert diffs["ssim"].difference.mean == pytest.approx(expected, abs=1e-6)
    assert diffs["ssim"].difference.n == 2 and diffs["ssim"].significant and diffs["ssim"].better == "other"
    assert diffs["psnr"].better == "other"


def test_not_significant_when_interval_contains_zero():
    runs, values = load_runs([real_runs().run("static"), real_runs().run("oracle")])
    videos = sorted(values[0]["ssim"])
    # one video better, one worse by the same amount: mean 0, interval straddles 0
    values = [{"ssim": {videos[0]: 0.5, videos[1]: 0.5}}, {"ssim": {videos[0]: 0.6, videos[1]: 0.4}}]
    (d,) = paired_differences(runs, values)
    assert d.difference.low < 0 < d.difference.high and not d.significant and d.better == ""


def test_lower_is_better_direction():
    runs, values = load_runs([real_runs().run("static"), real_runs().run("oracle")])
    videos = sorted(values[0]["ssim"])
    values = [{"temporal_flickering": {v: 0.9 for v in videos}},
              {"temporal_flickering": {videos[0]: 0.95, videos[1]: 0.96}}]
    (d,) = paired_differences(runs, values)
    higher = next(m for m in runs[0].results.metrics if m.metric == "temporal_flickering").higher_is_better
    assert d.significant and d.better == ("other" if higher else "baseline")


def test_mixed_splits_and_too_few_runs_refused():
    static = load_results(real_runs().run("static"))
    other = replace(load_results(real_runs().run("oracle")), split_manifest_sha256="f" * 64)
    runs = make_runs([static, other], None)
    with pytest.raises(MixedSplitsError):
        paired_differences(runs, [{}, {}])
    with pytest.raises(ReportInputError, match="at least two"):
        load_runs([real_runs().run("static")])


@pytest.mark.slow
def test_compare_cli(tmp_path):
    runs = real_runs()
    result = cli("compare", str(runs.run("static")), str(runs.run("oracle")), "--out", str(tmp_path / "cmp"))
    assert "ssim: oracle - static" in result.stdout and (tmp_path / "cmp" / "differences.parquet").is_file()


def test_compare_writes_tables_parquet_and_charts(tmp_path):
    from longvgenbench.report import write_report

    runs = real_runs()
    out = tmp_path / "cmp"
    dirs = [runs.run("static"), runs.run("oracle")]
    files = write_report([load_results(d) for d in dirs], out, run_dirs=dirs, paired=True)
    assert any(line.startswith("ssim: oracle - static") for line in files.differences_text)
    diffs = pd.read_parquet(out / "differences.parquet")
    assert set(diffs["metric"]) >= {"ssim", "psnr"} and diffs["paired_videos"].eq(2).all()
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert pd.read_csv(out / "metrics.csv").shape == metrics.shape
    md = (out / "report.md").read_text()
    assert "Paired differences against static" in md and "Contact sheet" in md and "Normalised scores" in md
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"radar.png", "radar.svg", "ssim_by_category.png"} <= plots
    assert any(p.startswith("contact_sheet_") and p.endswith(".png") for p in plots)
    from PIL import Image

    sheet = next((out / "plots").glob("contact_sheet_*.png"))
    assert Image.open(sheet).size[0] > 500


def test_contact_frames_at_times_and_beyond_the_end():
    from longvgenbench.report.charts import contact_frames
    from longvgenbench.video_io import read_frames

    video = next((real_runs().run("oracle") / "videos").glob("*/video.mp4"))
    cells = contact_frames(video, (0.0, 5.0, 15.0), fps=16.0)
    frames = read_frames(video, 0, 81)
    assert np.array_equal(cells[0].frame, frames[0]) and np.array_equal(cells[1].frame, frames[80])
    assert cells[2].frame is None and cells[2].note.startswith("ends at")
