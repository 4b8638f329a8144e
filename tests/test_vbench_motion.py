"""dynamic_degree, imaging_quality, motion_smoothness: VBench's rules, weight handling, real loading paths.

Random weights are staged in the official file formats (tests/parity/stage_motion.py), so the real
loading code runs; rules whose meaning needs trained weights (a static video is not dynamic, smooth
motion interpolates well) are checked with stand-in networks of known behaviour.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from evaluators.feed import score_video
from evaluators.vbench import dynamic, imaging, smoothness
from evaluators.vbench.catalog_motion import AMT_S, MUSIQ_SPAQ, RAFT_LARGE_C_T_V1
from longvgenbench.errors import VideoError, WeightsUnavailableError
from longvgenbench.records import Grid
from tests.parity import stage_motion

SMALL_GRID = Grid(fps=16, clip_frames=9, stride=8, height=128, width=160)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "ours"))
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("staged")
    stage_motion.stage_all(root / "vbench", root / "torch")
    return root


@pytest.fixture
def staged_caches(staged, monkeypatch):
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(staged / "ours"))
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(staged / "vbench"))
    monkeypatch.setenv("TORCH_HOME", str(staged / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return staged


def moving_video(frames: int, height: int, width: int, step: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture translated by ``step`` px per frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 2, (width + step * frames) // 8 + 2, 3)).astype(np.float32)
    import cv2

    canvas = cv2.resize(base, (base.shape[1] * 8, base.shape[0] * 8), interpolation=cv2.INTER_CUBIC)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    return np.stack([canvas[:height, t * step : t * step + width] for t in range(frames)])


# --- dynamic degree: the counting rule --------------------------------------------------------------------------

def test_sampling_interval_uses_python_round():
    assert [dynamic.sampling_interval(f) for f in (4, 8, 12, 16, 20, 24, 25, 30, 60)] == [1, 1, 2, 2, 2, 3, 3, 4, 8]


def test_threshold_and_count_follow_vbench():
    assert dynamic.threshold(480, 832) == pytest.approx(11.25)
    assert dynamic.required_count(41) == 10  # 81 frames at 16 fps -> 41 sampled frames
    assert dynamic.required_count(10) == 2  # round(2.5) = 2 (half to even)
    scores = np.array([12.0] * 9 + [11.25] + [0.0] * 30)  # nine above, one exactly at the threshold
    assert not dynamic.is_dynamic(scores, 41, 11.25)
    assert dynamic.is_dynamic(np.append(scores[:-1], 11.26), 41, 11.25)
    assert not dynamic.is_dynamic(np.zeros(0), 1, 1.0)  # no pair: never dynamic
    assert dynamic.is_dynamic(np.array([0.0]), 2, 1.0)  # round(0.5) = 0 pairs needed, one pair present


def test_padding_and_top_magnitude():
    assert dynamic.sintel_padding(480, 832) == (0, 0, 0, 0)
    assert dynamic.sintel_padding(130, 190) == (1, 1, 3, 3)
    flow = torch.zeros(1, 2, 10, 10)
    flow[0, 0, 0, :5] = 3.0  # 5 of 100 pixels = exactly the top 5%
    flow[0, 1, 0, :5] = 4.0
    assert dynamic.top_magnitude_mean(flow).item() == pytest.approx(5.0)


def test_raft_things_conversion_round_trips():
    state = stage_motion.raft_state()
    original = {f"module.{k}": v for k, v in stage_motion.torchvision_to_raft_things(state).items()}
    assert any(".norm3." in key for key in original)
    back = dynamic.raft_things_to_torchvision(original)
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(KeyError, match="not an original RAFT"):
        dynamic.raft_things_to_torchvision({"head.weight": torch.zeros(1)})


class _DifferenceFlow(torch.nn.Module):
    """Stand-in for the RAFT pair runner with a known answer: for frames (N + 1, 3, H, W), each pair's
    horizontal flow is 40 x the mean abs change between its frames; returns the N top-5% magnitudes."""

    def forward(self, frames):
        magnitude = 40.0 * (frames[1:] - frames[:-1]).abs().mean(dim=1)
        return dynamic.top_magnitude_mean(torch.stack([magnitude, torch.zeros_like(magnitude)], dim=1))


@pytest.mark.parametrize(("step", "expected"), [(0, 0.0), (6, 1.0)])
def test_static_video_is_not_dynamic_and_moving_one_is(step, expected):
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False)
    evaluator._model = _DifferenceFlow()
    scores = score_video(evaluator, moving_video(17, 128, 160, step), grid=SMALL_GRID)
    assert [clip["dynamic_degree"] for clip in scores.clips] == [expected, expected]


def test_dynamic_degree_loads_both_official_layouts_to_the_same_model(staged_caches, monkeypatch):
    from_torchvision = dynamic.DynamicDegreeEvaluator(verify_weights=False)
    assert set(from_torchvision.weight_hashes()) == {RAFT_LARGE_C_T_V1.filename}
    monkeypatch.setenv("TORCH_HOME", str(staged_caches / "no-torch-hub"))
    from_vbench = dynamic.DynamicDegreeEvaluator(verify_weights=False)
    assert set(from_vbench.weight_hashes()) == {"raft-things.pth"}
    first, second = from_torchvision._load().state_dict(), from_vbench._load().state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_dynamic_degree_pair_scores_are_batch_invariant(staged_caches):
    video = moving_video(5, 130, 132, 3)  # padded to 136x136; torchvision's RAFT needs >= 128 px
    scores = dynamic.DynamicDegreeEvaluator(verify_weights=False, batch_size=2).pair_scores(video, 16)
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores > 0)
    single = dynamic.DynamicDegreeEvaluator(verify_weights=False, batch_size=1).pair_scores(video, 16)
    np.testing.assert_allclose(single, scores, rtol=1e-5)


# --- imaging quality ---------------------------------------------------------------------------------------------

def test_musiq_checkpoint_loads_strictly(staged_caches):
    model = imaging.ImagingQualityEvaluator(verify_weights=False)._load()  # pyiqa's MUSIQ inside the device patcher
    assert not model.training and model.musiq.head.out_features == 1


def test_musiq_resize_rule():
    assert imaging.musiq_input_size(480, 832) == (295, 512)
    assert imaging.musiq_input_size(1080, 1920) == (288, 512)
    assert imaging.musiq_input_size(512, 300) == (512, 300)
    assert imaging.musiq_input_size(600, 400) == (512, 341)
    frames = torch.full((1, 3, 480, 832), 255, dtype=torch.uint8)
    out = imaging.preprocess(frames)
    assert out.shape == (1, 3, 295, 512) and out.dtype == torch.float32 and torch.allclose(out, torch.ones_like(out))


@pytest.mark.slow
def test_imaging_quality_is_mean_mos_over_100_and_batch_invariant(staged_caches):
    video = moving_video(2, 64, 600, 5)  # longer side > 512: resized to 54x512
    batched = imaging.ImagingQualityEvaluator(verify_weights=False, batch_size=2)
    single = imaging.ImagingQualityEvaluator(verify_weights=False, batch_size=1)
    per_frame = batched.frame_scores(video)
    np.testing.assert_allclose(per_frame, single.frame_scores(video), rtol=1e-5, atol=1e-6)
    assert np.ptp(per_frame) > 0
    clip = score_video(batched, video, grid=Grid(fps=16, clip_frames=2, stride=1, height=64, width=600)).clips[0]
    assert clip["imaging_quality"] == pytest.approx(per_frame.mean() / 100.0)


# --- motion smoothness -------------------------------------------------------------------------------------------

class _Blend(torch.nn.Module):
    """Stand-in AMT with a known answer: the midpoint of two frames is their average."""

    def forward(self, img0, img1, t):
        return (1 - t) * img0 + t * img1


def test_smoothness_rule_with_a_known_interpolator():
    evaluator = smoothness.MotionSmoothnessEvaluator(verify_weights=False)
    evaluator._model = _Blend()
    static = np.repeat(moving_video(1, 120, 150, 0), 9, axis=0)  # 120x150: padded to 128x160 and back
    grid = Grid(fps=16, clip_frames=9, stride=8, height=120, width=150)
    assert score_video(evaluator, static, grid=grid).clips[0]["motion_smoothness"] == 1.0
    ramp = np.stack([np.full((120, 150, 3), 20 * t + 1, dtype=np.uint8) for t in range(9)])
    diffs = evaluator.interpolated_diffs(ramp)
    assert diffs.shape == (4,)
    # (20t + 1 + 20t + 41) / 2 = 20t + 21 exactly, but float32 x/255*255 can land just below and truncate.
    assert np.all(diffs <= 1.0)
    noise = np.random.default_rng(1).integers(0, 256, (9, 120, 150, 3), dtype=np.uint8)
    assert smoothness.smoothness_from_diffs(evaluator.interpolated_diffs(noise)) < 0.8


def test_truncation_matches_vbench():
    values = torch.tensor([0.999 / 255, 254.9 / 255, 1.2, -0.1])
    assert smoothness.to_uint8_truncated(values).tolist() == [0, 254, 255, 0]
    assert smoothness.even_padding(120, 150) == (5, 5, 4, 4)


def test_amt_refuses_frames_too_small_by_name():
    evaluator = smoothness.MotionSmoothnessEvaluator(verify_weights=False)
    evaluator._model = _Blend()
    with pytest.raises(VideoError, match=r"motion_smoothness cannot score 112x160 frames"):
        evaluator.interpolated_diffs(moving_video(5, 112, 160, 1))  # 112 is a multiple of 16: not padded up
    assert evaluator.interpolated_diffs(moving_video(5, 113, 160, 1)).shape == (2,)  # 113 pads to 128
    grid = Grid(fps=16, clip_frames=9, stride=8, height=96, width=160)
    with pytest.raises(VideoError, match="96x160"):
        score_video(evaluator, moving_video(9, 96, 160, 1), grid=grid)


def test_amt_checkpoint_loads_strictly_and_batches_agree(staged_caches):
    video = moving_video(7, 128, 144, 2)
    one = smoothness.MotionSmoothnessEvaluator(verify_weights=False, batch_size=1).interpolated_diffs(video)
    three = smoothness.MotionSmoothnessEvaluator(verify_weights=False, batch_size=3).interpolated_diffs(video)
    assert one.shape == (3,) and np.all(one > 0)
    np.testing.assert_allclose(one, three, atol=0.01)  # a rare pixel may truncate differently


def test_pairs_per_run_keeps_correlation_volumes_within_the_budget(monkeypatch):
    from evaluators.vbench import catalog_motion

    raft, amt = dynamic.RAFT_VOLUME_BYTES_PER_ENTRY, smoothness.AMT_VOLUME_BYTES_PER_ENTRY
    assert catalog_motion.pairs_per_run(8, 480, 832, raft) == 8  # the protocol grid keeps its batches
    assert catalog_motion.pairs_per_run(10, 480, 832, amt) == 10
    assert catalog_motion.pairs_per_run(8, 720, 1280, raft) == 5
    assert catalog_motion.pairs_per_run(10, 720, 1280, amt) == 2
    assert catalog_motion.pairs_per_run(8, 1088, 1920, raft) == 1  # native 1080p: one pair at a time
    assert catalog_motion.pairs_per_run(10, 1088, 1920, amt) == 1  # never fewer than one


def test_motion_evaluators_split_runs_to_the_budget_with_the_same_scores(staged_caches, monkeypatch):
    from evaluators.vbench import catalog_motion

    video = moving_video(7, 128, 144, 2)
    expected = smoothness.MotionSmoothnessEvaluator(verify_weights=False, batch_size=3).interpolated_diffs(video)
    evaluator = smoothness.MotionSmoothnessEvaluator(verify_weights=False, batch_size=3)
    sizes = []
    model = evaluator._load()
    monkeypatch.setattr(evaluator, "_model", lambda img0, img1, t: sizes.append(len(img0)) or model(img0, img1, t))
    monkeypatch.setattr(catalog_motion, "CORRELATION_BUDGET_BYTES", 1)
    np.testing.assert_allclose(evaluator.interpolated_diffs(video), expected, atol=0.01)
    assert sizes == [1, 1, 1]


# --- weights -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("evaluator_class", "item"), [
    (dynamic.DynamicDegreeEvaluator, RAFT_LARGE_C_T_V1),
    (imaging.ImagingQualityEvaluator, MUSIQ_SPAQ),
    (smoothness.MotionSmoothnessEvaluator, AMT_S),
])
def test_unavailable_without_weights_names_file_and_command(caches, evaluator_class, item):
    with pytest.raises(WeightsUnavailableError) as info:
        evaluator_class().check_available()
    message = str(info.value)
    assert item.filename in message and f"longvgenbench weights fetch {item.key}" in message


def test_staged_files_are_refused_when_verified_and_hashed_when_not(staged_caches):
    with pytest.raises(Exception, match="358bb6af"):
        imaging.ImagingQualityEvaluator().check_available()
    path = staged_caches / "vbench" / "amt_model" / "amt-s.pth"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert smoothness.MotionSmoothnessEvaluator(verify_weights=False).weight_hashes() == {"amt-s.pth": expected}


def test_registered_through_entry_points():
    from longvgenbench import registry, weights

    for name in ("dynamic_degree", "imaging_quality", "motion_smoothness"):
        assert registry.create_evaluator(name).name == name
    assert {"raft_large_c_t_v1", "raft_things", "musiq_spaq", "amt_s"} <= set(weights.catalogue())


def test_amt_warp_op_is_the_native_sampler_and_stays_opaque_when_compiled():
    """AMT's backward warp goes through an opaque op (so Inductor keeps the native kernel): same values as
    ``F.grid_sample`` with border padding, in fp32 under autocast as eager autocast computes it, and one call
    of the op in the compiled graph."""
    import torch.nn.functional as F

    from evaluators.vbench.amt.layers import backward_warp

    g = torch.Generator().manual_seed(0)
    image, flow = torch.randn(2, 5, 12, 16, generator=g), 4 * torch.randn(2, 2, 12, 16, generator=g)
    xs = torch.linspace(-1.0, 1.0, 16).view(1, 1, 16).expand(2, 12, 16)
    ys = torch.linspace(-1.0, 1.0, 12).view(1, 12, 1).expand(2, 12, 16)
    grid = torch.stack((xs + flow[:, 0] / 7.5, ys + flow[:, 1] / 5.5), dim=-1)
    expected = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
    assert torch.equal(backward_warp(image, flow), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert backward_warp(image.bfloat16(), flow).dtype == torch.float32
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(backward_warp, backend=backend, fullgraph=True)
    assert torch.equal(compiled(image, flow), expected)
    calls = [n for n in graphs[0].graph.nodes if n.op == "call_function" and "warp_border" in str(n.target)]
    assert len(calls) == 1
