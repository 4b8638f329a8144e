"""The engine's one upload per clip (ClipView.device_frames) is what the VBench evaluators read."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from evaluators._frames import frames_source
from evaluators.feed import clip_views, in_memory_sample
from evaluators.vbench import common, dynamic, smoothness
from longvgenbench.evaluation.upload import UploadedClip, uploaded
from longvgenbench.records import Grid

GRID = Grid(fps=16, clip_frames=9, stride=8, height=128, width=136)


class _DifferenceFlow(torch.nn.Module):
    """Pair runner stand-in: each pair's flow is 40 x the mean abs change between its frames."""

    def forward(self, frames):
        magnitude = 40.0 * (frames[1:] - frames[:-1]).abs().mean(dim=1)
        return dynamic.top_magnitude_mean(torch.stack([magnitude, torch.zeros_like(magnitude)], dim=1))


class _Blend(torch.nn.Module):
    def forward(self, img0, img1, t):
        return (1 - t) * img0 + t * img1


def _views(frames: np.ndarray, shared: np.ndarray | None):
    sample = in_memory_sample("v", frames.shape[0], frames.shape[1], frames.shape[2], GRID)
    for view in clip_views(sample, frames):
        yield view if shared is None else replace(
            view, device_frames=torch.from_numpy(shared[view.segment.start : view.segment.stop].copy()))


def _moving(frames: int = 9) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (frames, 128, 136, 3), dtype=np.uint8)


def test_frames_source_prefers_the_shared_copy_of_the_same_clip():
    frames = _moving()
    view = next(_views(frames, frames))
    assert isinstance(frames_source(view, view.frames), torch.Tensor)
    assert frames_source(view, view.frames.copy()) is not view.device_frames  # not the clip's own frames
    assert frames_source(replace(view, device_frames=None), view.frames) is view.frames
    wrong = replace(view, device_frames=torch.zeros(3, 128, 136, 3, dtype=torch.uint8))
    assert frames_source(wrong, wrong.frames) is wrong.frames  # a copy of another shape is ignored


def test_dynamic_degree_reads_the_shared_copy():
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False)
    evaluator._model = _DifferenceFlow()
    moving, still = _moving(), np.repeat(_moving(1), 9, axis=0)
    for frames, shared, expected in ((moving, None, 1.0), (moving, moving, 1.0), (moving, still, 0.0)):
        view = next(_views(frames, shared))
        assert evaluator.score_clip(view)["dynamic_degree"] == expected


def test_motion_smoothness_on_the_shared_copy_equals_numpy():
    evaluator = smoothness.MotionSmoothnessEvaluator(verify_weights=False)
    evaluator._model = _Blend()
    frames = _moving()
    plain = evaluator.score_clip(next(_views(frames, None)))
    shared = evaluator.score_clip(next(_views(frames, frames)))
    assert plain == shared and plain["motion_smoothness"] < 1.0
    still = np.repeat(_moving(1), 9, axis=0)
    assert evaluator.score_clip(next(_views(frames, still)))["motion_smoothness"] == 1.0  # it read the copy


def test_batched_features_take_numpy_or_tensors():
    frames = _moving(5)
    def model(x):
        return x.mean(dim=(2, 3))
    a = common.batched_features(frames, "cpu", 2, lambda x: x, model, "fp32")
    b = common.batched_features(torch.from_numpy(frames), "cpu", 2, lambda x: x, model, "fp32")
    assert torch.equal(a, b)


def test_uploaded_off_cuda_passes_frames_through():
    frames = [_moving(2), _moving(3)]
    out = list(uploaded(iter(frames), "cpu"))
    assert [o.frames is f for o, f in zip(out, frames, strict=True)] == [True, True]
    assert all(isinstance(o, UploadedClip) and o.on_device is None for o in out)
