"""Dense flow from sparse point tracks, and depth-ordered forward warping (the depth-warp baseline).

Three pieces, each independent of the model class so they can be tested on tiny arrays:

- :class:`TrackFlowField` turns the displacements of N tracks (frame 0 -> frame t) into a dense
  flow on frame 0's pixel grid. The tracks are all queried on frame 0, so their frame-0
  positions (the *anchors*) never change within a segment: the Delaunay triangulation of the
  anchors and every pixel's barycentric weights are computed once, and each frame only costs a
  gather. Pixels outside the anchors' convex hull take the displacement of the nearest anchor.
- :func:`anchor_displacements` decides each anchor's displacement at frame t: visible tracks
  give theirs; occluded ones are re-estimated from their nearest visible neighbours (their
  tracked position is a guess), so only visible tracks shape the flow.
- :func:`forward_splat` moves frame 0's pixels along the flow (bilinear footprint) and resolves
  collisions with frame 0's depth (near = 0 wins, a z-buffer with a tolerance so one surface's
  own samples blend instead of fighting); :func:`fill_holes` paints what nothing landed on.

Pixel coordinates follow the tracks' convention (``controls.py``): x right, y down; pixel
(row i, column j) is the point (x=j, y=i).
"""

from __future__ import annotations

import cv2
import numba
import numpy as np
from scipy.spatial import Delaunay, QhullError, cKDTree

HOLE_FILLS = ("telea", "previous", "none")


class TrackFlowField:
    """Piecewise-linear interpolation of per-anchor displacements onto an ``height x width`` grid.

    Linear interpolation across a motion boundary (a near object over a far background) smears
    the boundary triangles into streaks. Given frame 0's ``depth``, a pixel whose triangle spans
    a depth step larger than ``depth_edge`` takes the displacement of the single corner whose
    depth is closest to its own instead, so layers keep sharp edges where depth says they end.
    """

    def __init__(self, anchors: np.ndarray, height: int, width: int, depth: np.ndarray | None = None,
                 depth_edge: float = 0.05) -> None:
        anchors = np.asarray(anchors, np.float64)
        if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
            raise ValueError(f"anchors must be (N >= 1, 2), got {anchors.shape}")
        if depth is not None and depth.shape != (height, width):
            raise ValueError(f"depth {depth.shape} must be ({height}, {width})")
        self.height, self.width, self.num_anchors = height, width, len(anchors)
        ys, xs = np.mgrid[0:height, 0:width]
        pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
        num = len(pixels)
        # Outside the hull (or with a degenerate triangulation): the nearest anchor, weight 1.
        _, nearest = cKDTree(anchors).query(pixels)
        self._index = np.repeat(nearest.astype(np.int32)[:, None], 3, axis=1)
        self._weight = np.zeros((num, 3), np.float32)
        self._weight[:, 0] = 1.0
        triangulation = _delaunay_or_none(anchors)
        if triangulation is not None:
            simplex = triangulation.find_simplex(pixels)
            inside = simplex >= 0
            affine = triangulation.transform[simplex[inside]]  # (M, 3, 2): inverse matrix + offset
            first_two = np.einsum("mij,mj->mi", affine[:, :2], pixels[inside] - affine[:, 2])
            bary = np.concatenate([first_two, 1.0 - first_two.sum(axis=1, keepdims=True)], axis=1)
            corners = triangulation.simplices[simplex[inside]]
            if depth is not None:
                bary = _snap_across_depth_edges(bary, corners, anchors, pixels[inside], depth, depth_edge)
            self._index[inside] = corners
            self._weight[inside] = bary.astype(np.float32)

    def dense(self, displacements: np.ndarray) -> np.ndarray:
        """Dense flow (H, W, 2) as float32 (dx, dy) from per-anchor displacements (N, 2)."""
        d = np.ascontiguousarray(displacements, np.float32)
        if d.shape != (self.num_anchors, 2):
            raise ValueError(f"need displacements ({self.num_anchors}, 2), got {d.shape}")
        return _weighted_gather(self._index, self._weight, d).reshape(self.height, self.width, 2)


