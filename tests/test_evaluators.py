"""The weight-free evaluators: registry, metric/key agreement and values known in advance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evaluators._frames import consecutive_mean_abs_diffs, mean_abs_diff
from evaluators.boundary import BoundaryContinuityEvaluator
from evaluators.colour import ColourConsistencyEvaluator
from evaluators.feed import clip_views, in_memory_sample, score_video
from evaluators.flicker import TemporalFlickeringEvaluator
from evaluators.motion import MotionMagnitudeEvaluator
from longvgenbench.errors import MismatchError, VideoError
from longvgenbench.evaluation.api import ClipView, Evaluator, Level
from longvgenbench.records import Grid
from longvgenbench.registry import EVALUATORS, create_evaluator, names

SMALL = Grid(clip_frames=21, stride=20, fps=16.0, height=64, width=112)
WEIGHT_FREE = ("ssim", "psnr", "temporal_flickering", "motion_magnitude", "colour_consistency", "boundary_continuity")
ALL = (*WEIGHT_FREE, "lpips")


def texture(height: int = 64, width: int = 112, seed: int = 0) -> np.ndarray:
    """A smooth, periodic RGB texture (sums of sines), so rolled copies are exact shifts."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        value = np.zeros((height, width))
        for _ in range(4):
            fx, fy = rng.integers(1, 5, size=2)
            value += np.sin(2 * np.pi * (fx * x / width + fy * y / height) + rng.uniform(0, 2 * np.pi))
        channels.append(127.5 + 30.0 * value)
    return np.stack(channels, -1).clip(0, 255).astype(np.uint8)


def panning(num_frames: int, shift: int = 1, seed: int = 0) -> np.ndarray:
    base = texture(seed=seed)
    return np.stack([np.roll(base, shift * t, axis=1) for t in range(num_frames)])


def static(num_frames: int) -> np.ndarray:
    return np.repeat(texture()[None], num_frames, axis=0)


def frames_for(num_clips: int) -> int:
    return SMALL.frames_for_clips(num_clips)


def test_registry_loads_every_evaluator_by_name() -> None:
    assert set(ALL) <= set(names(EVALUATORS))
    for name in ALL:
        evaluator = create_evaluator(name)
        assert isinstance(evaluator, Evaluator)
        assert evaluator.name == name
        assert evaluator.version
        assert evaluator.metrics


def test_metric_names_are_unique_across_evaluators() -> None:
    seen = [spec.name for name in ALL for spec in create_evaluator(name).metrics]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_returned_keys_match_declared_metrics(name: str) -> None:
    evaluator = create_evaluator(name)
    video = panning(frames_for(3))
    truth = np.clip(video.astype(np.int16) + 7, 0, 255).astype(np.uint8)
    scores = score_video(evaluator, video, truth, grid=SMALL)
    clip_metrics = {m.name for m in evaluator.metrics if m.level is Level.CLIP}
    video_metrics = {m.name for m in evaluator.metrics if m.level is Level.VIDEO}
    assert len(scores.clips) == 3
    for row in scores.clips:
        assert set(row) == clip_metrics
    assert set(scores.video) == video_metrics
    for value in [*scores.video.values(), *(v for row in scores.clips for v in row.values())]:
        assert isinstance(value, float) and np.isfinite(value)
    assert isinstance(evaluator.protocol(), dict) and evaluator.protocol()


def test_flickering_of_static_clip_is_exactly_one() -> None:
    scores = score_video(TemporalFlickeringEvaluator(), static(frames_for(2)), grid=SMALL)
    assert [row["temporal_flickering"] for row in scores.clips] == [1.0, 1.0]


