"""The evaluation engine: one decode, overlapping clips, rows per evaluator, resume, aggregation."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pytest
from core_fixtures import ToyModel, TruthError, make_tiny_split

from longvgenbench.errors import MismatchError, WeightsUnavailableError
from longvgenbench.evaluation.aggregate import bootstrap_interval
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Evaluator, Level, MetricSpec, VideoScorer
from longvgenbench.evaluation.engine import IncompleteRunError, clip_windows, evaluate_run
from longvgenbench.records import Grid
from longvgenbench.results import load_results, read_rows
from longvgenbench.runner import generate


class MeanBrightness(ClipEvaluator):
    name = "mean_brightness"
    version = "1"
    metrics = (MetricSpec("mean_brightness", Level.CLIP, True, "mean pixel value"),)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.clips_seen: list[tuple[int, int]] = []

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        self.clips_seen.append((clip.segment.index, clip.frames.shape[0]))
        return {"mean_brightness": float(clip.frames.mean())}


class ClipCounter(Evaluator):
    name = "clip_counter"
    version = "1"
    metrics = (MetricSpec("clip_count", Level.VIDEO, True, "number of clips"),)

    def begin_video(self, sample) -> VideoScorer:
        class Scorer(VideoScorer):
            count = 0

            def add_clip(self, clip):
                self.count += 1
                return {}

            def finish(self):
                return {"clip_count": float(self.count)}

        return Scorer()


class NeedsWeights(ClipEvaluator):
    name = "needs_weights"
    version = "1"
    metrics = (MetricSpec("needs_weights", Level.CLIP, True, "never runs here"),)

    def check_available(self) -> None:
        raise WeightsUnavailableError("needs_weights backbone", "/nowhere/w.pth", "run `fetch w` on a machine online")

    def score_clip(self, clip):
        raise AssertionError("must not be called")


def test_clip_windows_share_one_frame():
    grid = Grid(clip_frames=5, stride=4, fps=16, height=1, width=1)
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(13)]
    clips = [c[:, 0, 0, 0].tolist() for c in clip_windows(frames, grid)]
    assert clips == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9, 10, 11, 12]]


def test_evaluate_run_rows_results_and_unavailable(tmp_path):
    split = make_tiny_split(tmp_path / "split")
    generate(ToyModel(), split, tmp_path / "run")
    brightness = MeanBrightness()
    summary = evaluate_run(tmp_path / "run", split, [brightness, TruthError(), ClipCounter(), NeedsWeights()])
    assert brightness.clips_seen == [(0, 81), (1, 81), (2, 81)] * 2
    rows = read_rows(tmp_path / "run" / "samples.jsonl")
    assert len([r for r in rows if r.metric == "mean_brightness"]) == 6
    assert {r.value for r in rows if r.metric == "clip_count"} == {3.0}
    results = load_results(tmp_path / "run")
    assert results.num_videos == 2 and results.model == "toy"
    assert [u.evaluator for u in results.unavailable] == ["needs_weights"]
    assert "/nowhere/w.pth" in results.unavailable[0].reason
    names = {m.metric for m in results.metrics}
    assert {"mean_brightness", "truth_error", "clip_count", "drift/mean_brightness"} <= names
    assert "needs_weights" not in names
    brightness_result = results.metric("mean_brightness")
    assert len(brightness_result.by_clip) == 3
    per_video = [np.mean([r.value for r in rows if r.metric == "mean_brightness" and r.video_id == v])
                 for v in ("vid0", "vid1")]
    assert brightness_result.overall.mean == pytest.approx(np.mean(per_video))
    assert set(brightness_result.by_category) == {"domain=synthetic", "setting=indoor", "setting=outdoor",
                                                  "lighting=day"}
    assert summary.videos_scored == 2
    json.loads((tmp_path / "run" / "results.json").read_text())  # strict JSON (no NaN)


def test_evaluation_resumes_and_adds_evaluators(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    generate(ToyModel(), split, tmp_path / "run")
    evaluate_run(tmp_path / "run", split, [MeanBrightness()])
    again = MeanBrightness()
    summary = evaluate_run(tmp_path / "run", split, [again, ClipCounter()])
    assert again.clips_seen == []  # its rows were kept; only the new evaluator decoded the video
    assert summary.videos_scored == 1
    assert {m.metric for m in summary.results.metrics} >= {"mean_brightness", "clip_count"}


def test_incomplete_generation_is_refused(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    with pytest.raises(KeyboardInterrupt):
        generate(ToyModel(fail_at=("vid0", 1)), split, tmp_path / "run")
    with pytest.raises(IncompleteRunError, match="vid0"):
        evaluate_run(tmp_path / "run", split, [MeanBrightness()])


def test_ground_truth_of_another_size_is_a_mismatch(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    generate(ToyModel(), split, tmp_path / "run")
    other = make_tiny_split(tmp_path / "other", num_videos=1, grid=Grid(81, 80, 16.0, 48, 64))
    sample = split.samples[0]
    swapped = type(split)(split.name, split.root, split.grid, split.manifest_sha256,
                          (type(sample)(**{**sample.__dict__, "ground_truth": other.samples[0].ground_truth}),))
    with pytest.raises(MismatchError, match="ground truth"):
        evaluate_run(tmp_path / "run", swapped, [TruthError()])


def test_bootstrap_interval_properties():
    one = bootstrap_interval([0.5])
    assert (one.mean, one.low, one.high, one.n) == (0.5, 0.5, 0.5, 1)
    values = np.random.default_rng(0).normal(1.0, 0.2, size=50)
    interval = bootstrap_interval(values)
    assert interval.low < interval.mean < interval.high
    assert interval == bootstrap_interval(values)  # deterministic
    assert abs((interval.high - interval.low) - 2 * 1.96 * values.std() / np.sqrt(50)) < 0.05


def test_evaluators_side_by_side_write_the_same_rows(tmp_path):
    split = make_tiny_split(tmp_path / "split")
    generate(ToyModel(), split, tmp_path / "run")
    evaluate_run(tmp_path / "run", split, [MeanBrightness(), TruthError(), ClipCounter()], parallel=False)
    serial = (tmp_path / "run" / "samples.jsonl").read_text()
    evaluate_run(tmp_path / "run", split, [MeanBrightness(), TruthError(), ClipCounter()], parallel=True,
                 recompute=True)
    assert (tmp_path / "run" / "samples.jsonl").read_text() == serial