@numba.njit(cache=True, nogil=True)
def _weighted_gather(index, weight, values):  # pragma: no cover - compiled
    out = np.zeros((index.shape[0], 2), np.float32)
    for p in range(index.shape[0]):
        for k in range(3):
            w = weight[p, k]
            if w != 0.0:
                v = index[p, k]
                out[p, 0] += w * values[v, 0]
                out[p, 1] += w * values[v, 1]
    return out


def _snap_across_depth_edges(bary: np.ndarray, corners: np.ndarray, anchors: np.ndarray, pixels: np.ndarray,
                             depth: np.ndarray, depth_edge: float) -> np.ndarray:
    """Barycentric weights, replaced by a one-hot pick of the closest-depth corner across depth steps."""
    height, width = depth.shape
    ax = np.clip(np.rint(anchors[:, 0]), 0, width - 1).astype(np.intp)
    ay = np.clip(np.rint(anchors[:, 1]), 0, height - 1).astype(np.intp)
    corner_depth = depth[ay, ax][corners]  # (M, 3)
    pixel_depth = depth[pixels[:, 1].astype(np.intp), pixels[:, 0].astype(np.intp)]
    across = corner_depth.max(axis=1) - corner_depth.min(axis=1) > depth_edge
    if not across.any():
        return bary
    closest = np.argmin(np.abs(corner_depth[across] - pixel_depth[across, None]), axis=1)
    snapped = bary.copy()
    snapped[across] = np.eye(3)[closest]
    return snapped


def _delaunay_or_none(points: np.ndarray) -> Delaunay | None:
    """A Delaunay triangulation, or None when the points span no area (fewer than 3, collinear)."""
    if len(points) < 3:
        return None
    try:
        return Delaunay(points)
    except QhullError:
        return None


def anchor_displacements(anchors: np.ndarray, displacement: np.ndarray, visible: np.ndarray,
                         previous: np.ndarray, min_visible: int, neighbours: int = 4) -> np.ndarray:
    """Every anchor's displacement at one frame, trusting only the tracks visible at that frame.

    Visible tracks keep their measured displacement; each occluded one gets the inverse-distance
    weighted mean of its ``neighbours`` nearest visible anchors (their tracked position is a
    guess). A k-d tree over the visible anchors costs far less per frame than re-triangulating
    them, and the dense field is still piecewise linear between anchors. With fewer than
    ``min_visible`` visible tracks the frame says too little, and ``previous`` is kept.
    """
    visible = np.asarray(visible, bool)
    count = int(visible.sum())
    if count < max(1, min_visible):
        return previous.astype(np.float32, copy=True)
    result = displacement.astype(np.float32, copy=True)
    if count == len(anchors):
        return result
    hidden = ~visible
    known_at, known = anchors[visible].astype(np.float64), displacement[visible].astype(np.float64)
    k = min(neighbours, count)
    distance, nearest = cKDTree(known_at).query(anchors[hidden].astype(np.float64), k=k)
    distance, nearest = distance.reshape(-1, k), nearest.reshape(-1, k)
    weight = 1.0 / np.maximum(distance, 1e-6)
    weight /= weight.sum(axis=1, keepdims=True)
    result[hidden] = np.einsum("hk,hkc->hc", weight, known[nearest]).astype(np.float32)
    return result


