"""Movement keys from horizontal translation: the eight-sector rule shared by both world models."""

from __future__ import annotations

import numpy as np

from baselines.actions.mapping import ActionMapping
from baselines.actions.motion import CameraMotion

#: Column order of the key arrays: Matrix-Game-2.0's universal keyboard order (W, S, A, D).
KEY_NAMES = ("forward", "back", "left", "right")


def horizontal_speed(motion: CameraMotion, mapping: ActionMapping) -> np.ndarray:
    """Horizontal speed (N,) in m/s (pose units times ``metres_per_pose_unit``)."""
    planar = motion.translation[:, [0, 2]] * mapping.metres_per_pose_unit
    return np.hypot(planar[:, 0], planar[:, 1]) * motion.fps


def heading_deg(motion: CameraMotion) -> np.ndarray:
    """Direction of the horizontal movement from the camera's forward axis (N,), degrees, > 0 to the right."""
    return np.degrees(np.arctan2(motion.translation[:, 0], motion.translation[:, 2]))


def pressed_keys(motion: CameraMotion, mapping: ActionMapping) -> np.ndarray:
    """Movement keys held at each step, float32 (N, 4) of 0/1 in ``KEY_NAMES`` order."""
    moving = horizontal_speed(motion, mapping) >= mapping.min_speed
    h = heading_deg(motion)
    s = mapping.key_sector_deg
    keys = np.stack([np.abs(h) < 90.0 - s, np.abs(h) > 90.0 + s, (h < -s) & (h > -180.0 + s),
                     (h > s) & (h < 180.0 - s)], axis=1)
    return (keys & moving[:, None]).astype(np.float32)
