"""SSIM, PSNR and LPIPS against ground truth: known values, backend agreement, offline weights."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluators.feed import score_video
from evaluators.lpips_metric import LPIPSEvaluator, trunk_weights
from evaluators.reference import PSNR_CAP_DB, PSNREvaluator, SSIMEvaluator
from longvgenbench.errors import MismatchError, WeightsUnavailableError
from longvgenbench.evaluation.api import ClipView
from longvgenbench.records import Grid

SMALL = Grid(clip_frames=9, stride=8, fps=16.0, height=64, width=112)


def video(num_frames: int = 17, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (8, 14, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))  # blocky 64x112 image
    return np.stack([np.roll(big, t, axis=1) for t in range(num_frames)])


def noisy(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8)


def clip_values(evaluator, frames, truth, key):
    return [row[key] for row in score_video(evaluator, frames, truth, grid=SMALL).clips]


def test_ssim_of_identical_videos_is_one() -> None:
    frames = video()
    for backend in ("skimage", "torchmetrics"):
        values = clip_values(SSIMEvaluator(backend=backend), frames, frames.copy(), "ssim")
        assert len(values) == 2
        assert all(abs(v - 1.0) < 1e-6 for v in values)


def test_ssim_backends_agree_and_fall_with_noise() -> None:
    frames = video()
    slight, heavy = noisy(frames, 5.0), noisy(frames, 40.0)
    sk = [clip_values(SSIMEvaluator(backend="skimage"), frames, t, "ssim")[0] for t in (slight, heavy)]
    tm = [clip_values(SSIMEvaluator(backend="torchmetrics"), frames, t, "ssim")[0] for t in (slight, heavy)]
    np.testing.assert_allclose(sk, tm, atol=1e-4)
    assert 1.0 > sk[0] > sk[1] > 0.0


def test_ssim_frame_stride_and_backend_are_validated_and_recorded() -> None:
    with pytest.raises(ValueError):
        SSIMEvaluator(frame_stride=0)
    with pytest.raises(ValueError):
        SSIMEvaluator(backend="opencv")
    protocol = SSIMEvaluator(frame_stride=2).protocol()
    assert protocol["frame_stride"] == 2 and protocol["backend"] == "skimage" and protocol["kernel_size"] == 11


def test_psnr_of_identical_videos_is_the_cap() -> None:
    frames = video()
    assert clip_values(PSNREvaluator(), frames, frames.copy(), "psnr") == [PSNR_CAP_DB, PSNR_CAP_DB]


def test_psnr_of_a_constant_offset_is_exact() -> None:
    frames = np.clip(video(), 10, 245).astype(np.uint8)
    shifted = frames + np.uint8(5)  # MSE = 25 on every frame
    expected = 10 * math.log10(255.0**2 / 25.0)
    values = clip_values(PSNREvaluator(), frames, shifted, "psnr")
    assert values == pytest.approx([expected, expected], abs=1e-4)


def test_psnr_averages_per_frame_values_with_the_cap() -> None:
    frames = np.clip(video(9), 10, 245).astype(np.uint8)
    truth = frames.copy()
    truth[1::2] += np.uint8(5)  # frames 1,3,5,7 at 34.15 dB, the others identical (capped)
    value = clip_values(PSNREvaluator(), frames, truth, "psnr")[0]
    assert value == pytest.approx((5 * PSNR_CAP_DB + 4 * 10 * math.log10(255.0**2 / 25.0)) / 9, abs=1e-4)


def test_reference_metrics_need_matching_ground_truth() -> None:
    frames = video(9)
    from evaluators.feed import clip_views, in_memory_sample

    sample = in_memory_sample("gt", 9, 64, 112, SMALL)
    view = next(clip_views(sample, frames, None))
    with pytest.raises(MismatchError, match="ground truth"):
        PSNREvaluator().score_clip(view)
    wrong = ClipView(sample, sample.segments[0], frames, frames[:, :32])
    with pytest.raises(MismatchError, match="differ in shape"):
        SSIMEvaluator().score_clip(wrong)


# --- LPIPS: a random trunk checkpoint stands in for torchvision's ImageNet weights ---------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every attempt to open a connection or download a file."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return attempts


@pytest.fixture
def random_alexnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A randomly initialised torchvision AlexNet checkpoint where torch hub's cache would hold the real one."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = trunk_weights("alex").path()
    assert str(path).startswith(str(tmp_path))
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def test_lpips_without_weights_is_unavailable_fast_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    evaluator = LPIPSEvaluator()
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as caught:
        evaluator.check_available()
    assert time.perf_counter() - start < 2.0
    message = str(caught.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "empty" / "hub" / "checkpoints") in message
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in message
    with pytest.raises(WeightsUnavailableError):  # scoring fails the same way, never downloads
        score_video(evaluator, video(9), video(9), grid=SMALL)
    assert no_network == []


def test_lpips_with_random_trunk_scores_offline(random_alexnet: Path, no_network: list[str]) -> None:
    import hashlib

    evaluator = LPIPSEvaluator(verify_weights=False)
    evaluator.check_available()
    frames = video()
    identical = clip_values(evaluator, frames, frames.copy(), "lpips")
    different = clip_values(evaluator, frames, noisy(frames, 30.0), "lpips")
    assert all(abs(v) < 1e-6 for v in identical)
    assert all(v > 1e-4 for v in different)
    hashes = evaluator.weight_hashes()
    assert hashes["alexnet-owt-7be5be79.pth"] == hashlib.sha256(random_alexnet.read_bytes()).hexdigest()
    assert len(hashes) == 2
    assert no_network == []


def test_lpips_refuses_a_trunk_whose_hash_does_not_match(random_alexnet: Path, no_network: list[str]) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not start with 7be5be79"):
        LPIPSEvaluator().check_available()


def test_lpips_refuses_a_file_of_another_architecture(random_alexnet: Path, no_network: list[str]) -> None:
    torch.save({"features.0.weight": torch.zeros(1)}, random_alexnet)
    with pytest.raises(WeightsUnavailableError, match="not a alex checkpoint"):
        score_video(LPIPSEvaluator(verify_weights=False), video(9), video(9), grid=SMALL)