@numba.njit(cache=True, nogil=True)
def _splat(image, flow, depth, depth_tolerance, min_weight):  # pragma: no cover - compiled
    height, width = depth.shape
    zbuffer = np.full((height, width), np.inf, np.float32)
    # Pass 1: the nearest depth that reaches each target pixel with a non-negligible weight.
    for i in range(height):
        for j in range(width):
            x = j + flow[i, j, 0]
            y = i + flow[i, j, 1]
            x0 = int(np.floor(x))
            y0 = int(np.floor(y))
            fx = x - x0
            fy = y - y0
            z = depth[i, j]
            for dy in range(2):
                wy = fy if dy else 1.0 - fy
                ty = y0 + dy
                if ty < 0 or ty >= height:
                    continue
                for dx in range(2):
                    wx = fx if dx else 1.0 - fx
                    tx = x0 + dx
                    if tx < 0 or tx >= width or wx * wy <= min_weight:
                        continue
                    if z < zbuffer[ty, tx]:
                        zbuffer[ty, tx] = z
    # Pass 2: blend the contributions lying within the tolerance of the nearest surface.
    accum = np.zeros((height, width, 3), np.float32)
    weights = np.zeros((height, width), np.float32)
    for i in range(height):
        for j in range(width):
            x = j + flow[i, j, 0]
            y = i + flow[i, j, 1]
            x0 = int(np.floor(x))
            y0 = int(np.floor(y))
            fx = x - x0
            fy = y - y0
            z = depth[i, j]
            for dy in range(2):
                wy = fy if dy else 1.0 - fy
                ty = y0 + dy
                if ty < 0 or ty >= height:
                    continue
                for dx in range(2):
                    wx = fx if dx else 1.0 - fx
                    tx = x0 + dx
                    w = wx * wy
                    if tx < 0 or tx >= width or w <= min_weight or z > zbuffer[ty, tx] + depth_tolerance:
                        continue
                    weights[ty, tx] += w
                    for c in range(3):
                        accum[ty, tx, c] += w * image[i, j, c]
    out = np.zeros((height, width, 3), np.uint8)
    holes = np.zeros((height, width), np.bool_)
    for i in range(height):
        for j in range(width):
            w = weights[i, j]
            if w <= min_weight:
                holes[i, j] = True
                continue
            for c in range(3):
                v = accum[i, j, c] / w + 0.5
                out[i, j, c] = 255 if v >= 255.0 else np.uint8(v)
    return out, holes


def forward_splat(image: np.ndarray, flow: np.ndarray, depth: np.ndarray, depth_tolerance: float = 0.02,
                  min_weight: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Move ``image``'s pixels by ``flow``, nearer (smaller ``depth``) surfaces covering farther ones.

    Each source pixel spreads over the 4 target pixels around its landing point with bilinear
    weights (an integer flow moves it exactly). A contribution counts at a target pixel only if
    its depth is within ``depth_tolerance`` of the nearest depth landing there. Returns the
    warped uint8 (H, W, 3) image and the bool (H, W) mask of pixels nothing landed on.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if flow.shape != (*image.shape[:2], 2) or depth.shape != image.shape[:2]:
        raise ValueError(f"flow {flow.shape} and depth {depth.shape} must match image {image.shape}")
    return _splat(np.ascontiguousarray(image), np.ascontiguousarray(flow, np.float32),
                  np.ascontiguousarray(depth, np.float32), np.float32(depth_tolerance), np.float32(min_weight))


def fill_holes(frame: np.ndarray, holes: np.ndarray, method: str, previous: np.ndarray | None = None,
               inpaint_radius: float = 3.0) -> np.ndarray:
    """Paint the pixels of ``holes`` (a warp's disocclusions and cracks); other pixels are untouched.

    ``telea``: OpenCV's fast-marching inpainting from the hole's border. ``previous``: the pixel
    of the previous output frame (``previous``), which keeps revealed regions steady over time.
    ``none``: leave them black (for inspecting the warp itself).
    """
    if method not in HOLE_FILLS:
        raise ValueError(f"unknown hole fill {method!r}; choose one of {HOLE_FILLS}")
    if method == "none" or not holes.any():
        return frame
    if method == "previous":
        if previous is None:
            raise ValueError("hole fill 'previous' needs the previous output frame")
        out = frame.copy()
        out[holes] = previous[holes]
        return out
    return cv2.inpaint(frame, holes.astype(np.uint8), float(inpaint_radius), cv2.INPAINT_TELEA)
