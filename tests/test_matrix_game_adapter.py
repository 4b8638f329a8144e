"""matrix-game-2 through the real runner on CPU: grid mapping, sampler arithmetic, three segments, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.matrix_game.adapter import MatrixGame2Model, native_frames_for
from baselines.matrix_game.pipeline import crop_resize, latent_frames_for
from baselines.matrix_game.sampler import FlowTable
from longvgenbench.errors import ControlError, OptionError, WeightsUnavailableError
from longvgenbench.records import PROTOCOL_GRID, Grid
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames

GRID = Grid(clip_frames=9, stride=8, fps=16.0, height=32, width=48)  # 9 frames = 3 latents = one block
OPTIONS = {"dtype": "fp32", "height": 32, "width": 64}


def test_native_frames_per_segment():
    assert native_frames_for(PROTOCOL_GRID) == 81  # 21 latents = 7 blocks, one native frame per grid frame
    assert latent_frames_for(81, 3) == 21
    assert native_frames_for(GRID) == 9
    assert native_frames_for(Grid(clip_frames=17, stride=16, fps=16.0, height=8, width=8)) == 21  # 5 -> 6 latents
    assert native_frames_for(Grid(clip_frames=9, stride=8, fps=8.0, height=8, width=8)) == 21  # 17 native frames


def test_first_frame_is_centre_cropped_like_upstream():
    frame = np.zeros((480, 832, 3), np.uint8)
    frame[:, :, 1] = 200
    frame[:12, :, 0] = 255  # PIL crops rows round(11.5) = 12 .. round(468.5) = 468 of a 480x832 frame
    frame[468:, :, 0] = 255
    out = crop_resize(frame, 352, 640)
    assert out.shape == (352, 640, 3) and out[..., 0].max() == 0
    frame[12, :, 0] = 255  # the first kept row shows up
    assert crop_resize(frame, 352, 640)[0, :, 0].max() > 0


def test_flow_table_arithmetic():
    table = FlowTable.make(5.0)
    steps = table.denoising_timesteps((1000, 666, 333))
    assert steps[0] == pytest.approx(1000.0)
    s = 1 - 334 / 1000  # warped: t[1000 - 666] of the shifted table
    assert steps[1] == pytest.approx(1000 * 5 * s / (1 + 4 * s), rel=1e-6)
    assert 0 < steps[2] < steps[1] < steps[0]
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 3, 2, 2, generator=g), torch.randn(1, 4, 3, 2, 2, generator=g)
    t = steps[None].clone()  # one block, frames at three different timesteps
    xt = table.add_noise(x0, noise, t)
    assert torch.allclose(table.to_x0(noise - x0, xt, t), x0, atol=1e-6)  # the flow is noise - x0
    assert not torch.allclose(xt, x0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from baselines.matrix_game.tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("matrix_game_weights"))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from gamecraft_tiny import walking_split

    return walking_split(tmp_path_factory.mktemp("matrix_game_split"), GRID, 0.5)


class Recording(MatrixGame2Model):
    def generate_segment(self, request, state):
        self.first_frames = [*getattr(self, "first_frames", []), request.first_frame.copy()]
        return super().generate_segment(request, state)


class Killed(MatrixGame2Model):
    kill_at = 2

    def generate_segment(self, request, state):
        if request.segment.index == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        return super().generate_segment(request, state)


def test_three_segments_and_resume_exactly(tmp_path: Path, weights: Path, split):
    assert type(create_model("matrix-game-2", weights=str(weights), **OPTIONS)) is MatrixGame2Model
    model = Recording(weights=str(weights), **OPTIONS)
    summary = generate(model, split, tmp_path / "full", seed=3)
    assert summary.segments_generated == 3
    full = [read_frames(RunDir(tmp_path / "full").segment_video("vid0", k)) for k in range(3)]
    assert all(f.shape == (GRID.clip_frames, GRID.height, GRID.width, 3) for f in full)
    assert all(f.std() > 0 for f in full)
    assert not np.array_equal(full[1], full[2])
    for k in (1, 2):  # the default loop: each segment starts from the previous segment's last grid frame
        assert np.array_equal(model.first_frames[k], full[k - 1][-1])
    for k in range(3):  # forward motion -> W held on every row; turning 0.5 deg/frame right -> positive yaw
        actions = model.actions[k]
        assert actions.num_frames == 9
        assert np.array_equal(actions.keyboard, np.tile([1, 0, 0, 0], (9, 1)).astype(np.float32))
        assert (actions.mouse[:, 1] > 0).all() and np.allclose(actions.mouse[:, 0], 0)
    with pytest.raises(KeyboardInterrupt):
        generate(Killed(weights=str(weights), **OPTIONS), split, tmp_path / "resumed", seed=3)
    resumed = MatrixGame2Model(weights=str(weights), **OPTIONS)
    summary = generate(resumed, split, tmp_path / "resumed", seed=3)
    assert (summary.segments_generated, summary.segments_reused) == (1, 2)
    assert sorted(resumed.actions) == [2]
    for k in range(3):
        assert np.array_equal(full[k], read_frames(RunDir(tmp_path / "resumed").segment_video("vid0", k)))
    other = generate(MatrixGame2Model(weights=str(weights), **OPTIONS), split, tmp_path / "other", seed=4)
    assert other.segments_generated == 3
    assert not np.array_equal(full[0], read_frames(RunDir(tmp_path / "other").segment_video("vid0", 0)))


def test_fingerprint_records_mapping_and_config(weights: Path):
    base = MatrixGame2Model(weights=str(weights), **OPTIONS).fingerprint()
    assert json.loads(base["action_mapping"])["mouse_per_radian"] == 1.0
    assert json.loads(base["config"])["num_layers"] == 2
    assert "16 fps" in base["grid_mapping"]
    changed = MatrixGame2Model(weights=str(weights), action_mapping={"mouse_per_radian": 2.0}, **OPTIONS)
    assert changed.fingerprint()["action_mapping"] != base["action_mapping"]


def test_clear_errors(tmp_path: Path, weights: Path, monkeypatch):
    from core_fixtures import make_tiny_split

    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError, match=r"longvgenbench weights fetch matrix-game-2-universal"):
        MatrixGame2Model().fingerprint()
    with pytest.raises(WeightsUnavailableError, match=r"generator\.safetensors"):
        MatrixGame2Model(weights=str(tmp_path / "nothing")).fingerprint()
    with pytest.raises(OptionError, match="multiples of 16"):
        MatrixGame2Model(height=350)
    with pytest.raises(OptionError, match="dtype"):
        MatrixGame2Model(dtype="int8")
    with pytest.raises(OptionError, match="no fields"):
        MatrixGame2Model(action_mapping={"speed": 1})
    no_camera = make_tiny_split(tmp_path / "split", num_videos=1, num_segments=1, grid=GRID)
    with pytest.raises(ControlError, match="has no camera control"):
        generate(MatrixGame2Model(weights=str(weights), **OPTIONS), no_camera, tmp_path / "run", seed=0)