def test_flickering_of_alternating_frames_is_known() -> None:
    base = np.full((64, 112, 3), 100, np.uint8)
    video = np.stack([base + (10 if t % 2 else 0) for t in range(frames_for(1))]).astype(np.uint8)
    value = score_video(TemporalFlickeringEvaluator(), video, grid=SMALL).clips[0]["temporal_flickering"]
    assert value == pytest.approx((255 - 10) / 255, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(2, 5), st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_mean_abs_diffs_match_numpy(frames: np.ndarray) -> None:
    expected = np.abs(np.diff(frames.astype(np.int64), axis=0)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(consecutive_mean_abs_diffs(frames), expected, rtol=0, atol=1e-9)
    assert mean_abs_diff(frames[0], frames[0]) == 0.0


def test_motion_of_static_clip_is_exactly_zero() -> None:
    scores = score_video(MotionMagnitudeEvaluator(), static(frames_for(2)), grid=SMALL)
    assert [row["motion_magnitude"] for row in scores.clips] == [0.0, 0.0]


@pytest.mark.parametrize("shift", [1, 3])
def test_motion_of_uniform_shift_is_the_shift_at_reference_width(shift: int) -> None:
    evaluator = MotionMagnitudeEvaluator(pair_stride=1)
    value = score_video(evaluator, panning(frames_for(1), shift=shift), grid=SMALL).clips[0]["motion_magnitude"]
    # 112 px wide frames: a shift of s px is s * 832 / 112 px at the reference width.
    assert value == pytest.approx(shift * 832 / 112, rel=0.1)


def test_motion_pair_stride_keeps_the_unit() -> None:
    video = panning(frames_for(1), shift=2)
    every = score_video(MotionMagnitudeEvaluator(pair_stride=1), video, grid=SMALL).clips[0]["motion_magnitude"]
    some = score_video(MotionMagnitudeEvaluator(pair_stride=4), video, grid=SMALL).clips[0]["motion_magnitude"]
    assert some == pytest.approx(every, rel=0.05)
    with pytest.raises(ValueError):
        MotionMagnitudeEvaluator(pair_stride=0)


def tint(frames: np.ndarray, red: int) -> np.ndarray:
    out = frames.astype(np.int16)
    out[..., 0] += red
    out[..., 2] -= red
    return out.clip(0, 255).astype(np.uint8)


def test_colour_consistency_identical_clips_is_perfect_and_tint_is_worse() -> None:
    n = frames_for(3)
    steady = static(n)
    assert score_video(ColourConsistencyEvaluator(), steady, grid=SMALL).video == {"colour_consistency": 0.0}
    drifting = steady.copy()
    drifting[SMALL.stride + 1 :] = tint(drifting[SMALL.stride + 1 :], 20)
    worse = score_video(ColourConsistencyEvaluator(), drifting, grid=SMALL).video["colour_consistency"]
    much_worse = score_video(ColourConsistencyEvaluator(), drifting_more(steady), grid=SMALL)
    assert worse > 2.0  # a visible drift, in CIE76 dE
    assert much_worse.video["colour_consistency"] > worse
    # A moving but untinted video stays consistent: far below the tinted one.
    moving = score_video(ColourConsistencyEvaluator(), panning(n), grid=SMALL).video["colour_consistency"]
    assert moving < worse / 4


def drifting_more(frames: np.ndarray) -> np.ndarray:
    out = frames.copy()
    out[SMALL.stride + 1 :] = tint(out[SMALL.stride + 1 :], 50)
    return out


def test_video_level_metrics_have_no_value_for_one_clip() -> None:
    video = panning(frames_for(1))
    assert score_video(ColourConsistencyEvaluator(), video, grid=SMALL).video == {}
    assert score_video(BoundaryContinuityEvaluator(), video, grid=SMALL).video == {}


def test_boundary_of_static_video_is_exactly_one() -> None:
    scores = score_video(BoundaryContinuityEvaluator(), static(frames_for(3)), grid=SMALL)
    assert scores.video == {"boundary_continuity": 1.0}


def test_boundary_jump_at_join_scores_worse_than_smooth() -> None:
    smooth = panning(frames_for(3), shift=1)
    jumpy = smooth.copy()
    # After the first join the content jumps by 25 px and then moves smoothly again.
    jumpy[SMALL.stride + 1 :] = np.roll(smooth[SMALL.stride + 1 :], 25, axis=2)
    smooth_score = score_video(BoundaryContinuityEvaluator(), smooth, grid=SMALL).video["boundary_continuity"]
    jumpy_score = score_video(BoundaryContinuityEvaluator(), jumpy, grid=SMALL).video["boundary_continuity"]
    assert smooth_score == pytest.approx(1.0, abs=0.2)
    assert jumpy_score > 2.0 * smooth_score


def test_bad_frames_are_rejected_with_clear_errors() -> None:
    sample = in_memory_sample("bad", frames_for(1), 64, 112, SMALL)
    view = next(clip_views(sample, static(frames_for(1)).astype(np.float32)))
    for evaluator in (TemporalFlickeringEvaluator(), MotionMagnitudeEvaluator(), ColourConsistencyEvaluator(),
                      BoundaryContinuityEvaluator()):
        with pytest.raises(VideoError, match=r"bad clip 0.*uint8"):
            evaluator.begin_video(sample).add_clip(view)
    one_frame = ClipView(sample, sample.segments[0], static(1), None)
    with pytest.raises(VideoError, match="at least 2"):
        TemporalFlickeringEvaluator().score_clip(one_frame)


def test_boundary_rejects_clips_of_different_sizes() -> None:
    sample = in_memory_sample("sizes", frames_for(2), 64, 112, SMALL)
    scorer = BoundaryContinuityEvaluator().begin_video(sample)
    scorer.add_clip(ClipView(sample, sample.segments[0], static(SMALL.clip_frames), None))
    with pytest.raises(MismatchError, match="differs"):
        scorer.add_clip(ClipView(sample, sample.segments[1], static(SMALL.clip_frames)[:, :32], None))


def test_offline_benchmark_runs_on_a_tiny_video(tmp_path) -> None:
    import json
    import sys
    from pathlib import Path

    from click.testing import CliRunner

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import eval_offline
    finally:
        sys.path.pop(0)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        eval_offline.main, ["--clips", "2", "--height", "64", "--width", "112", "--no-lpips", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["frames"] == 161
    assert set(report["frames_per_second"]) == set(WEIGHT_FREE)
    assert all(v > 0 for v in report["frames_per_second"].values())
    assert "all together" in result.output


def test_bad_options_through_the_registry_are_clean_errors() -> None:
    from longvgenbench.errors import OptionError

    for name, options in (("ssim", {"frame_stride": 0}), ("motion_magnitude", {"pair_stride": -1}),
                          ("colour_consistency", {"frame_stride": 0}), ("lpips", {"net": "resnet"}),
                          ("ssim", {"backend": "opencv"}), ("psnr", {"window": 3})):
        with pytest.raises(OptionError):
            create_evaluator(name, **options)
