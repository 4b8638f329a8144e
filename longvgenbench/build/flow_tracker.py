"""The always-available point tracker: dense optical flow chained frame to frame.

Why: a learned point tracker (SpaTracker, CoTracker) needs weights that cannot always be had; the
protocol still needs a track control for every clip. Chaining dense flow gives usable tracks for
the query grid on frame 0:

- flow: OpenCV's DIS (no weights, CPU) by default; torchvision's RAFT-large when its weights are on
  this machine (looked up through ``longvgenbench.weights``, key ``raft_large_c_t_skht_v2``) and
  ``backend`` is ``auto`` or ``raft``;
- each point moves by the forward flow sampled (bilinearly) at its position;
- visibility: the forward-backward check of Sundaram et al. (2010): a point whose forward flow is
  not undone by the backward flow at its new position (|f + b|^2 > 0.01 (|f|^2 + |b|^2) + 0.5),
  or that leaves the image, is marked not visible from then on (flow chained through an occluder
  follows the occluder, so a lost point is never trusted again within the clip).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import cv2
import numpy as np

from longvgenbench.build.estimator_api import TrackEstimator
from longvgenbench.controls import Tracks
from longvgenbench.errors import OptionError

RAFT_WEIGHT_KEY = "raft_large_c_t_skht_v2"
_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def sample_bilinear(field: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``field`` (H, W, C) sampled at float points ``xy`` (N, 2) (x, y), clamped to the image -> (N, C)."""
    h, w = field.shape[:2]
    x = np.clip(xy[:, 0], 0.0, w - 1.0)
    y = np.clip(xy[:, 1], 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(len(x), np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(len(y), np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def chain_flows(num_frames: int, queries: np.ndarray, height: int, width: int, flow_pair) -> Tracks:
    """Chain ``flow_pair(t) -> (forward t->t+1, backward t+1->t)`` (each (H, W, 2)) from frame-0 queries."""
    xy = np.empty((len(queries), num_frames, 2), np.float32)
    visible = np.zeros((len(queries), num_frames), bool)
    pos = queries.astype(np.float64).copy()
    alive = (pos[:, 0] >= -0.5) & (pos[:, 0] <= width - 0.5) & (pos[:, 1] >= -0.5) & (pos[:, 1] <= height - 0.5)
    xy[:, 0], visible[:, 0] = pos, alive
    for t in range(num_frames - 1):
        forward, backward = flow_pair(t)
        f = sample_bilinear(forward, pos)
        moved = pos + f
        b = sample_bilinear(backward, moved)
        consistent = ((f + b) ** 2).sum(1) <= 0.01 * ((f ** 2).sum(1) + (b ** 2).sum(1)) + 0.5
        inside = (moved[:, 0] >= -0.5) & (moved[:, 0] <= width - 0.5) & (moved[:, 1] >= -0.5) \
            & (moved[:, 1] <= height - 0.5)
        alive &= consistent & inside
        pos = moved
        xy[:, t + 1], visible[:, t + 1] = pos, alive
    return Tracks(xy=xy, visible=visible)


class FlowTracker(TrackEstimator):
    """Dense optical flow (DIS, or RAFT when its weights are here) chained with a forward-backward check."""

    name = "flow"
    description = "chained dense optical flow (OpenCV DIS; RAFT-large when its weights are present), FB check"
    parallel_safe: ClassVar[bool] = True

    def __init__(self, backend: str = "auto", preset: str = "medium", device: str = "cpu") -> None:
        if backend not in ("auto", "dis", "raft"):
            raise OptionError(f"flow tracker backend must be auto, dis or raft, got {backend!r}")
        if preset not in _DIS_PRESETS:
            raise OptionError(f"DIS preset must be one of {sorted(_DIS_PRESETS)}, got {preset!r}")
        self.preset = preset
        self.device = device
        self._raft_path = self._find_raft() if backend in ("auto", "raft") else None
        if backend == "raft" and self._raft_path is None:
            self.check_available()
        self.backend = "raft" if self._raft_path is not None else "dis"
        self._raft = None

    @staticmethod
    def _find_raft():
        from longvgenbench import weights

        item = weights.catalogue().get(RAFT_WEIGHT_KEY)
        return None if item is None else weights.locate(item)

    def check_available(self) -> None:
        if self._raft_path is None and getattr(self, "backend", "raft") == "raft":
            from longvgenbench import weights

            weights.require(weights.get(RAFT_WEIGHT_KEY))

    def fingerprint(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind, "backend": self.backend}
        if self.backend == "dis":
            out["preset"] = self.preset
        else:
            out["weights"] = RAFT_WEIGHT_KEY
        return out

    # -- flow backends -------------------------------------------------------------------------
    def _dis_flows(self, frames: np.ndarray):
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]

        def pair(t: int) -> tuple[np.ndarray, np.ndarray]:
            return dis.calc(grey[t], grey[t + 1], None), dis.calc(grey[t + 1], grey[t], None)

        return pair

    def _raft_flows(self, frames: np.ndarray):
        import torch
        from torchvision.models.optical_flow import raft_large

        if self._raft is None:
            model = raft_large(weights=None, progress=False)
            model.load_state_dict(torch.load(self._raft_path, map_location="cpu", weights_only=True))
            self._raft = model.eval().to(self.device)
        h, w = frames.shape[1:3]
        ph, pw = (-h) % 8, (-w) % 8

        def prep(index: int) -> torch.Tensor:
            x = torch.from_numpy(frames[index]).permute(2, 0, 1).float().div(127.5).sub(1.0)
            return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")[None].to(self.device)

        @torch.inference_mode()
        def pair(t: int) -> tuple[np.ndarray, np.ndarray]:
            a, b = prep(t), prep(t + 1)
            flows = self._raft(torch.cat([a, b]), torch.cat([b, a]), num_flow_updates=12)[-1]
            flows = flows[:, :, :h, :w].permute(0, 2, 3, 1).float().cpu().numpy()
            return flows[0], flows[1]

        return pair

    def pair_flows(self, frames: np.ndarray) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
        """``pair(t)`` -> (forward t->t+1, backward t+1->t) flows, (h, w, 2) float32 in pixels, by this backend.

        Public for other users of the same estimator (e.g. a baseline driven by ground-truth motion).
        """
        return self._raft_flows(frames) if self.backend == "raft" else self._dis_flows(frames)

    def track(self, frames: np.ndarray, queries: np.ndarray, depth: np.ndarray | None) -> Tracks:
        return chain_flows(frames.shape[0], queries, frames.shape[1], frames.shape[2], self.pair_flows(frames))
