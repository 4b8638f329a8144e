"""Relative camera motion of a clip, frame to frame, and its resampling to a model's action rate.

Both world models are driven by *relative* motion (press W, turn the mouse), never by absolute
poses, so the clip's ``world_to_camera`` poses are turned into per-frame increments first:
- translation: the camera centre's displacement expressed in the PREVIOUS frame's camera axes
  (x right, y down, z forward), in pose units;
- yaw / pitch: the new view direction seen from the previous camera, yaw = atan2(f_x, f_z)
  (> 0 turns right), pitch = atan2(-f_y, hypot(f_x, f_z)) (> 0 looks up), in radians.

Resampling integrates the increments (cumulative sums), interpolates the running totals at the
model's frame times and differences them again, so the total motion over any interval is kept
whatever the two rates are. Beyond the clip's last pose the last increment is held (a model whose
chunk overruns the clip keeps moving the way the camera last moved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class CameraMotion:
    """Per-frame increments of a camera path sampled at ``fps``: ``increments[i]`` moves frame i to i + 1."""

    translation: np.ndarray  # float64 (N, 3): displacement in the previous camera's axes, pose units
    yaw: np.ndarray  # float64 (N,): radians, > 0 turns right
    pitch: np.ndarray  # float64 (N,): radians, > 0 looks up
    fps: float

    def __post_init__(self) -> None:
        n = self.translation.shape[0]
        if self.translation.shape != (n, 3) or self.yaw.shape != (n,) or self.pitch.shape != (n,):
            raise ValueError(f"CameraMotion needs translation (N, 3), yaw (N,), pitch (N,); got "
                             f"{self.translation.shape}, {self.yaw.shape}, {self.pitch.shape}")
        if not self.fps > 0:
            raise ValueError(f"CameraMotion fps must be positive, got {self.fps}")

    @property
    def num_steps(self) -> int:
        return int(self.translation.shape[0])

    @property
    def num_frames(self) -> int:
        """Frames the increments connect (one more than the steps)."""
        return self.num_steps + 1


def motion_from_poses(world_to_camera: np.ndarray, fps: float) -> CameraMotion:
    """Frame-to-frame increments of (T, 4, 4) OpenCV ``world_to_camera`` poses (T >= 2)."""
    poses = np.asarray(world_to_camera, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 2:
        raise ValueError(f"need world_to_camera (T >= 2, 4, 4), got {poses.shape}")
    rot, trans = poses[:, :3, :3], poses[:, :3, 3]
    centres = -np.einsum("tji,tj->ti", rot, trans)
    step = centres[1:] - centres[:-1]
    translation = np.einsum("tij,tj->ti", rot[:-1], step)
    relative = np.einsum("tij,tkj->tik", rot[1:], rot[:-1])  # R_t R_{t-1}^T: previous axes -> current axes
    forward = relative[:, 2, :]  # the current forward axis in the previous camera's axes
    yaw = np.arctan2(forward[:, 0], forward[:, 2])
    pitch = np.arctan2(-forward[:, 1], np.hypot(forward[:, 0], forward[:, 2]))
    return CameraMotion(translation=translation, yaw=yaw, pitch=pitch, fps=float(fps))


def smooth_motion(motion: CameraMotion, window: int) -> CameraMotion:
    """Centred moving average of the increments over ``window`` steps (odd; 1 = unchanged)."""
    if window <= 1:
        return motion
    half = window // 2

    def average(values: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)])
        kernel = np.ones(window) / window
        if values.ndim == 1:
            return np.convolve(padded, kernel, mode="valid")
        return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], 1)

    return CameraMotion(average(motion.translation), average(motion.yaw), average(motion.pitch), motion.fps)


def _running_totals(values: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Cumulative sum of per-step ``values`` (N, K) evaluated at ``times`` (seconds), last step held beyond."""
    totals = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    knots = np.arange(totals.shape[0]) / fps
    out = np.empty((len(times), values.shape[1]))
    end = knots[-1]
    for k in range(values.shape[1]):
        inside = np.interp(np.minimum(times, end), knots, totals[:, k])
        beyond = np.maximum(times - end, 0.0) * fps * values[-1, k]
        before = np.minimum(times, 0.0) * fps * values[0, k]
        out[:, k] = inside + beyond + before
    return out


def resample_motion(motion: CameraMotion, fps: float, num_steps: int) -> CameraMotion:
    """The same camera path as ``num_steps`` increments at ``fps``, starting at the clip's frame 0."""
    if num_steps < 1 or not fps > 0:
        raise ValueError(f"need num_steps >= 1 and fps > 0, got {num_steps}, {fps}")
    stacked = np.concatenate([motion.translation, motion.yaw[:, None], motion.pitch[:, None]], axis=1)
    times = np.arange(num_steps + 1) / float(fps)
    increments = np.diff(_running_totals(stacked, times, motion.fps), axis=0)
    return CameraMotion(translation=increments[:, :3], yaw=increments[:, 3], pitch=increments[:, 4], fps=float(fps))
