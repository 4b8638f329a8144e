"""Go-with-the-Flow noise warping: stays standard Gaussian, and moves with a known flow."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.gwtf import noise_warp as nw


def _zoom_and_swirl(h: int, w: int, t: int) -> torch.Tensor:
    """A flow with expansion, contraction and fractional motion (so every branch of the warp runs)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    cx, cy = w / 2, h / 2
    zoom = 0.06 * (1 if t % 2 else -1)
    dx = zoom * (xs - cx) - 0.8 * (ys - cy) / h * 6 + 0.3
    dy = zoom * (ys - cy) + 0.8 * (xs - cx) / w * 6
    return torch.stack([dx, dy])


def test_warped_noise_keeps_zero_mean_and_unit_variance() -> None:
    """The last of 8 warped frames, over 16 independent seeds: mean 0, variance 1, Gaussian tails.

    Frames of one video are strongly correlated (that is the point), so independent samples come
    from independent seeds; within a frame, pixels are close to independent.
    """
    h, w = 24, 36
    flows = [_zoom_and_swirl(h, w, t) for t in range(8)]
    last = [nw.warped_noise_video(flows, 16, h, w, upscale=4, generator=torch.Generator().manual_seed(seed))[-1]
            for seed in range(16)]
    values = torch.stack(last).reshape(-1).double()
    n = values.numel()  # 221,184 samples: standard errors 0.0021 (mean), 0.003 (variance), 0.01 (kurtosis)
    assert abs(values.mean().item()) < 5 / math.sqrt(n)
    assert abs(values.var().item() - 1.0) < 0.02
    kurtosis = ((values - values.mean()) ** 4).mean() / values.var() ** 2
    assert abs(kurtosis.item() - 3.0) < 0.1
    for frame in last:  # no single video drifts either
        assert abs(frame.mean().item()) < 0.05 and abs(frame.std().item() - 1.0) < 0.05


@pytest.mark.parametrize("upscale", [1, 4])
def test_noise_moves_with_a_known_integer_flow(upscale: int) -> None:
    """A 2-latent-pixel shift right per frame moves the noise exactly; what enters is fresh.

    The last two columns are left out: noise leaving the frame restarts in place (as upstream)
    and is merged, with a tiny weight, into what lands there.
    """
    g = torch.Generator().manual_seed(1)
    h, w = 12, 20
    flow = torch.zeros(2, h, w)
    flow[0] = 2.0  # in latent pixels at the flow's own (latent) size; resized to the warp size inside
    noise = nw.warped_noise_video([flow, flow], 4, h, w, upscale=upscale, generator=g)
    assert torch.allclose(noise[1][:, :, 2:-2], noise[0][:, :, :-4], atol=1e-5)
    assert torch.allclose(noise[2][:, :, 4:-2], noise[0][:, :, :-6], atol=1e-5)
    assert not torch.allclose(noise[1][:, :, 2:-2], noise[0][:, :, 2:-2], atol=0.1)
    entering = noise[1][:, :, :2].reshape(-1)
    assert not torch.allclose(noise[1][:, :, :2], noise[0][:, :, -2:])
    assert entering.abs().max() < 6


def test_zero_flow_is_the_identity_and_contraction_stays_gaussian() -> None:
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(3, 8, 8, generator=g)
    same = nw.warp_state(nw.initial_state(noise), torch.zeros(2, 8, 8), g)
    assert torch.allclose(same[3:], noise, atol=1e-6)
    # every row collapses onto column 0: the merged value is a unit-variance mix of its sources
    xs = torch.arange(8, dtype=torch.float32).expand(8, 8)
    collapse = torch.stack([-xs, torch.zeros(8, 8)])
    merged, sums = [], []
    for seed in range(300):
        g = torch.Generator().manual_seed(100 + seed)
        noise = torch.randn(1, 8, 8, generator=g)
        merged.append(nw.warp_state(nw.initial_state(noise), collapse, g)[3, :, 0])
        sums.append(noise[0].sum(dim=1) / math.sqrt(8))
    merged_values, source_sums = torch.cat(merged), torch.cat(sums)
    assert abs(merged_values.mean().item()) < 0.1 and abs(merged_values.std().item() - 1.0) < 0.06
    assert torch.corrcoef(torch.stack([merged_values, source_sums]))[0, 1].item() > 0.5


def test_regaussianize_splits_copies_into_independent_samples() -> None:
    g = torch.Generator().manual_seed(3)
    copies = torch.full((2, 50, 40), 1.5)  # one source value copied 2000 times
    out, counts = nw.regaussianize(copies, g)
    assert torch.all(counts == 2000)
    assert out.sum(dim=(1, 2)).allclose(torch.full((2,), 1.5 * 2000 / math.sqrt(2000)), atol=1e-3)
    assert abs(out.std().item() - 1.0) < 0.05


def test_temporal_downsampling_and_degradation() -> None:
    frames = torch.arange(49, dtype=torch.float32)[:, None, None, None].expand(49, 1, 2, 2)
    assert nw.temporal_downsample(frames, 13, "nearest")[:, 0, 0, 0].tolist() == [4.0 * i for i in range(13)]
    blend = nw.temporal_downsample(frames, 13, "blend")[:, 0, 0, 0]
    assert blend[0].item() == pytest.approx(1.5)  # frames 0..3 (49 = 13 groups: the first 10 have 4 frames)
    assert blend[-1].item() == pytest.approx(47.0)  # the last 3 groups have 3 frames: 46, 47, 48
    g = torch.Generator().manual_seed(4)
    base = torch.randn(200_000, generator=g)
    mixed = nw.mix_new_noise(base, 0.5, g)
    assert abs(mixed.std().item() - 1.0) < 0.01
    assert torch.corrcoef(torch.stack([mixed, base]))[0, 1].item() == pytest.approx(math.sqrt(0.5), abs=0.01)
    assert torch.equal(nw.mix_new_noise(base, 0.0, g), base)
    with pytest.raises(ValueError, match="degradation"):
        nw.mix_new_noise(base, 1.5)
