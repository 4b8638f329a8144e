"""hunyuan-gamecraft through the real runner on CPU: grid mapping, three segments, resume == uninterrupted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.gamecraft.adapter import HunyuanGameCraftModel, native_span
from longvgenbench.errors import ControlError, OptionError, WeightsUnavailableError
from longvgenbench.model import conform_to_grid
from longvgenbench.records import PROTOCOL_GRID, Grid, SegmentRequest
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames

# stride 16 at 16 fps = 25 native frames per segment; 17-frame clips need 27 native frames
GRID = Grid(clip_frames=17, stride=16, fps=16.0, height=32, width=48)
OPTIONS = {"dtype": "fp32", "steps": 2, "height": 32, "width": 48, "crop_start": 4}


def test_native_span_of_the_protocol_grid():
    assert native_span(0, 81, 16.0) == (0, 127)
    assert native_span(80, 81, 16.0) == (125, 127)
    idx = np.floor(np.arange(81) * 25 / 16 + 1e-6).astype(int)
    assert idx[-1] == 125  # the last grid frame is the next segment's native frame 0
    with pytest.raises(OptionError, match="does not fall on"):
        native_span(8, 9, 16.0)


class FakePipeline:
    """Stands in for the diffusion: every decoded frame holds its global native index (known inputs)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width, self.generated = height, width, 0

    def encode_image(self, frame, seed):
        return torch.zeros(1)

    def latent_shape(self, continuation):
        return (1, 1, 1, 1, 1)

    def generate(self, prompt, key, value, noise, image_latent, history, on_step=None):
        self.generated += 1
        assert (history is None) == (self.generated == 1)
        return torch.full((1, 1, 1, 1, 1), float(self.generated - 1))

    def decode(self, latents):
        action = int(latents.flatten()[0])
        values = 1 + 33 * action + np.arange(33)
        return np.broadcast_to(values[:, None, None, None], (33, self.height, self.width, 3)).astype(np.uint8).copy()


def test_native_frames_map_onto_the_protocol_grid_exactly(tmp_path: Path):
    from core_fixtures import make_tiny_split
    from gamecraft_tiny import add_cameras

    grid = Grid(clip_frames=81, stride=80, fps=16.0, height=16, width=16)
    split = add_cameras(make_tiny_split(tmp_path, num_videos=1, num_segments=3, grid=grid), tmp_path)
    model = HunyuanGameCraftModel(height=16, width=16)
    model._pipeline = FakePipeline(16, 16)
    sample = split.samples[0]
    state = model.initial_state(sample)
    first = np.zeros((16, 16, 3), np.uint8)
    for seg in sample.segments:
        out = model.generate_segment(SegmentRequest(sample, seg, first, grid, seed=0), state)
        frames, how = conform_to_grid(out.frames, model.native, grid)
        expected = (125 * seg.index + np.floor(np.arange(81) * 25 / 16 + 1e-6)).astype(int)
        assert frames.shape == (81, 16, 16, 3) and how["native_frames"] == 127
        assert np.array_equal(frames[:, 0, 0, 0].astype(int), expected % 256), seg.index
        state, first = out.state, frames[-1]
    assert [a[1] for a in model.action_log] == list(range(12))  # 3 segments: 4 + 4 + 4 actions (1 + 33 x 12)
    assert [a[0] for a in model.action_log] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(a[2] == "w" and a[3] > 0 for a in model.action_log)  # the camera moves forward


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from gamecraft_tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("gamecraft_weights"))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from gamecraft_tiny import walking_split

    return walking_split(tmp_path_factory.mktemp("gamecraft_split"), GRID, 2.0)


class Killed(HunyuanGameCraftModel):
    kill_at = 2

    def generate_segment(self, request, state):
        if request.segment.index == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        return super().generate_segment(request, state)


def test_three_segments_and_resume_exactly(tmp_path: Path, weights: Path, split):
    model = create_model("hunyuan-gamecraft", weights=str(weights), **OPTIONS)
    summary = generate(model, split, tmp_path / "full", seed=3)
    assert summary.segments_generated == 3
    assert [(a[0], a[1]) for a in model.action_log] == [(0, 0), (1, 1), (2, 2)]
    full = [read_frames(RunDir(tmp_path / "full").segment_video("vid0", k)) for k in range(3)]
    assert all(f.shape == (GRID.clip_frames, GRID.height, GRID.width, 3) for f in full)
    assert all(f.std() > 0 for f in full)
    with pytest.raises(KeyboardInterrupt):
        generate(Killed(weights=str(weights), **OPTIONS), split, tmp_path / "resumed", seed=3)
    resumed = HunyuanGameCraftModel(weights=str(weights), **OPTIONS)
    summary = generate(resumed, split, tmp_path / "resumed", seed=3)
    assert (summary.segments_generated, summary.segments_reused) == (1, 2)
    assert resumed.action_log == model.action_log[2:]
    for k in range(3):
        assert np.array_equal(full[k], read_frames(RunDir(tmp_path / "resumed").segment_video("vid0", k)))


def test_clear_errors(tmp_path: Path, weights: Path):
    from core_fixtures import make_tiny_split

    with pytest.raises(WeightsUnavailableError, match=r"huggingface-cli download tencent/Hunyuan-GameCraft-1\.0"):
        HunyuanGameCraftModel(weights=str(tmp_path / "nothing")).fingerprint()
    with pytest.raises(OptionError, match="offload must be one of"):
        HunyuanGameCraftModel(offload="disk")
    with pytest.raises(OptionError, match="no fields"):
        HunyuanGameCraftModel(action_mapping={"speed": 1})
    no_camera = make_tiny_split(tmp_path / "split", num_videos=1, num_segments=1, grid=GRID)
    model = HunyuanGameCraftModel(weights=str(weights), **OPTIONS)
    with pytest.raises(ControlError, match="has no camera control"):
        generate(model, no_camera, tmp_path / "run", seed=0)
    assert PROTOCOL_GRID.stride * 25 / 16 == 125
