"""The builder on a synthetic video, whose exact depth, tracks and cameras are known.

The synthetic split's exact metric depth stands in for a depth estimator (a test estimator
registered here), so the builder's depth polarity and global normalisation can be compared with
the synthetic split's own depth videos; the always-available flow tracker is compared with the
exact tracks, and the camera estimate with the exact poses.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from longvgenbench.build.cutting import CutSettings
from longvgenbench.build.estimator_api import DepthEstimator, EstimatorChoice, register_estimator, unregister_estimator
from longvgenbench.build.pipeline import BuildSettings, build
from longvgenbench.build.video_controls import ControlSettings
from longvgenbench.controls import load_camera, load_depth, load_tracks
from longvgenbench.records import Grid
from longvgenbench.splits.api import load_split
from longvgenbench.synthetic.scene import build_scene
from longvgenbench.synthetic.source import SYNTHETIC_MINI
from longvgenbench.synthetic.video import RenderedFrames, iter_render

HEIGHT, WIDTH = 128, 224
TRACK_GRID = (10, 12)


def exact_depth(spec) -> np.ndarray:
    """Camera z of every frame of a synthetic video (the renderer is deterministic)."""
    rng = np.random.default_rng(list(spec.entropy))
    grid = spec.grid
    scene, trajectory = build_scene(rng, spec.setting, spec.lighting, spec.num_frames, grid.fps, grid.height,
                                    grid.width)
    frames = RenderedFrames.allocate(scene, spec.num_frames, grid.fps, grid.height, grid.width)
    for _ in iter_render(scene, trajectory, frames):
        pass
    return frames.depth.astype(np.float32)


class ExactDepth(DepthEstimator):
    """Returns the synthetic video's exact metric depth (bigger = farther)."""

    name = "test-exact-depth"
    output = "depth"
    z: np.ndarray = np.zeros((0, 1, 1), np.float32)

    def estimate(self, frames, start):
        return self.z[start:start + len(frames)]


class WrongPolarityDepth(ExactDepth):
    """The same values, but claiming to be disparity: near and far swap."""

    name = "test-wrong-polarity"
    output = "disparity"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "split"
    params = {"num_videos": 1, "num_clips": 2, "height": HEIGHT, "width": WIDTH, "track_grid": TRACK_GRID}
    SYNTHETIC_MINI.make(root, seed=3, progress=False, **params)
    spec = SYNTHETIC_MINI.specs(3, SYNTHETIC_MINI.params(**params))[0]
    ExactDepth.z = exact_depth(spec)
    return load_split(root)


def _build(synthetic, out, depth_name: str):
    sample = synthetic.samples[0]
    grid = Grid(height=HEIGHT, width=WIDTH)
    settings = BuildSettings(
        name="from-synthetic", cut=CutSettings(grid=grid, min_seconds=5.0),
        controls=ControlSettings(grid=grid, depth=EstimatorChoice("depth", depth_name),
                                 tracks=EstimatorChoice("tracks", "flow"),
                                 camera=EstimatorChoice("camera", "estimate", {"hfov_degrees": 70.0}),
                                 track_grid=TRACK_GRID),
        workers=1)
    for cls in (ExactDepth, WrongPolarityDepth):
        register_estimator(cls)
    try:
        build(sample.ground_truth, out, settings, progress=False)
    finally:
        for cls in (ExactDepth, WrongPolarityDepth):
            unregister_estimator(cls.name)
    return load_split(out)


def test_builder_matches_the_exact_controls_of_a_synthetic_video(synthetic, tmp_path):
    truth = synthetic.samples[0]
    built = _build(synthetic, tmp_path / "built", "test-exact-depth")
    [sample] = built.samples
    assert sample.num_frames == truth.num_frames and len(sample.segments) == len(truth.segments) == 2
    entry = json.loads((built.root / "videos" / sample.video_id / "video.json").read_text())
    truth_entry = json.loads((synthetic.root / "videos" / truth.video_id / "video.json").read_text())
    assert entry["depth_p5"] == pytest.approx(truth_entry["depth_p5"], rel=2e-3)
    assert entry["depth_p95"] == pytest.approx(truth_entry["depth_p95"], rel=2e-3)

    track_errors, rotation_errors = [], []
    for seg, ref in zip(sample.segments, truth.segments, strict=True):
        ours, exact = load_depth(seg.controls.depth_video), load_depth(ref.controls.depth_video)
        assert np.abs(ours - exact).mean() < 0.01  # same polarity (near = black), same global normalisation
        assert np.corrcoef(ours.ravel(), exact.ravel())[0, 1] > 0.99

        est, ref_tracks = load_tracks(seg.controls.tracks), load_tracks(ref.controls.tracks)
        assert est.xy.shape == ref_tracks.xy.shape
        both = est.visible & ref_tracks.visible
        # visibility from the forward-backward check agrees with the exact occlusion/out-of-view flags
        assert (est.visible == ref_tracks.visible).mean() > 0.9
        assert both.sum() > 0.5 * ref_tracks.visible.sum()
        track_errors.append(np.linalg.norm(est.xy - ref_tracks.xy, axis=-1)[both])

        cam, ref_cam = load_camera(seg.controls.camera), load_camera(ref.controls.camera)
        for t in range(1, cam.world_to_camera.shape[0]):
            exact_rel = ref_cam.world_to_camera[t, :3, :3] @ ref_cam.world_to_camera[0, :3, :3].T
            delta = cam.world_to_camera[t, :3, :3] @ exact_rel.T
            rotation_errors.append(np.degrees(np.arccos(np.clip((np.trace(delta) - 1) / 2, -1, 1))))
    errors = np.concatenate(track_errors)
    median = float(np.median(errors))
    print(f"flow tracker vs exact tracks at {HEIGHT}x{WIDTH}: median {median:.3f} px, "
          f"90th percentile {np.percentile(errors, 90):.3f} px over {errors.size} visible point-frames; "
          f"camera rotation error median {np.median(rotation_errors):.3f} deg")
    assert median < 1.5
    assert np.median(rotation_errors) < 2.0


def test_wrong_depth_polarity_is_visible_against_the_exact_depth(synthetic, tmp_path):
    built = _build(synthetic, tmp_path / "wrong", "test-wrong-polarity")
    seg, ref = built.samples[0].segments[0], synthetic.samples[0].segments[0]
    ours, exact = load_depth(seg.controls.depth_video), load_depth(ref.controls.depth_video)
    assert np.corrcoef(ours.ravel(), exact.ravel())[0, 1] < 0  # the check above would catch it
