"""Hunyuan-GameCraft-1.0's actions: ONE action per 33-frame chunk at 25 fps, with a speed value.

Upstream (Tencent-Hunyuan/Hunyuan-GameCraft-1.0, ``hymm_sp/sample_inference.py``) takes an
action list and a speed list; each action is one of ``w a s d`` (translation, the speed is the
distance over the chunk in its pose units) or ``left_rot right_rot up_rot down_rot`` (rotation,
the speed is the angle over the chunk in degrees), turned into camera poses by its
``ActionToPoseFromID`` over ``duration=33`` frames. Only one action per chunk exists, so the
dominant motion of the chunk is chosen (``ActionMapping`` says how); a chunk where the camera
neither moves nor turns past the thresholds becomes ``w`` with speed 0.0 (upstream's poses then
stay put), reported as ``still``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.actions.mapping import ActionMapping
from baselines.actions.motion import CameraMotion, resample_motion, smooth_motion

GAMECRAFT_FPS = 25.0
GAMECRAFT_FRAMES_PER_ACTION = 33
GAMECRAFT_KEYS = ("w", "a", "s", "d", "left_rot", "right_rot", "up_rot", "down_rot")
_TRANSLATION_KEYS = {"forward": "w", "back": "s", "left": "a", "right": "d"}


@dataclass(frozen=True)
class GameCraftAction:
    """One chunk's action: upstream's action id and speed (pose units for w/a/s/d, degrees for *_rot)."""

    key: str
    speed: float
    still: bool = False


def gamecraft_actions(motion: CameraMotion, mapping: ActionMapping, num_actions: int,
                      frames_per_action: int = GAMECRAFT_FRAMES_PER_ACTION,
                      fps: float = GAMECRAFT_FPS) -> tuple[GameCraftAction, ...]:
    """``num_actions`` consecutive chunk actions covering the clip from its frame 0."""
    if num_actions < 1 or frames_per_action < 1:
        raise ValueError(f"need num_actions >= 1 and frames_per_action >= 1, got {num_actions}, {frames_per_action}")
    steps = resample_motion(smooth_motion(motion, mapping.smoothing_frames), fps, num_actions * frames_per_action)
    seconds = frames_per_action / fps
    actions = []
    for k in range(num_actions):
        chunk = slice(k * frames_per_action, (k + 1) * frames_per_action)
        total = steps.translation[chunk].sum(0) * mapping.metres_per_pose_unit
        yaw_deg, pitch_deg = np.degrees(steps.yaw[chunk].sum()), np.degrees(steps.pitch[chunk].sum())
        distance = float(np.hypot(total[0], total[2]))
        moving = distance / seconds >= mapping.min_speed
        turning = max(abs(yaw_deg), abs(pitch_deg)) / seconds >= mapping.min_rotation_deg_per_s
        move_score = distance / (mapping.walk_speed * seconds) if moving else 0.0
        turn_score = max(abs(yaw_deg), abs(pitch_deg)) / (mapping.turn_rate_deg_per_s * seconds) if turning else 0.0
        if move_score == 0.0 and turn_score == 0.0:
            actions.append(GameCraftAction(key="w", speed=0.0, still=True))
        elif turn_score > move_score:
            if abs(yaw_deg) >= abs(pitch_deg):
                actions.append(GameCraftAction("right_rot" if yaw_deg > 0 else "left_rot", float(abs(yaw_deg))))
            else:
                actions.append(GameCraftAction("up_rot" if pitch_deg > 0 else "down_rot", float(abs(pitch_deg))))
        else:
            # a diagonal chunk would hold two keys; GameCraft takes one: the larger component wins
            if abs(total[2]) >= abs(total[0]):
                key = "w" if total[2] > 0 else "s"
                along = abs(total[2])
            else:
                key = "d" if total[0] > 0 else "a"
                along = abs(total[0])
            actions.append(GameCraftAction(key, float(along * mapping.gamecraft_units_per_metre)))
    return tuple(actions)
