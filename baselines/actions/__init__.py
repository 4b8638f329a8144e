"""Camera motion -> the action streams of action-conditioned world models (shared, stable API).

Pipeline: ``segment_motion(sample, segment)`` (or ``motion_from_poses(world_to_camera, fps)``)
gives per-frame relative motion; ``matrix_game_actions`` / ``gamecraft_actions`` resample it to
the model's action rate and apply the thresholds of an :class:`ActionMapping`, whose
``as_dict()`` belongs in the model's fingerprint (hence in every result).

Example::

    from baselines.actions import DEFAULT_MAPPING, gamecraft_actions, segment_motion
    motion = segment_motion(sample, segment)            # 81 poses at 16 fps -> 80 increments
    actions = gamecraft_actions(motion, DEFAULT_MAPPING, num_actions=4)
    [a.key for a in actions], [a.speed for a in actions]
"""

from baselines.actions.gamecraft import (
    GAMECRAFT_FPS,
    GAMECRAFT_FRAMES_PER_ACTION,
    GAMECRAFT_KEYS,
    GameCraftAction,
    gamecraft_actions,
)
from baselines.actions.keys import KEY_NAMES, heading_deg, horizontal_speed, pressed_keys
from baselines.actions.mapping import DEFAULT_MAPPING, ActionMapping
from baselines.actions.matrix_game import MatrixGameActions, matrix_game_actions
from baselines.actions.motion import CameraMotion, motion_from_poses, resample_motion, smooth_motion
from baselines.actions.source import segment_motion

__all__ = [
    "DEFAULT_MAPPING",
    "GAMECRAFT_FPS",
    "GAMECRAFT_FRAMES_PER_ACTION",
    "GAMECRAFT_KEYS",
    "KEY_NAMES",
    "ActionMapping",
    "CameraMotion",
    "GameCraftAction",
    "MatrixGameActions",
    "gamecraft_actions",
    "heading_deg",
    "horizontal_speed",
    "matrix_game_actions",
    "motion_from_poses",
    "pressed_keys",
    "resample_motion",
    "segment_motion",
    "smooth_motion",
]
