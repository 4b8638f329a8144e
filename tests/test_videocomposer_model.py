"""VideoComposer: the official tensor list, the checkpoint check, the grid mapping and the conditions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.videocomposer.checkpoint import CheckpointError, load_checked, official_tensors, read_state
from baselines.videocomposer.conditions import depth_condition, motion_condition
from baselines.videocomposer.config import TINY_UNET, UNetConfig
from baselines.videocomposer.grid import GridMapping
from baselines.videocomposer.loading import WeightsFolder
from baselines.videocomposer.sampler import DDIMSampler, SamplerConfig
from baselines.videocomposer.unet import VideoComposerUNet, parameter_shapes
from longvgenbench.controls import Tracks
from longvgenbench.errors import MismatchError, WeightsUnavailableError
from longvgenbench.model import conform_to_grid
from longvgenbench.records import PROTOCOL_GRID, Grid


def test_real_size_model_has_exactly_the_official_tensors() -> None:
    official = official_tensors()
    ours = parameter_shapes(UNetConfig())
    assert len(official) == 1574
    assert sorted(set(official) - set(ours)) == [] and sorted(set(ours) - set(official)) == []
    assert {n: s for n, s in ours.items() if official[n] != s} == {}
    assert sum(int(np.prod(s)) for s in official.values()) == 1_413_435_636


def _tiny_state(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = VideoComposerUNet(TINY_UNET).state_dict()
    path = tmp_path / "unet.pth"
    torch.save(state, path)
    return path, state


def test_checkpoint_loads_through_the_check(tmp_path: Path) -> None:
    path, state = _tiny_state(tmp_path)
    with torch.device("meta"):
        model = VideoComposerUNet(TINY_UNET)
    load_checked(model, path)
    assert all(torch.equal(model.state_dict()[n], t) for n, t in state.items())
    torch.save({"module." + n: t for n, t in state.items()}, tmp_path / "ddp.pth")  # a DDP save
    assert set(read_state(tmp_path / "ddp.pth")) == set(state)


@pytest.mark.parametrize("damage", ["missing", "unexpected", "misshaped"])
def test_checkpoint_mismatch_names_the_tensors(tmp_path: Path, damage: str) -> None:
    _, state = _tiny_state(tmp_path)
    name = "input_blocks.0.0.weight"
    if damage == "missing":
        del state[name]
    elif damage == "unexpected":
        state["canny_embedding.0.weight"] = torch.zeros(3)
        name = "canny_embedding.0.weight"
    else:
        state[name] = torch.zeros(1, 2, 3)
    torch.save(state, tmp_path / "bad.pth")
    with torch.device("meta"):
        model = VideoComposerUNet(TINY_UNET)
    with pytest.raises(CheckpointError, match=damage.replace("misshaped", "mis-shaped")) as info:
        load_checked(model, tmp_path / "bad.pth")
    assert name in str(info.value) and "bad.pth" in str(info.value)


def test_checkpoint_refuses_pickled_code_and_non_state_dicts(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "code.pth").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(CheckpointError, match="weights_only"):
        read_state(tmp_path / "code.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state(tmp_path / "list.pth")


def test_missing_weights_fail_fast_with_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        WeightsFolder.find(tmp_path)
    message = str(info.value)
    assert "non_ema_228000.pth" in message and "longvgenbench weights fetch videocomposer-unet" in message


def test_grid_mapping_is_exact_on_the_protocol_grid() -> None:
    mapping = GridMapping()
    assert (mapping.step, mapping.clip_native_frames, mapping.passes) == (4, 21, 2)
    assert mapping.pass_grid_indices(0).tolist() == list(range(0, 61, 4))
    assert mapping.pass_grid_indices(1).tolist() == [60, 64, 68, 72, 76] + [80] * 11
    # every native frame a distinct colour: pass 1 repeats pass 0's last frame as its first
    pass0 = np.stack([np.full((256, 256, 3), 10 * i, np.uint8) for i in range(16)])
    pass1 = np.stack([np.full((256, 256, 3), 150 + 5 * i, np.uint8) for i in range(16)])
    pass1[0] = pass0[-1]
    native = mapping.assemble([pass0, pass1])
    assert native.shape == (21, 256, 256, 3)
    frames, how = conform_to_grid(native, mapping.native, PROTOCOL_GRID)
    assert frames.shape == (81, 480, 832, 3) and how["cut_frames"] == 3
    colours = frames[:, 0, 0, 0].astype(int).tolist()
    expected = [10 * (k // 4) if k // 4 < 16 else 150 + 5 * (k // 4 - 15) for k in range(81)]
    assert colours == expected  # grid frame k shows native frame floor(k / 4): 4j is native j
    with pytest.raises(MismatchError, match="fps"):
        GridMapping(Grid(fps=10.0))


def test_depth_polarity_near_is_large() -> None:
    depth = np.zeros((81, 6, 8), np.float32)
    depth[:, :, 4:] = 1.0  # left half near (0), right half far (1) in the protocol's convention
    out = depth_condition(depth, np.array([0, 4]), 8, 10.0)
    assert out.shape == (1, 2, 8, 8)
    assert np.allclose(out[0, :, :, :3], 10.0) and np.allclose(out[0, :, :, 5:], 0.0)


def test_motion_vectors_follow_a_known_translation() -> None:
    n = 5
    start = np.stack([np.linspace(100, 600, n), np.full(n, 240.0)], 1).astype(np.float32)
    xy = start[:, None] + np.arange(81, dtype=np.float32)[None, :, None] * np.array([2.0, -1.0], np.float32)
    visible = np.ones((n, 81), bool)
    visible[0, 8] = False
    tracks = Tracks(xy=xy, visible=visible)
    indices = GridMapping().pass_grid_indices(1)  # 60..80, then held
    mv = motion_condition(tracks, indices, (480, 832), 256)
    assert mv.shape == (2, 16, 256, 256)
    assert not mv[:, 0].any() and not mv[:, 6:].any()  # first frame and held frames carry no motion
    for i in range(1, 6):
        ys, xs = np.nonzero(mv[0, i])
        assert len(xs) == n
        assert np.allclose(mv[0, i, ys, xs], 4 * 2.0 * 256 / 832) and np.allclose(mv[1, i, ys, xs], -4 * 256 / 480)
        where = xy[:, indices[i]] * np.array([256 / 832, 256 / 480])
        assert sorted(xs.tolist()) == sorted(np.floor(where[:, 0]).astype(int).tolist())
    early = motion_condition(tracks, GridMapping().pass_grid_indices(0), (480, 832), 256)
    assert np.count_nonzero(early[0, 2]) == n - 1  # point 0 is hidden at grid frame 8
    outside = Tracks(xy=xy + np.array([400.0, 0.0], np.float32), visible=visible)
    assert np.count_nonzero(motion_condition(outside, indices, (480, 832), 256)[0, 5]) < n  # left the frame


def test_ddim_timesteps_are_upstreams() -> None:
    sampler = DDIMSampler(SamplerConfig())
    steps = sampler.timesteps()
    assert steps[0] == 981 and steps[-1] == 1 and len(steps) == 50
    with pytest.raises(ValueError, match="divide"):
        SamplerConfig(steps=7)
