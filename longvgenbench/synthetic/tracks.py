"""Exact point tracks of a clip and their DiffusionAsShader-style render.

The query points are a regular grid of pixels on the clip's first frame. Each one is the 3D
surface point the ray through that pixel hits; the point stays in the world if its surface is
static and moves with its object otherwise, and is projected through the camera at every frame.
It is visible where it is in front of the camera, inside the image and not hidden: the ray through
its projection hits a surface no nearer than the point itself (up to a small tolerance). This is
the ground truth that a tracker such as SpaTracker estimates on real videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from longvgenbench.synthetic.camera_path import CameraTrajectory
from longvgenbench.synthetic.raycast import trace_pixels
from longvgenbench.synthetic.scene import Scene

NEAR = 1e-3  # metres: points closer than this to the camera plane count as behind it
DEPTH_TOLERANCE_REL = 5e-3  # a point is hidden if a surface is nearer by more than 0.5% ...
DEPTH_TOLERANCE_ABS = 1e-2  # ... plus 1 cm


@dataclass(frozen=True, eq=False)
class ClipTracks:
    """Tracks of one clip: N points over T frames, queried on the clip's frame 0."""

    xy: np.ndarray  # float32 (N, T, 2) pixel coordinates (x right, y down)
    visible: np.ndarray  # bool (N, T)
    depth: np.ndarray  # float32 (N, T) camera-space z of each point (for drawing far to near)
    colours: np.ndarray  # uint8 (N, 3) fixed by the frame-0 position


def query_grid(height: int, width: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of a rows x cols grid of cell centres, row-major, each (rows*cols,)."""
    xs = (np.arange(cols) + 0.5) * width / cols - 0.5
    ys = (np.arange(rows) + 0.5) * height / rows - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel(), gy.ravel()


def _trace(scene: Scene, trajectory: CameraTrajectory, frame: int, offsets: np.ndarray, us: np.ndarray,
           vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pose = trajectory.world_to_camera[frame]
    k = trajectory.intrinsics
    arrays = scene.frame_arrays(offsets)
    depth = np.empty(len(us))
    prim = np.empty(len(us), np.int64)
    trace_pixels(np.ascontiguousarray(pose[:3, :3].T), trajectory.positions[frame],
                 np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]]), scene.background,
                 np.array(scene.background_params, dtype=np.float64), arrays.boxes, arrays.spheres,
                 np.ascontiguousarray(us, dtype=np.float64), np.ascontiguousarray(vs, dtype=np.float64), depth, prim)
    return depth, prim


def compute_tracks(scene: Scene, trajectory: CameraTrajectory, offsets: np.ndarray, start: int, stop: int,
                   height: int, width: int, grid: tuple[int, int] = (50, 50)) -> ClipTracks:
    """Tracks of frames ``[start, stop)``; ``offsets`` is the scene's (T_video, NP, 3) object translation table."""
    us, vs = query_grid(height, width, *grid)
    k = trajectory.intrinsics
    z0, prim = _trace(scene, trajectory, start, offsets[start], us, vs)
    rays = np.stack([(us - k[0, 2]) / k[0, 0], (vs - k[1, 2]) / k[1, 1], np.ones_like(us)], axis=-1)
    cam_to_world = trajectory.world_to_camera[start, :3, :3].T
    world0 = trajectory.positions[start] + (rays * z0[:, None]) @ cam_to_world.T  # (N, 3)
    local = world0 - offsets[start, prim]  # object-local: undo the object's translation at the query frame

    num = stop - start
    xy = np.empty((len(us), num, 2), np.float32)
    visible = np.empty((len(us), num), bool)
    depth = np.empty((len(us), num), np.float32)
    for i, frame in enumerate(range(start, stop)):
        world = local + offsets[frame, prim]
        pose = trajectory.world_to_camera[frame]
        cam = world @ pose[:3, :3].T + pose[:3, 3]
        z = cam[:, 2]
        zc = np.maximum(z, NEAR)  # behind the camera: a finite projection far outside the image
        x = k[0, 0] * cam[:, 0] / zc + k[0, 2]
        y = k[1, 1] * cam[:, 1] / zc + k[1, 2]
        inside = (z > NEAR) & (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
        seen = np.zeros(len(us), bool)
        if inside.any():
            hit, _ = _trace(scene, trajectory, frame, offsets[frame], x[inside], y[inside])
            seen[inside] = hit >= z[inside] * (1.0 - DEPTH_TOLERANCE_REL) - DEPTH_TOLERANCE_ABS
        xy[:, i, 0], xy[:, i, 1] = x, y
        visible[:, i] = seen
        depth[:, i] = z
    return ClipTracks(xy=xy, visible=visible, depth=depth, colours=track_colours(us, vs, z0, height, width))


def track_colours(xs: np.ndarray, ys: np.ndarray, z0: np.ndarray, height: int, width: int) -> np.ndarray:
    """R = x / W, G = y / H, B = 1/z normalised by its percentiles 2 and 98 over the clip's points (near = 1)."""
    inv = 1.0 / np.maximum(z0, NEAR)
    lo, hi = np.percentile(inv, [2, 98])
    blue = np.clip((inv - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    rgb = np.stack([np.clip((xs + 0.5) / width, 0, 1), np.clip((ys + 0.5) / height, 0, 1), blue], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def point_size(height: int, width: int) -> int:
    """Side of the square drawn per point: 3 px at 480x832, scaled with the frame size, at least 1."""
    return max(1, int(round(3 * min(height / 480, width / 832))))


@njit(cache=True)
def _draw(frame: np.ndarray, xs: np.ndarray, ys: np.ndarray, order: np.ndarray, visible: np.ndarray,
          colours: np.ndarray, size: int) -> None:
    height, width = frame.shape[0], frame.shape[1]
    lo = (size - 1) // 2
    for k in range(order.shape[0]):
        i = order[k]
        if not visible[i]:
            continue
        x0 = int(np.floor(xs[i] + 0.5)) - lo
        y0 = int(np.floor(ys[i] + 0.5)) - lo
        for y in range(max(y0, 0), min(y0 + size, height)):
            for x in range(max(x0, 0), min(x0 + size, width)):
                frame[y, x, 0] = colours[i, 0]
                frame[y, x, 1] = colours[i, 1]
                frame[y, x, 2] = colours[i, 2]


def render_tracks(tracks: ClipTracks, height: int, width: int):
    """Yield the track render frame by frame: black background, visible points drawn far to near."""
    size = point_size(height, width)
    for t in range(tracks.xy.shape[1]):
        frame = np.zeros((height, width, 3), np.uint8)
        order = np.argsort(-tracks.depth[:, t], kind="stable")
        _draw(frame, tracks.xy[:, t, 0], tracks.xy[:, t, 1], order, tracks.visible[:, t], tracks.colours, size)
        yield frame
