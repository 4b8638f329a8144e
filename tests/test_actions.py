"""Camera motion -> actions: known camera paths give the expected keys and mouse moves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from baselines.actions import (
    DEFAULT_MAPPING,
    ActionMapping,
    gamecraft_actions,
    matrix_game_actions,
    motion_from_poses,
    resample_motion,
    segment_motion,
)
from longvgenbench.atomic import write_npz
from longvgenbench.errors import ControlError
from longvgenbench.records import Category, Segment, SegmentControls, VideoSample
from longvgenbench.synthetic.camera_path import WalkStyle, intrinsics_for, look_at, plan_trajectory

FPS = 16.0
FRAMES = 81


def path(positions: np.ndarray, yaws_deg: np.ndarray, pitches_deg: np.ndarray | None = None) -> np.ndarray:
    """world_to_camera poses (OpenCV axes, world y up) at ``positions`` looking along yaw/pitch.

    Yaw 0 looks along world +z; positive yaw turns right (towards world -x seen from above with y up,
    which is the camera's +x after ``look_at``'s right = forward x up).
    """
    pitches_deg = np.zeros(len(positions)) if pitches_deg is None else pitches_deg
    poses = []
    for p, yaw, pitch in zip(positions, np.radians(yaws_deg), np.radians(pitches_deg), strict=True):
        look = np.array([-math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
        poses.append(look_at(p, p + look))
    return np.stack(poses)


def still(n: int = FRAMES) -> np.ndarray:
    return np.tile([0.0, 1.6, 0.0], (n, 1))


def test_yaw_sign_convention_matches_camera_axes() -> None:
    poses = path(still(2), np.array([0.0, 10.0]))
    # after turning right by 10 degrees, a point straight ahead of the old camera is left of centre
    point = np.array([0.0, 1.6, 5.0, 1.0])
    assert (poses[1] @ point)[0] < 0
    motion = motion_from_poses(poses, FPS)
    assert motion.yaw[0] == pytest.approx(math.radians(10.0))


def test_forward_dolly_presses_w_only() -> None:
    positions = still() + np.outer(np.arange(FRAMES) / FPS * 1.4, [0.0, 0.0, 1.0])
    motion = motion_from_poses(path(positions, np.zeros(FRAMES)), FPS)
    acts = matrix_game_actions(motion, DEFAULT_MAPPING, FRAMES, FPS)
    assert acts.keyboard.shape == (FRAMES, 4) and acts.mouse.shape == (FRAMES, 2)
    np.testing.assert_array_equal(acts.keyboard, np.tile([1, 0, 0, 0], (FRAMES, 1)))
    np.testing.assert_array_equal(acts.mouse, 0)
    gc = gamecraft_actions(motion, DEFAULT_MAPPING, num_actions=3)
    assert [a.key for a in gc] == ["w", "w", "w"]
    # walking speed over one 33-frame chunk at 25 fps is upstream's default speed 0.2
    assert [a.speed for a in gc] == pytest.approx([0.2] * 3, rel=1e-6)


def test_backward_dolly_and_strafes() -> None:
    for direction, expected, gc_key in (([0, 0, -1], [0, 1, 0, 0], "s"), ([-1, 0, 0], [0, 0, 0, 1], "d"),
                                        ([1, 0, 0], [0, 0, 1, 0], "a")):
        positions = still() + np.outer(np.arange(FRAMES) / FPS * 1.0, direction)
        motion = motion_from_poses(path(positions, np.zeros(FRAMES)), FPS)
        acts = matrix_game_actions(motion, DEFAULT_MAPPING, FRAMES, FPS)
        np.testing.assert_array_equal(acts.keyboard, np.tile(expected, (FRAMES, 1)), err_msg=str(direction))
        assert {a.key for a in gamecraft_actions(motion, DEFAULT_MAPPING, 2)} == {gc_key}


def test_diagonal_presses_two_keys() -> None:
    # camera looks along +z, its right is world -x: moving along (-x, +z) is forward-right
    positions = still() + np.outer(np.arange(FRAMES) / FPS, [-1.0, 0.0, 1.0])
    acts = matrix_game_actions(motion_from_poses(path(positions, np.zeros(FRAMES)), FPS), DEFAULT_MAPPING,
                               FRAMES, FPS)
    np.testing.assert_array_equal(acts.keyboard, np.tile([1, 0, 0, 1], (FRAMES, 1)))


def test_yaw_pan_moves_the_mouse_only() -> None:
    rate = 20.0  # degrees per second, turning right
    motion = motion_from_poses(path(still(), np.arange(FRAMES) / FPS * rate), FPS)
    acts = matrix_game_actions(motion, DEFAULT_MAPPING, FRAMES, FPS)
    np.testing.assert_array_equal(acts.keyboard, 0)
    np.testing.assert_allclose(acts.mouse[:, 1], math.radians(rate) / FPS, rtol=1e-6)
    np.testing.assert_allclose(acts.mouse[:, 0], 0.0, atol=1e-12)
    gc = gamecraft_actions(motion, DEFAULT_MAPPING, 2)
    assert [a.key for a in gc] == ["right_rot", "right_rot"]
    assert [a.speed for a in gc] == pytest.approx([rate * 33 / 25.0] * 2)  # degrees over the chunk
    left = gamecraft_actions(motion_from_poses(path(still(), -np.arange(FRAMES) / FPS * rate), FPS), DEFAULT_MAPPING, 1)
    assert left[0].key == "left_rot"


def test_pitch_up_and_dead_zones() -> None:
    motion = motion_from_poses(path(still(), np.zeros(FRAMES), np.arange(FRAMES) / FPS * 10.0), FPS)
    acts = matrix_game_actions(motion, DEFAULT_MAPPING, FRAMES, FPS)
    np.testing.assert_allclose(acts.mouse[:, 0], math.radians(10.0) / FPS, rtol=1e-6)
    assert gamecraft_actions(motion, DEFAULT_MAPPING, 1)[0].key == "up_rot"
    # below both thresholds: nothing pressed, nothing turned, GameCraft 'still'
    creep = still() + np.outer(np.arange(FRAMES) / FPS * 0.1, [0, 0, 1])
    slow = motion_from_poses(path(creep, np.arange(FRAMES) / FPS * 1.0), FPS)
    acts = matrix_game_actions(slow, DEFAULT_MAPPING, FRAMES, FPS)
    assert not acts.keyboard.any() and not acts.mouse.any()
    gc = gamecraft_actions(slow, DEFAULT_MAPPING, 1)[0]
    assert gc.still and gc.speed == 0.0


def test_resampling_keeps_total_motion_and_holds_past_the_end() -> None:
    rng = np.random.default_rng(0)
    positions = still() + np.cumsum(rng.normal(0, 0.05, (FRAMES, 3)), 0)
    motion = motion_from_poses(path(positions, np.cumsum(rng.normal(0, 1, FRAMES))), FPS)
    # 81 frames at 16 fps last 5 s: 125 steps at 25 fps cover exactly the same interval
    at25 = resample_motion(motion, 25.0, 125)
    np.testing.assert_allclose(at25.translation.sum(0), motion.translation.sum(0), atol=1e-9)
    np.testing.assert_allclose(at25.yaw.sum(), motion.yaw.sum(), atol=1e-12)
    longer = resample_motion(motion, 25.0, 132)  # 4 GameCraft chunks overrun the clip by 7 frames
    np.testing.assert_allclose(longer.yaw[125:], motion.yaw[-1] * 16 / 25, rtol=1e-6)


def test_mapping_is_recorded_and_validated() -> None:
    d = DEFAULT_MAPPING.as_dict()
    assert d["min_speed"] == 0.25 and d["version"] == "1"
    assert ActionMapping.from_options({"min_speed": "0.5"}).min_speed == 0.5
    with pytest.raises(ValueError, match="no fields"):
        ActionMapping.from_options({"speed": 1})
    with pytest.raises(ValueError, match="smoothing_frames"):
        ActionMapping(smoothing_frames=2)
    faster = ActionMapping(min_speed=2.0)
    positions = still() + np.outer(np.arange(FRAMES) / FPS * 1.4, [0.0, 0.0, 1.0])
    acts = matrix_game_actions(motion_from_poses(path(positions, np.zeros(FRAMES)), FPS), faster, FRAMES, FPS)
    assert not acts.keyboard.any()


def _sample(tmp_path, poses: np.ndarray | None) -> VideoSample:
    camera = None
    if poses is not None:
        camera = tmp_path / "camera.npz"
        write_npz(camera, {"intrinsics": intrinsics_for(48, 80), "world_to_camera": poses})
    seg = Segment(0, 0, FRAMES, "c", SegmentControls(camera=camera))
    return VideoSample("v", "synthetic", Category("synthetic", "outdoor", "day"), FPS, 48, 80, FRAMES,
                       tmp_path / "f.png", (seg,))


def test_synthetic_walk_from_the_camera_file(tmp_path) -> None:
    """The synthetic split's own planner: a walk looking where it goes is mostly W, turns follow the path."""
    style = WalkStyle(speed=1.4, eye_height=1.6, step=(3.0, 6.0), max_turn_deg=40.0, look_ahead=3.0,
                      sway_deg=0.0, sway_period=8.0)
    traj = plan_trajectory(np.random.default_rng(3), (-40, -40, 40, 40), FRAMES, FPS, 48, 80, style)
    sample = _sample(tmp_path, traj.world_to_camera)
    motion = segment_motion(sample, sample.segments[0])
    acts = matrix_game_actions(motion, DEFAULT_MAPPING, FRAMES, FPS)
    assert acts.keyboard[:, 0].mean() > 0.9 and acts.keyboard[:, 1].sum() == 0
    forward = traj.forward
    heading = np.degrees(np.unwrap(np.arctan2(-forward[:, 0], forward[:, 2])))
    turned = float(np.degrees(acts.mouse[1:, 1].sum()))  # mouse_per_radian = 1 and no clipping at these rates
    assert turned == pytest.approx(heading[-1] - heading[0], abs=2.0)


def test_missing_camera_is_a_clear_error(tmp_path) -> None:
    sample = _sample(tmp_path, None)
    with pytest.raises(ControlError, match="no camera control"):
        segment_motion(sample, sample.segments[0])
