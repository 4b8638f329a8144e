"""Matrix-Game-2.0's action streams: keyboard one-hot (W, S, A, D) and mouse (pitch, yaw) per video frame.

Upstream (SkyworkAI/Matrix-Game, Matrix-Game-2, universal mode) conditions every generated video
frame on one keyboard row ``[forward, back, left, right]`` (0/1, several keys may be held, as in
its ``forward_left`` bench action) and one mouse row ``[pitch, yaw]`` (its demo: up = +pitch,
right = +yaw, magnitude 0.1). A video of ``n`` latent frames has ``1 + 4 (n - 1)`` video frames
and as many action rows. Row i (i >= 1) is the motion from frame i - 1 to frame i; row 0 (the
given first frame) repeats row 1, as upstream's bench conditions do (frame 0 takes the first
action).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.actions.keys import pressed_keys
from baselines.actions.mapping import ActionMapping
from baselines.actions.motion import CameraMotion, resample_motion, smooth_motion


@dataclass(frozen=True, eq=False)
class MatrixGameActions:
    """Per-frame conditions of one Matrix-Game-2.0 generation."""

    keyboard: np.ndarray  # float32 (F, 4): forward, back, left, right
    mouse: np.ndarray  # float32 (F, 2): pitch, yaw

    @property
    def num_frames(self) -> int:
        return int(self.keyboard.shape[0])


def matrix_game_actions(motion: CameraMotion, mapping: ActionMapping, num_frames: int,
                        fps: float) -> MatrixGameActions:
    """Actions for ``num_frames`` video frames at the model's ``fps``, from a clip's camera motion."""
    if num_frames < 2:
        raise ValueError(f"Matrix-Game actions need at least 2 frames, got {num_frames}")
    steps = resample_motion(smooth_motion(motion, mapping.smoothing_frames), fps, num_frames - 1)
    keys = pressed_keys(steps, mapping)
    min_rate = np.radians(mapping.min_rotation_deg_per_s) / fps
    rotation = np.stack([steps.pitch, steps.yaw], axis=1)
    rotation = np.where(np.abs(rotation) < min_rate, 0.0, rotation)
    mouse = np.clip(rotation * mapping.mouse_per_radian, -mapping.mouse_limit, mapping.mouse_limit)
    keyboard = np.concatenate([keys[:1], keys]).astype(np.float32)
    mouse = np.concatenate([mouse[:1], mouse]).astype(np.float32)
    return MatrixGameActions(keyboard=keyboard, mouse=mouse)
