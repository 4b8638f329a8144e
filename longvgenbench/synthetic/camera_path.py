"""Smooth camera trajectories: a spline through random waypoints walked at a steady speed.

Why this shape: long real videos are mostly a person walking or a car driving, looking roughly
where they go, with slow glances to the sides. A Catmull-Rom spline through waypoints from a
heading random walk gives smooth curves; positions are sampled at constant arc-length speed (with
a gentle variation) and the look direction follows the path a few metres ahead plus a slow yaw
sway and a small pitch, so the view never jumps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WalkStyle:
    """How the camera moves: walking indoors, walking or slow driving outdoors."""

    speed: float  # m/s
    eye_height: float  # m
    step: tuple[float, float]  # distance between waypoints (min, max), m
    max_turn_deg: float  # largest heading change between waypoints
    look_ahead: float  # m
    sway_deg: float  # amplitude of the slow side-to-side glance
    sway_period: float  # s
    yaw_smoothing: float = 1.5  # s, Gaussian sigma on the path's heading: the head turns smoothly through corners


@dataclass(frozen=True, eq=False)
class CameraTrajectory:
    """Per-frame pinhole cameras (OpenCV axes) of a whole video."""

    intrinsics: np.ndarray  # float64 (3, 3)
    world_to_camera: np.ndarray  # float64 (T, 4, 4)

    @property
    def num_frames(self) -> int:
        return self.world_to_camera.shape[0]

    @property
    def positions(self) -> np.ndarray:
        """Camera centres in world coordinates (T, 3)."""
        rot = self.world_to_camera[:, :3, :3]
        trans = self.world_to_camera[:, :3, 3]
        return -np.einsum("tji,tj->ti", rot, trans)

    @property
    def forward(self) -> np.ndarray:
        """Viewing directions in world coordinates (T, 3): the third row of each rotation."""
        return self.world_to_camera[:, 2, :3]


def intrinsics_for(height: int, width: int, horizontal_fov_deg: float = 70.0) -> np.ndarray:
    """Square-pixel pinhole intrinsics with the principal point at the image centre.

    Pixel (u, v) has its centre at coordinates (u, v), so the centre of the image is
    ((W - 1) / 2, (H - 1) / 2).
    """
    f = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """world_to_camera (4, 4) of a camera at ``position`` looking at ``target`` (OpenCV axes, world y up)."""
    up = np.array([0.0, 1.0, 0.0]) if up is None else up
    forward = target - position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = -rot @ position
    return pose


def _waypoints(rng: np.random.Generator, bounds: tuple[float, float, float, float], length: float,
               style: WalkStyle) -> np.ndarray:
    """(N, 2) xz waypoints from a heading random walk that stays inside ``bounds`` (xmin, zmin, xmax, zmax)."""
    xmin, zmin, xmax, zmax = bounds
    centre = np.array([(xmin + xmax) / 2, (zmin + zmax) / 2])
    point = centre + rng.uniform(-0.25, 0.25, 2) * [xmax - xmin, zmax - zmin]
    heading = rng.uniform(0, 2 * math.pi)
    points = [point]
    travelled = 0.0
    max_turn = math.radians(style.max_turn_deg)
    while travelled < length:
        step = rng.uniform(*style.step)
        for attempt in range(24):
            turn = rng.uniform(-max_turn, max_turn) * (1 + attempt / 8)
            candidate = point + step * np.array([math.cos(heading + turn), math.sin(heading + turn)])
            if xmin <= candidate[0] <= xmax and zmin <= candidate[1] <= zmax:
                heading += turn
                break
        else:  # cornered: head back towards the centre
            to_centre = centre - point
            heading = math.atan2(to_centre[1], to_centre[0])
            candidate = point + min(step, float(np.linalg.norm(to_centre))) * np.array(
                [math.cos(heading), math.sin(heading)])
        travelled += float(np.linalg.norm(candidate - point))
        point = candidate
        points.append(point)
    return np.array(points)


def _catmull_rom(points: np.ndarray, samples_per_segment: int = 48) -> np.ndarray:
    """Dense polyline of the uniform Catmull-Rom spline through ``points`` (end points repeated)."""
    padded = np.concatenate([points[:1], points, points[-1:]])
    s = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s**2
                          + (3 * p1 - p0 - 3 * p2 + p3) * s**3))
    out.append(padded[-2][None])
    return np.concatenate(out)


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing with edge padding (keeps the length)."""
    radius = int(3 * sigma)
    if radius < 1:
        return values
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    return np.convolve(np.pad(values, radius, mode="edge"), kernel, mode="valid")


def _at_arc_length(polyline: np.ndarray, cumulative: np.ndarray, s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, cumulative[-1])
    return np.stack([np.interp(s, cumulative, polyline[:, k]) for k in range(polyline.shape[1])], axis=-1)


def plan_trajectory(rng: np.random.Generator, bounds: tuple[float, float, float, float], num_frames: int,
                    fps: float, height: int, width: int, style: WalkStyle) -> CameraTrajectory:
    """A smooth trajectory of ``num_frames`` frames inside ``bounds`` (xmin, zmin, xmax, zmax) on the floor plan."""
    times = np.arange(num_frames) / fps
    speed_wobble = 1.0 + 0.2 * np.sin(2 * math.pi * times / rng.uniform(12, 25) + rng.uniform(0, 2 * math.pi))
    distance = np.concatenate([[0.0], np.cumsum(style.speed * speed_wobble[:-1] / fps)])
    total = float(distance[-1]) + style.look_ahead + 2.0
    polyline = _catmull_rom(_waypoints(rng, bounds, total * 1.1, style))
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    if cumulative[-1] < total:  # the spline is a bit shorter than its polygon; walk slower rather than stop
        distance = distance * (cumulative[-1] - style.look_ahead - 1.0) / total
    ground = _at_arc_length(polyline, cumulative, distance)
    ahead = _at_arc_length(polyline, cumulative, distance + style.look_ahead)

    bob = 0.03 * np.sin(2 * math.pi * times * 1.8)
    eye = style.eye_height + 0.1 * np.sin(2 * math.pi * times / rng.uniform(15, 30)) + bob
    positions = np.stack([ground[:, 0], eye, ground[:, 1]], axis=-1)

    direction = ahead - ground
    base_yaw = _smooth(np.unwrap(np.arctan2(direction[:, 1], direction[:, 0])), sigma=style.yaw_smoothing * fps)
    sway = math.radians(style.sway_deg) * np.sin(2 * math.pi * times / style.sway_period + rng.uniform(0, 2 * math.pi))
    yaw = base_yaw + sway
    pitch = math.radians(-4.0) + math.radians(4.0) * np.sin(2 * math.pi * times / rng.uniform(18, 30))
    look = np.stack([np.cos(yaw) * np.cos(pitch), np.sin(pitch), np.sin(yaw) * np.cos(pitch)], axis=-1)
    poses = np.stack([look_at(p, p + d) for p, d in zip(positions, look, strict=True)])
    return CameraTrajectory(intrinsics=intrinsics_for(height, width), world_to_camera=poses)


def min_distance_to_path(points_xz: np.ndarray, trajectory: CameraTrajectory) -> np.ndarray:
    """Horizontal distance from each (M, 2) point to the nearest camera position of the trajectory."""
    path = trajectory.positions[:, [0, 2]]
    diff = points_xz[:, None, :] - path[None, :, :]
    return np.sqrt((diff**2).sum(-1)).min(axis=1)
