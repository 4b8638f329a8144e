"""GameCraft actions -> poses -> Plücker maps: hand-computed poses and upstream's own numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.gamecraft.camera import action_plucker, action_poses, pixel_intrinsics, relative_camera_to_world

GOLDENS = Path(__file__).parent / "parity" / "gamecraft" / "goldens"


def test_forward_action_moves_the_camera_centre_forward_by_equal_steps():
    poses = action_poses("w", 0.33).extrinsics
    assert poses.shape == (34, 3, 4)
    np.testing.assert_allclose(poses[0], np.hstack([np.eye(3), np.zeros((3, 1))]))
    for k in (1, 10, 33):
        np.testing.assert_allclose(poses[k][:, :3], np.eye(3))
        np.testing.assert_allclose(poses[k][:, 3], [0.0, 0.0, -0.01 * k], atol=1e-15)  # w2c translation
    c2w = relative_camera_to_world(poses[:33])
    # camera centre = -R^T t, scaled by 10: forward (+z in OpenCV axes) by 0.1 per frame
    np.testing.assert_allclose(c2w[7][:3, 3], [0.0, 0.0, 0.7], atol=1e-6)


@pytest.mark.parametrize(("key", "centre"), [("s", [0, 0, -1]), ("a", [-1, 0, 0]), ("d", [1, 0, 0])])
def test_translation_directions(key, centre):
    c2w = relative_camera_to_world(action_poses(key, 3.3).extrinsics[:33])
    np.testing.assert_allclose(c2w[1][:3, 3], np.array(centre) * 1.0, atol=1e-6)  # 3.3/33 * 10 per frame


def test_left_rotation_is_a_turn_about_y_by_the_accumulated_angle():
    poses = action_poses("left_rot", 33.0).extrinsics  # 1 degree per frame
    angle = math.radians(12.0)
    expected = np.array([[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
    np.testing.assert_allclose(poses[12][:, :3], expected, atol=1e-12)
    np.testing.assert_allclose(action_poses("right_rot", 33.0).extrinsics[12][:, :3], expected.T, atol=1e-12)


def test_plucker_of_a_pixel_matches_a_hand_computation():
    height, width = 8, 12
    cond, uncond = action_plucker("w", 0.33, height, width)
    fx, fy, cx, cy = pixel_intrinsics(height, width, 1)[0]
    v, u = 3, 5
    d = np.array([(u + 0.5 - cx) / fx, (v + 0.5 - cy) / fy, 1.0])
    d /= np.linalg.norm(d)
    o = np.array([0.0, 0.0, 0.1 * 4])  # frame 4
    np.testing.assert_allclose(cond[4, :, v, u].numpy(), np.concatenate([np.cross(o, d), d]), atol=1e-6)
    np.testing.assert_allclose(uncond[4, :, v, u].numpy(), np.concatenate([np.zeros(3), d]), atol=1e-6)
    assert cond.shape == (33, 6, height, width) and cond.dtype == torch.float32


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="unknown GameCraft action"):
        action_poses("jump", 1.0)


def test_plucker_maps_equal_upstreams():
    """Upstream's ActionToPoseFromID + GetPoseEmbedsFromPoses (goldens, see parity/gamecraft/README.md)."""
    from safetensors.torch import load_file

    goldens = load_file(str(GOLDENS / "plucker.safetensors"))
    kept = [0, 1, 2, 16, 32]
    keys = sorted({k.split(".")[0] for k in goldens})
    assert len(keys) == 8
    values = {"w": 0.2, "s": 0.5, "a": 0.3, "d": 1.0, "left_rot": 10.0, "right_rot": 25.0, "up_rot": 5.0,
              "down_rot": 15.0}
    for key in keys:
        cond, uncond = action_plucker(key, values[key], 16, 32)
        assert (cond[kept] - goldens[f"{key}.cond"]).abs().max().item() <= 1e-6, key
        assert (uncond[kept] - goldens[f"{key}.uncond"]).abs().max().item() <= 1e-6, key
