"""LongVie 2 training pieces with hand-computed values: schedule, losses, degradations, history sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from longvie.training.degradations import (
    PAPER_FEATURE_DEGRADATION,
    DepthAugmentation,
    FeatureDegradation,
    box_blur,
    colour_drift,
    multi_scale_fusion,
)
from longvie.training.frame_degradation import (
    FIRST_FRAME_DEGRADATION,
    HISTORY_DEGRADATION,
    DegradationPlan,
    apply_plan,
    inference_sigmas,
    regenerate_latents,
)
from longvie.training.history import HistorySampler, encoded_history_frames, history_latent_frames
from longvie.training.losses import highpass, latent_frame_weights, longvie_loss, lowpass
from longvie.training.schedule import TrainingSchedule


def checkerboard(h: int, w: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((x + y) % 2 * 2 - 1).float()


# --- schedule ---------------------------------------------------------------------------------

def test_schedule_matches_upstream_table():
    s = TrainingSchedule()
    assert s.sigmas[0].item() == pytest.approx(1.0)
    assert s.sigmas[500].item() == pytest.approx(2.5 / 3.0)  # base 0.5 -> 5*0.5 / (1 + 4*0.5)
    assert s.timesteps[500].item() == pytest.approx(1000 * 2.5 / 3.0)
    assert s.weights.sum().item() == pytest.approx(1000.0)
    assert s.weights.min().item() == pytest.approx(0.0)
    assert 2.0 < s.weights.max().item() < 2.1  # upstream's bump peaks at about 2.08
    peak = int(torch.argmax(s.weights))
    assert abs(s.timesteps[peak].item() - 500.0) < 3.0  # the bump is centred on t = 500


def test_noised_is_flow_matching():
    s = TrainingSchedule()
    x0, eps = torch.full((1, 1, 1, 2, 2), 2.0), torch.full((1, 1, 1, 2, 2), -1.0)
    b = s.noised(x0, eps, 500)
    sigma = 2.5 / 3.0
    assert torch.allclose(b.noisy, torch.full_like(x0, (1 - sigma) * 2.0 - sigma), atol=1e-6)
    assert torch.allclose(b.target, torch.full_like(x0, -3.0))
    assert b.timestep.item() == pytest.approx(1000 * sigma, rel=1e-6)


# --- filters and losses -----------------------------------------------------------------------

def test_lowpass_highpass_on_constant_and_checkerboard():
    const = torch.full((1, 2, 3, 8, 6), 0.7)
    assert torch.allclose(lowpass(const), const, atol=1e-6)
    assert torch.allclose(highpass(const), torch.zeros_like(const), atol=1e-6)
    board = checkerboard(8, 6).expand(1, 2, 3, 8, 6).contiguous()
    assert torch.allclose(lowpass(board), torch.zeros_like(board), atol=1e-6)  # every 2x2 box averages to 0
    assert torch.allclose(highpass(board), board, atol=1e-6)


def test_lowpass_is_box_average_then_bilinear():
    x = torch.zeros(1, 1, 1, 2, 4)
    x[..., :, :2] = 4.0  # left 2x2 box = 4, right = 0 -> half-res row [4, 0]
    # up-sampling [4, 0] to 4 columns (align_corners=False): [4, 3, 1, 0]
    assert torch.allclose(lowpass(x)[0, 0, 0, 0], torch.tensor([4.0, 3.0, 1.0, 0.0]))


def test_latent_frame_weights():
    w = latent_frame_weights(5).flatten().tolist()
    assert w == pytest.approx([0.05, 0.325, 0.757, 1.0, 1.0])
    assert latent_frame_weights(2).flatten().tolist() == pytest.approx([0.05, 0.325])


def test_clean_sample_is_plain_mse_times_timestep_weight():
    pred, target, noise = torch.zeros(1, 1, 4, 2, 2), torch.ones(1, 1, 4, 2, 2), torch.zeros(1, 1, 4, 2, 2)
    terms = longvie_loss(pred, target, noise, timestep_weight=torch.tensor(2.0), degraded=False,
                         cond_latent=torch.ones(1, 1, 1, 2, 2))
    assert terms.main.item() == pytest.approx(1.0)
    assert terms.total.item() == pytest.approx(2.0)
    assert terms.deg is None and terms.gt is None and terms.cons is None


def test_degraded_loss_hand_computed():
    # pred = 0, noise = 0; target frame 0 = 3 * checkerboard, frames 1..3 = 1.
    pred, noise = torch.zeros(1, 1, 4, 2, 2), torch.zeros(1, 1, 4, 2, 2)
    target = torch.ones(1, 1, 4, 2, 2)
    target[0, 0, 0] = 3 * checkerboard(2, 2)
    cond = torch.full((1, 1, 1, 2, 2), 2.0)
    history = checkerboard(2, 2).view(1, 1, 1, 2, 2)
    terms = longvie_loss(pred, target, noise, timestep_weight=torch.tensor(0.5), degraded=True,
                         cond_latent=cond, history_latent=history)
    assert terms.main.item() == pytest.approx((0.05 * 9 + 0.325 + 0.757 + 1.0) / 4)  # 0.633
    assert terms.gt.item() == pytest.approx(9.0)  # HP(0) vs HP(3 * board) = 3 * board
    assert terms.deg.item() == pytest.approx(4.0)  # LP(0) vs LP(0 - 2)
    assert terms.cons.item() == pytest.approx(1.0)  # 0 vs 0 - board, unfiltered
    assert terms.temporal.item() == pytest.approx(0.2 * 4 + 0.15 * 9 + 0.5 * 1)
    assert terms.total.item() == pytest.approx(0.5 * (0.633 + 2.65))
    no_history = longvie_loss(pred, target, noise, timestep_weight=torch.tensor(1.0), degraded=True,
                              cond_latent=cond)
    assert no_history.cons is None
    assert no_history.total.item() == pytest.approx(0.633 + 0.8 + 1.35)


def test_consistency_on_known_latents():
    pred, noise = torch.ones(1, 2, 3, 4, 4), torch.full((1, 2, 3, 4, 4), 0.5)
    terms = longvie_loss(pred, pred.clone(), noise, timestep_weight=torch.tensor(1.0), degraded=True,
                         cond_latent=torch.full((1, 2, 1, 4, 4), -0.5),
                         history_latent=torch.full((1, 2, 1, 4, 4), 0.25))
    assert terms.cons.item() == pytest.approx(0.75 ** 2)  # pred0 - (eps0 - z_hist) = 1 - 0.25
    assert terms.deg.item() == pytest.approx(0.0)  # eps0 - z_deg = 1 = pred0
    assert terms.gt.item() == pytest.approx(0.0)


def test_degraded_loss_needs_the_conditioning_latent():
    x = torch.zeros(1, 1, 2, 2, 2)
    with pytest.raises(ValueError, match="cond_latent"):
        longvie_loss(x, x, x, timestep_weight=torch.tensor(1.0), degraded=True)
    with pytest.raises(ValueError, match="one shape"):
        longvie_loss(x, x[:, :, :1], x, timestep_weight=torch.tensor(1.0), degraded=False)


# --- degradations -----------------------------------------------------------------------------

def test_feature_degradation_range_and_rate():
    rng = np.random.default_rng(0)
    always = FeatureDegradation(probability=1.0, low=0.05, high=1.0)
    draws = np.array([always.sample_scale(rng) for _ in range(2000)])
    assert draws.min() >= 0.05 and draws.max() <= 1.0 and abs(draws.mean() - 0.525) < 0.02
    draws = np.array([PAPER_FEATURE_DEGRADATION.sample_scale(rng) for _ in range(20000)])
    assert abs((draws != 1.0).mean() - 0.05) < 0.006
    assert FeatureDegradation(0.0, 1.0, 1.0).sample_scale(rng) == 1.0


def test_box_blur_values():
    delta = torch.zeros(1, 5, 5)
    delta[0, 2, 2] = 9.0
    out = box_blur(delta, 3, count_include_pad=False)
    assert torch.allclose(out[0, 1:4, 1:4], torch.ones(3, 3)) and out.sum().item() == pytest.approx(9.0)
    const = box_blur(torch.ones(1, 4, 4), 3)  # upstream's zero padding counts: corners 4/9, edges 6/9
    assert const[0, 0, 0].item() == pytest.approx(4 / 9) and const[0, 0, 1].item() == pytest.approx(6 / 9)
    assert const[0, 1, 1].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="odd"):
        box_blur(delta, 4)


def test_multi_scale_fusion_values():
    rng = np.random.default_rng(3)
    const = torch.full((2, 64, 64), 0.4)
    assert torch.allclose(multi_scale_fusion(const, rng), const, atol=1e-6)  # weights sum to 1
    board = (checkerboard(64, 64)[None] + 1) / 2  # 0/1 checkerboard: every coarser scale is 0.5 flat
    replay = np.random.default_rng(11)
    dropped = int(replay.integers(6))
    w = replay.random(5)
    w = w / w.sum()
    w_full = 0.0 if dropped == 0 else w[0]
    expected = w_full * board + (1 - w_full) * 0.5
    assert torch.allclose(multi_scale_fusion(board, np.random.default_rng(11)), expected, atol=1e-5)


def test_depth_augmentation_rate_and_range():
    aug = DepthAugmentation(probability=1.0)
    rng = np.random.default_rng(0)
    depth = torch.rand(3, 32, 32)
    out = aug(depth, rng)
    assert out.shape == depth.shape and out.min() >= 0 and out.max() <= 1 and not torch.equal(out, depth)
    rare = DepthAugmentation(probability=0.05)
    changed = sum(not torch.equal(rare(depth, rng), depth) for _ in range(2000))
    assert 50 < changed < 160  # ~5% of 2000, times 0.9..1 (blur may be skipped when alone)


def test_colour_drift_hand_computed():
    img = np.full((4, 8, 3), 100, np.uint8)
    assert np.array_equal(colour_drift(img, np.random.default_rng(0), strength=0.0), img)
    u = np.random.default_rng(5).uniform(-0.1, 0.1, 3)
    out = colour_drift(img, np.random.default_rng(5), strength=0.2, spatial_var=0.0)
    tint = np.clip(100 / 255 + u, 0, 1)
    expected = np.round((0.8 * 100 / 255 + 0.2 * tint) * 255)
    assert np.array_equal(out[0, 0], expected.astype(np.uint8)) and (out == out[0, 0]).all()
    stack = colour_drift(np.full((3, 4, 8, 3), 100, np.uint8), np.random.default_rng(1), strength=0.3)
    assert stack.shape == (3, 4, 8, 3) and np.array_equal(stack[0], stack[2])  # one mask for all frames


def test_frame_degradation_plan_rates():
    rng = np.random.default_rng(0)
    plans = [FIRST_FRAME_DEGRADATION.plan(rng) for _ in range(20000)]
    quality = [p for p in plans if p.kind != "none"]
    assert abs(len(quality) / 20000 - 0.1) < 0.01
    assert abs(sum(p.kind == "reencode" for p in quality) / len(quality) - 0.4) < 0.04
    assert abs(sum(p.colour_strength is not None for p in plans) / 20000 - 0.1) < 0.01
    assert all(0.1 <= p.colour_strength <= 0.2 for p in plans if p.colour_strength is not None)
    regen = [p.amount for p in quality if p.kind == "regenerate"]
    assert set(regen) <= {1, 2, 3, 4, 6} and abs(regen.count(1) / len(regen) - 6 / 16) < 0.05
    hist = [HISTORY_DEGRADATION.plan(rng) for _ in range(20000)]
    assert abs(sum(p.kind != "none" for p in hist) / 20000 - 0.05) < 0.008


def test_regenerate_noises_to_the_right_sigma_and_an_oracle_recovers_the_latent():
    sigmas = inference_sigmas()
    assert sigmas[0].item() == 1.0 and sigmas[-1].item() == 0.0 and len(sigmas) == 51
    assert sigmas[49].item() == pytest.approx(0.1 / 1.08)
    z = torch.zeros(1, 2, 1, 3, 3)
    out = regenerate_latents(z, lambda x, t: torch.zeros_like(x), 1, torch.Generator().manual_seed(4))
    assert torch.allclose(out, sigmas[49].item() * torch.randn(z.shape, generator=torch.Generator().manual_seed(4)))
    z = torch.randn(1, 2, 1, 3, 3)

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # exact velocity towards z
        return (x - z) / (t / 1000)

    assert torch.allclose(regenerate_latents(z, oracle, 6, torch.Generator().manual_seed(1)), z, atol=1e-5)


class ShiftCodec:
    """A fake VAE whose round trip adds 0.1 in [-1, 1] units (12.75 grey levels)."""

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return video + 0.1

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents


def test_apply_plan_reencode_rounds():
    frames = np.full((2, 4, 4, 3), 127, np.uint8)
    rng = np.random.default_rng(0)
    out = apply_plan(frames, DegradationPlan("reencode", 3), rng, codec=ShiftCodec())
    assert (out == 165).all()  # (127/127.5 - 1 + 0.3 + 1) * 127.5 = 165.25
    assert np.array_equal(apply_plan(frames, DegradationPlan(), rng), frames)
    with pytest.raises(ValueError, match="VAE"):
        apply_plan(frames, DegradationPlan("reencode", 1), rng)


# --- history ----------------------------------------------------------------------------------

def test_history_sampling_statistics():
    rng = np.random.default_rng(0)
    sampler = HistorySampler()
    draws = np.array([sampler.sample(100, rng) for _ in range(20000)])
    for value in (0, 4, 8, 12, 16):
        assert abs((draws == value).mean() - 0.2) < 0.012, value
    short = np.array([sampler.sample(10, rng) for _ in range(4000)])
    assert set(short.tolist()) == {0, 4, 8}  # 12 and 16 are cut to 8 (multiple of 4 <= 10)
    assert abs((short == 8).mean() - 0.6) < 0.03
    assert {sampler.sample(3, rng) for _ in range(200)} == {0}


def test_history_latent_counts():
    assert [history_latent_frames(n) for n in (0, 4, 8, 12, 16)] == [0, 1, 2, 3, 4]
    assert [encoded_history_frames(n) for n in (0, 4, 8, 16)] == [0, 1, 5, 13]
