"""Hunyuan-GameCraft actions -> camera poses -> Plücker ray maps, as the published inference does it.

GameCraft conditions on one keyboard/mouse action per 33-frame chunk. Upstream
(``hymm_sp/sample_inference.py``: ``ActionToPoseFromID``, ``GetPoseEmbedsFromPoses``,
``get_relative_pose``, ``ray_condition``) turns the action into a camera path and the path into a
6-channel Plücker map per frame at full pixel resolution. This module re-derives the same numbers
(own code, same conventions), because the camera encoder was trained on exactly these:

- the pose list has 34 rows: row 0 is the identity, row k (1..33) is the pose after k of 33 equal
  steps of the action. Only rows 0..32 are used (upstream samples ``target_length = 33`` from
  index 0), so the last step never reaches the network;
- each row is ``[R | p]`` with R from (pitch, yaw, roll) Euler angles in degrees through
  upstream's quaternion formula, p the accumulated position; upstream reads the row as a
  *world-to-camera* matrix, so the camera-to-world pose is its inverse;
- translation: ``w`` moves p by -value along z, ``s`` by +value, ``a`` by +value along x, ``d``
  by -value (so the camera centre -R^T p moves forward / back / left / right in OpenCV axes);
  rotation: ``left_rot`` / ``right_rot`` add +-value degrees to the first Euler angle (a turn
  about the y axis), ``up_rot`` / ``down_rot`` -+value to the third;
- poses relative to row 0, translations scaled by 10; intrinsics fixed at normalised
  (fx, fy, cx, cy) = (0.50505, 0.8979, 0.5, 0.5) times (W, H);
- rays through pixel centres (i + 0.5, j + 0.5); Plücker = (o x d, d) with d normalised, in float32;
- the unconditional (CFG) map uses identity poses for every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: upstream's action ids -> its motion types (``ACTION_DICT``)
ACTION_MOTIONS = {"w": "forward", "s": "backward", "a": "left", "d": "right",
                  "left_rot": "left_rot", "right_rot": "right_rot", "up_rot": "up_rot", "down_rot": "down_rot"}
#: normalised (fx, fy, cx, cy) hard-coded upstream
NORMALISED_INTRINSICS = (0.50505, 0.8979, 0.5, 0.5)
FRAMES_PER_ACTION = 33
TRANSLATION_SCALE = 10.0


@dataclass(frozen=True)
class ActionPoses:
    """The pose rows of one action: ``extrinsics`` (34, 3, 4) float64 world-to-camera rows, row 0 identity."""

    key: str
    value: float
    extrinsics: np.ndarray


def _euler_to_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """Upstream's (pitch, yaw, roll) degrees -> quaternion -> rotation matrix (its exact formulas)."""
    pitch, yaw, roll = np.radians(angles_deg)
    cy, sy = math.cos(yaw * 0.5), math.sin(yaw * 0.5)
    cp, sp = math.cos(pitch * 0.5), math.sin(pitch * 0.5)
    cr, sr = math.cos(roll * 0.5), math.sin(roll * 0.5)
    qw = cy * cp * cr + sy * sp * sr
    qx = cy * cp * sr - sy * sp * cr
    qy = sy * cp * sr + cy * sp * cr
    qz = sy * cp * cr - cy * sp * sr
    return np.array([
        [1 - 2 * (qy**2 + qz**2), 2 * (qx * qy - qw * qz), 2 * (qx * qz + qw * qy)],
        [2 * (qx * qy + qw * qz), 1 - 2 * (qx**2 + qz**2), 2 * (qy * qz - qw * qx)],
        [2 * (qx * qz - qw * qy), 2 * (qy * qz + qw * qx), 1 - 2 * (qx**2 + qy**2)],
    ])


