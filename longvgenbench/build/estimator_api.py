"""Pluggable control estimators of the builder: depth, tracks, captions, camera.

Like models and evaluators, estimators are found through an entry-point group,
``longvgenbench.estimators``; each class says which ``kind`` it is. Code (a test, a notebook) can
also add one in-process with :func:`register_estimator`. Every estimator is asked
:meth:`Estimator.check_available` before a build starts, so missing weights are reported at once,
with the command that fetches them, instead of after an hour of decoding.

Conventions (shared with ``controls.py``):
- depth estimators return, per frame, float32 (H, W) at any size; ``output`` says whether values are
  disparity-like (bigger = nearer, e.g. Depth Anything) or depth (bigger = farther); the builder
  stores disparity-like values and normalises them with ``normalise_depth_global`` (near = black);
- trackers return :class:`~longvgenbench.controls.Tracks` for query points on frame 0;
- caption estimators return one string per clip;
- camera estimators return world-to-camera poses (T, 4, 4) with frame 0 = identity, OpenCV axes.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np

from longvgenbench.controls import Tracks
from longvgenbench.errors import OptionError, UnknownNameError

ESTIMATORS = "longvgenbench.estimators"
KINDS = ("depth", "tracks", "captions", "camera")
_IN_PROCESS: dict[str, type[Estimator]] = {}


class Estimator(abc.ABC):
    """Base of every estimator. Subclasses set ``name``, ``kind`` and ``description``."""

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    # True when the estimator is CPU-bound and cheap to construct: the builder may then run it in
    # several worker processes. Learned models on a GPU run once, in the main process.
    parallel_safe: ClassVar[bool] = False

    def check_available(self) -> None:
        """Raise :class:`~longvgenbench.errors.WeightsUnavailableError` (what is missing, how to get it)."""

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this estimator's output (name, options, weight revisions); recorded in the split."""
        return {"name": self.name, "kind": self.kind}


class DepthEstimator(Estimator):
    kind = "depth"
    output: ClassVar[str] = "disparity"  # "disparity" (bigger = nearer) | "depth" (bigger = farther)
    chunk_frames: ClassVar[int] = 32  # frames per call (video models use temporal windows)

    @abc.abstractmethod
    def estimate(self, frames: np.ndarray, start: int) -> np.ndarray:
        """``frames`` uint8 (T, H, W, 3), frames [start, start + T) of the video -> float32 (T, h, w)."""


class TrackEstimator(Estimator):
    kind = "tracks"

    @abc.abstractmethod
    def track(self, frames: np.ndarray, queries: np.ndarray, depth: np.ndarray | None) -> Tracks:
        """``frames`` uint8 (T, H, W, 3); ``queries`` float (N, 2) pixel (x, y) on frame 0; ``depth`` the
        clip's globally normalised depth (T, H, W) (near = 0) or None -> tracks (N, T)."""


class CaptionEstimator(Estimator):
    kind = "captions"

    @abc.abstractmethod
    def caption(self, frames: np.ndarray, video_id: str, clip_index: int) -> str:
        """One caption for the clip ``frames`` uint8 (T, H, W, 3)."""


class CameraEstimator(Estimator):
    kind = "camera"
    needs_depth: ClassVar[bool] = True

    @abc.abstractmethod
    def estimate(self, tracks: Tracks, disparity: np.ndarray | None, intrinsics: np.ndarray) -> np.ndarray:
        """Relative world-to-camera poses (T, 4, 4) of a clip, frame 0 = identity."""


@dataclass(frozen=True)
class EstimatorChoice:
    """A user's choice for one kind (name + options): picklable, so worker processes build their own."""

    kind: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def create(self) -> Estimator:
        return create_estimator(self.kind, self.name, **dict(self.options))


def register_estimator(cls: type[Estimator]) -> type[Estimator]:
    """Add an estimator class in-process (before entry points are consulted); usable as a decorator."""
    if cls.kind not in KINDS:
        raise ValueError(f"estimator kind must be one of {KINDS}, got {cls.kind!r}")
    _IN_PROCESS[cls.name] = cls
    return cls


def unregister_estimator(name: str) -> None:
    _IN_PROCESS.pop(name, None)


def _all() -> dict[str, Any]:
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=ESTIMATORS)}
    found.update(_IN_PROCESS)
    return found


def estimator_names(kind: str | None = None) -> list[str]:
    """Registered names (of one kind, when given; loading an entry point to learn its kind)."""
    out = []
    for name, item in _all().items():
        if kind is None:
            out.append(name)
            continue
        try:
            cls = item if isinstance(item, type) else item.load()
        except Exception:  # a broken plug-in is listed by `ls`, not here
            continue
        if getattr(cls, "kind", None) == kind:
            out.append(name)
    return sorted(out)


def create_estimator(kind: str, name: str, **options: Any) -> Estimator:
    """Instantiate estimator ``name``, checking that it is of ``kind``."""
    found = _all()
    if name not in found:
        raise UnknownNameError(f"{kind} estimator", name, estimator_names(kind))
    item = found[name]
    cls = item if isinstance(item, type) else item.load()
    if getattr(cls, "kind", None) != kind:
        raise OptionError(f"estimator {name!r} estimates {getattr(cls, 'kind', '?')}, not {kind}")
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{kind} estimator {name!r} cannot use options {dict(options)}: {exc}") from exc
