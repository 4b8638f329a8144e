"""Camera motion of a clip from its tracks and depth: relative poses for action-conditioned models.

Real footage comes without poses. With the clip's tracks and the depth of frame 0, every point
visible on frame 0 is lifted to 3D (``z = 1 / disparity``, so the scale is the estimator's, not
metres: relative depth models fix depth only up to scale), and the camera of each later frame is
the pose that projects those 3D points onto where the tracks say they are (RANSAC PnP, then a
refinement on the inliers). Frame 0 is the identity; a frame with fewer than 8 usable points keeps
the previous pose (a held pose is counted and reported, never hidden).

Intrinsics are unknown for real footage: a pinhole with square pixels, the principal point at
the centre and a horizontal field of view of ``hfov_degrees`` (default 60) is assumed and stored.
"""

from __future__ import annotations

import math
from typing import ClassVar

import cv2
import numpy as np

from longvgenbench.build.estimator_api import CameraEstimator
from longvgenbench.build.flow_tracker import sample_bilinear
from longvgenbench.controls import Tracks

MIN_POINTS = 8


def assumed_intrinsics(height: int, width: int, hfov_degrees: float) -> np.ndarray:
    f = (width / 2.0) / math.tan(math.radians(hfov_degrees) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


class DepthTrackCamera(CameraEstimator):
    """Relative camera poses per clip by PnP of frame-0 points (lifted with depth) against their tracks."""

    name = "estimate"
    description = "relative camera poses from tracks + frame-0 depth (RANSAC PnP), scale of the depth estimator"
    parallel_safe: ClassVar[bool] = True
    needs_depth: ClassVar[bool] = True

    def __init__(self, hfov_degrees: float = 60.0) -> None:
        if not 1.0 < hfov_degrees < 179.0:
            raise ValueError(f"hfov_degrees must lie in (1, 179), got {hfov_degrees}")
        self.hfov_degrees = float(hfov_degrees)
        self.held_frames = 0

    def fingerprint(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "hfov_degrees": self.hfov_degrees}

    def intrinsics(self, height: int, width: int) -> np.ndarray:
        return assumed_intrinsics(height, width, self.hfov_degrees)

    def estimate(self, tracks: Tracks, disparity: np.ndarray | None, intrinsics: np.ndarray) -> np.ndarray:
        if disparity is None:
            raise ValueError("camera estimation needs depth")
        num_frames = tracks.xy.shape[1]
        poses = np.repeat(np.eye(4)[None], num_frames, axis=0)
        start = tracks.xy[:, 0].astype(np.float64)
        disp0 = sample_bilinear(disparity[0][:, :, None].astype(np.float64), start)[:, 0]
        usable = tracks.visible[:, 0] & (disp0 > 1e-6)
        z = np.where(usable, 1.0 / np.maximum(disp0, 1e-6), 0.0)
        kinv = np.linalg.inv(intrinsics)
        rays = np.concatenate([start, np.ones((len(start), 1))], axis=1) @ kinv.T
        points = rays * z[:, None]
        rvec, tvec = np.zeros((3, 1)), np.zeros((3, 1))
        self.held_frames = 0
        for t in range(1, num_frames):
            sel = usable & tracks.visible[:, t]
            ok = False
            if sel.sum() >= MIN_POINTS:
                obj = np.ascontiguousarray(points[sel])
                img = np.ascontiguousarray(tracks.xy[sel, t].astype(np.float64))
                ok, r, tv, inliers = cv2.solvePnPRansac(obj, img, intrinsics, None, rvec.copy(), tvec.copy(),
                                                        useExtrinsicGuess=True, reprojectionError=2.0,
                                                        iterationsCount=100, flags=cv2.SOLVEPNP_ITERATIVE)
                if ok and inliers is not None and len(inliers) >= MIN_POINTS:
                    idx = inliers[:, 0]
                    r, tv = cv2.solvePnPRefineLM(obj[idx], img[idx], intrinsics, None, r, tv)
                    rvec, tvec = r, tv
                else:
                    ok = False
            if not ok:
                self.held_frames += 1
            rotation, _ = cv2.Rodrigues(rvec)
            poses[t, :3, :3], poses[t, :3, 3] = rotation, tvec[:, 0]
        return poses