def action_poses(key: str, value: float, frames: int = FRAMES_PER_ACTION) -> ActionPoses:
    """The 1 + ``frames`` pose rows of one action from the zero pose (translation units / degrees)."""
    if key not in ACTION_MOTIONS:
        raise ValueError(f"unknown GameCraft action {key!r}; known: {sorted(ACTION_MOTIONS)}")
    if not math.isfinite(value):
        raise ValueError(f"GameCraft action value must be finite, got {value}")
    motion = ACTION_MOTIONS[key]
    move, turn = np.zeros(3), np.zeros(3)
    if motion in ("forward", "backward"):
        move = np.array([-0.0, 0.0, -1.0]) * value * (1 if motion == "forward" else -1)
    elif motion in ("left", "right"):
        move = np.array([1.0, 0.0, -0.0]) * value * (-1 if motion == "right" else 1)
    else:
        axis = motion.split("_")[0]
        index, sign = {"left": (0, 1.0), "right": (0, -1.0), "up": (2, -1.0), "down": (2, 1.0)}[axis]
        turn[index] = sign * value
    rows = [np.hstack([np.eye(3), np.zeros((3, 1))])]
    for i in range(1, frames + 1):
        position = move / frames * i
        rotation = turn / frames * i
        rows.append(np.hstack([_euler_to_matrix(rotation), position.reshape(3, 1)]))
    return ActionPoses(key, float(value), np.stack(rows))


def relative_camera_to_world(extrinsics: np.ndarray) -> np.ndarray:
    """(N, 4, 4) float32 camera-to-world poses relative to row 0, translations x 10 (upstream)."""
    w2c = np.tile(np.eye(4), (len(extrinsics), 1, 1))
    w2c[:, :3, :] = extrinsics
    c2w = np.linalg.inv(w2c)
    poses = [np.eye(4)] + [w2c[0] @ c2w[k] for k in range(1, len(extrinsics))]
    out = np.stack(poses)
    out[:, :3, 3] *= TRANSLATION_SCALE
    return out.astype(np.float32)


def pixel_intrinsics(height: int, width: int, frames: int) -> np.ndarray:
    """(frames, 4) float32 (fx, fy, cx, cy) in pixels for a ``height`` x ``width`` map."""
    fx, fy, cx, cy = NORMALISED_INTRINSICS
    ratio_w, ratio_h = width / (cx * 2), height / (cy * 2)
    row = [fx * ratio_w, fy * ratio_h, cx * ratio_w, cy * ratio_h]
    return np.asarray([row] * frames, dtype=np.float32)


def plucker_rays(intrinsics: torch.Tensor, c2w: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(V, 6, H, W) Plücker map (o x d, d) of (V, 4) intrinsics and (V, 4, 4) camera-to-world poses."""
    views = c2w.shape[0]
    j, i = torch.meshgrid(torch.linspace(0, height - 1, height, dtype=c2w.dtype),
                          torch.linspace(0, width - 1, width, dtype=c2w.dtype), indexing="ij")
    i = i.reshape(1, height * width).expand(views, -1) + 0.5
    j = j.reshape(1, height * width).expand(views, -1) + 0.5
    fx, fy, cx, cy = intrinsics.chunk(4, dim=-1)
    zs = torch.ones_like(i)
    directions = torch.stack(((i - cx) / fx * zs, (j - cy) / fy * zs, zs), dim=-1)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    rays_d = directions @ c2w[:, :3, :3].transpose(-1, -2)
    rays_o = c2w[:, None, :3, 3].expand_as(rays_d)
    plucker = torch.cat([torch.cross(rays_o, rays_d, dim=-1), rays_d], dim=-1)
    return plucker.reshape(views, height, width, 6).permute(0, 3, 1, 2).contiguous()


def action_plucker(key: str, value: float, height: int, width: int,
                   frames: int = FRAMES_PER_ACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """(conditional, unconditional) float32 (frames, 6, H, W) Plücker maps of one action."""
    poses = action_poses(key, value, frames).extrinsics[:frames]
    intrinsics = torch.from_numpy(pixel_intrinsics(height, width, frames))
    c2w = torch.from_numpy(relative_camera_to_world(poses))
    identity = torch.eye(4).expand(frames, 4, 4).contiguous()
    return plucker_rays(intrinsics, c2w, height, width), plucker_rays(intrinsics, identity, height, width)


__all__ = ["ACTION_MOTIONS", "FRAMES_PER_ACTION", "NORMALISED_INTRINSICS", "ActionPoses", "action_plucker",
           "action_poses", "pixel_intrinsics", "plucker_rays", "relative_camera_to_world"]
