"""SSIM and PSNR against the ground truth, per clip, as the mean over the clip's frames.

LongVie 2 reports SSIM (and LPIPS) against ground truth as "controllability" without saying how;
these evaluators fix the choices and record them in :meth:`protocol` so results say what they are.

SSIM: RGB scaled to [0, 1], Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1,
population (not sample) covariances, the mean of the SSIM map over the interior only (the 5-pixel
border where the window would reach beyond the image is left out, as in Wang et al.'s reference
code and scikit-image), channels averaged, then frames averaged. Two library backends compute this:
scikit-image (on CPU; separable Gaussian filtering, frames spread over threads) and torchmetrics
(on CUDA, batched; its map is taken with ``return_full_image`` and cropped to the same interior,
because torchmetrics itself averages the reflect-padded border too). They agree to float32
rounding (``tests/test_evaluators_reference.py`` checks it); the backend is still recorded.

PSNR: on uint8 values as float (data range 255), per frame, then averaged over frames (not the PSNR
of the clip's mean MSE). Identical frames have infinite PSNR; the per-frame value is capped at
``PSNR_CAP_DB`` = 100 dB, i.e. the MSE is floored at 255^2 * 1e-10, so JSON never sees ``inf``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import numpy as np
import torch

from evaluators._frames import generated_and_truth
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec, Need

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_KERNEL = 11
SSIM_RADIUS = (SSIM_KERNEL - 1) // 2
SSIM_BACKENDS = ("auto", "skimage", "torchmetrics")


def _check_frame_stride(frame_stride: int) -> int:
    if not isinstance(frame_stride, int) or frame_stride < 1:
        raise ValueError(f"frame_stride must be a positive integer, got {frame_stride!r}")
    return frame_stride


def _to_unit_tensor(frames: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W) in [0, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


class SSIMEvaluator(ClipEvaluator):
    """Structural similarity with the ground truth, mean over a clip's frames (higher is better)."""

    name: ClassVar[str] = "ssim"
    version: ClassVar[str] = "1.0"
    needs: ClassVar[frozenset[Need]] = frozenset({Need.GROUND_TRUTH})
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "ssim", Level.CLIP, True,
            "SSIM with the ground truth (RGB in [0,1], Gaussian 11x11, sigma 1.5), mean over the clip's frames",
            "",
        ),
    )

    def __init__(
        self, device: str = "cpu", backend: str = "auto", frame_stride: int = 1, batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        super().__init__(device)
        if backend not in SSIM_BACKENDS:
            raise ValueError(f"SSIM backend must be one of {SSIM_BACKENDS}, got {backend!r}")
        if backend == "auto":
            backend = "skimage" if torch.device(device).type == "cpu" else "torchmetrics"
        self.backend = backend
        self.frame_stride = _check_frame_stride(frame_stride)
        self.batch_size = max(1, int(batch_size))
        self.threads = max(1, threads if threads is not None else min(8, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None

    def protocol(self) -> dict[str, object]:
        return {
            "colour": "RGB", "value_range": [0.0, 1.0], "data_range": 1.0, "window": "gaussian",
            "kernel_size": SSIM_KERNEL, "sigma": SSIM_SIGMA, "k1": 0.01, "k2": 0.03, "covariance": "population",
            "border": "interior only (window radius cropped)", "per_frame_then": "mean over frames",
            "frame_stride": self.frame_stride, "backend": self.backend,
        }

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames, truth = generated_and_truth(clip)
        frames, truth = frames[:: self.frame_stride], truth[:: self.frame_stride]
        compute = self._skimage if self.backend == "skimage" else self._torchmetrics
        per_frame = compute(frames, truth)
        return {"ssim": float(np.mean(per_frame))}

    def _skimage(self, frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
        # scipy's filters release the GIL, so threads over frames use every core.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ssim")
        return np.array(list(self._pool.map(_ssim_frame_skimage, frames, truth)), dtype=np.float64)

    def _torchmetrics(self, frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
        from torchmetrics.functional.image import structural_similarity_index_measure

        values: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, frames.shape[0], self.batch_size):
                stop = start + self.batch_size
                _, ssim_map = structural_similarity_index_measure(
                    _to_unit_tensor(frames[start:stop], self.device), _to_unit_tensor(truth[start:stop], self.device),
                    gaussian_kernel=True, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL, data_range=1.0,
                    k1=0.01, k2=0.03, reduction="none", return_full_image=True,
                )
                # torchmetrics averages the whole reflect-padded map; the protocol (like Wang et al.'s
                # reference code and scikit-image) averages only the interior the window fits in.
                interior = ssim_map[..., SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
                values.append(interior.double().mean(dim=(1, 2, 3)).cpu().numpy())
        return np.concatenate(values)

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)


def _ssim_frame_skimage(frame: np.ndarray, truth: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    # truncate=3.5 with sigma=1.5 gives radius 5, i.e. the 11-tap window of the protocol.
    return float(
        structural_similarity(
            frame.astype(np.float32) / np.float32(255.0), truth.astype(np.float32) / np.float32(255.0),
            channel_axis=2, gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False, data_range=1.0,
            K1=0.01, K2=0.03,
        )
    )


class PSNREvaluator(ClipEvaluator):
    """Peak signal-to-noise ratio with the ground truth in dB, per frame (capped), mean over a clip."""

    name: ClassVar[str] = "psnr"
    version: ClassVar[str] = "1.0"
    needs: ClassVar[frozenset[Need]] = frozenset({Need.GROUND_TRUTH})
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "psnr", Level.CLIP, True,
            f"PSNR with the ground truth (uint8 values, data range 255), per frame capped at {PSNR_CAP_DB:g} dB, "
            "mean over the clip's frames",
            "dB",
        ),
    )

    def __init__(self, device: str = "cpu", frame_stride: int = 1, batch_size: int = 4) -> None:
        super().__init__(device)
        self.frame_stride = _check_frame_stride(frame_stride)
        # Small batches: on CPU four frames' float copies stay cheap, sixteen cost ~4x more per frame.
        self.batch_size = max(1, int(batch_size))

    def protocol(self) -> dict[str, object]:
        return {
            "colour": "RGB", "data_range": 255.0, "per_frame_then": "mean over frames",
            "cap_db": PSNR_CAP_DB, "cap_rule": "per-frame MSE floored at data_range^2 * 1e-10",
            "frame_stride": self.frame_stride, "backend": "torchmetrics",
        }

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        from torchmetrics.functional.image import peak_signal_noise_ratio

        frames, truth = generated_and_truth(clip)
        frames, truth = frames[:: self.frame_stride], truth[:: self.frame_stride]
        values: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, frames.shape[0], self.batch_size):
                stop = start + self.batch_size
                generated = torch.from_numpy(np.ascontiguousarray(frames[start:stop])).to(self.device).float()
                target = torch.from_numpy(np.ascontiguousarray(truth[start:stop])).to(self.device).float()
                psnr = peak_signal_noise_ratio(generated, target, data_range=255.0, reduction="none", dim=(1, 2, 3))
                # PSNR falls as MSE grows, so capping it is the same as flooring the MSE.
                values.append(torch.clamp(psnr, max=PSNR_CAP_DB).double().cpu().numpy())
        return {"psnr": float(np.mean(np.concatenate(values)))}
