"""Tests of the three weight-free baselines: static, oracle and depth-warp.

Fixtures are built here by hand on a tiny grid (64x112, 9-frame clips, stride 8), independent
of the synthetic split, so each test states exactly which motion and depth it expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.depth_warp import DepthWarpModel
from baselines.oracle import GroundTruthUnavailableError, OracleModel
from baselines.static import StaticModel
from baselines.warping import TrackFlowField, anchor_displacements, fill_holes, forward_splat
from longvgenbench import registry
from longvgenbench.errors import ControlError, LongVGenBenchError, MismatchError
from longvgenbench.records import (
    PROTOCOL_GRID,
    Category,
    Grid,
    Segment,
    SegmentControls,
    SegmentRequest,
    VideoSample,
)
from longvgenbench.video_io import LOSSLESS, read_frames, write_video

H, W, T = 64, 112, 9
GRID = Grid(clip_frames=T, stride=T - 1, fps=16.0, height=H, width=W)


def textured_frame(seed: int = 0, height: int = H, width: int = W) -> np.ndarray:
    """A frame with texture everywhere, so any wrong shift shows up as a pixel difference."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def make_sample(root: Path, segments: tuple[Segment, ...], ground_truth: Path | None = None,
                num_frames: int | None = None) -> VideoSample:
    return VideoSample(video_id="vid0", split="unit", category=Category("synthetic", "indoor", "day"), fps=GRID.fps,
                       height=H, width=W, num_frames=num_frames or segments[-1].stop,
                       first_frame=root / "first.png", segments=segments, ground_truth=ground_truth)


def grid_anchors(step: int = 4) -> np.ndarray:
    """Track query points on a regular lattice covering the whole frame (corners included)."""
    xs = np.arange(0, W, step, dtype=np.float32)
    ys = np.arange(0, H, step, dtype=np.float32)
    xs, ys = np.append(xs, W - 1) if xs[-1] != W - 1 else xs, np.append(ys, H - 1) if ys[-1] != H - 1 else ys
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def write_controls(root: Path, xy: np.ndarray, visible: np.ndarray, depth0: np.ndarray,
                   depth_as_video: bool = False) -> SegmentControls:
    """Tracks ``.npz`` and a static depth (``.npy``, or a lossless grey video) for one segment."""
    tracks = root / "tracks.npz"
    np.savez(tracks, xy=xy.astype(np.float32), visible=visible.astype(bool))
    depth_frames = np.repeat(depth0[None].astype(np.float32), xy.shape[1], axis=0)
    if depth_as_video:
        grey = np.rint(depth_frames * 255).astype(np.uint8)
        depth = write_video(root / "depth.mkv", (np.repeat(g[..., None], 3, axis=2) for g in grey), GRID.fps,
                            LOSSLESS)
    else:
        depth = root / "depth.npy"
        np.save(depth, depth_frames)
    return SegmentControls(depth_video=depth, tracks=tracks)


def warp_request(root: Path, first: np.ndarray, xy: np.ndarray, visible: np.ndarray | None = None,
                 depth0: np.ndarray | None = None, depth_as_video: bool = False) -> SegmentRequest:
    visible = np.ones(xy.shape[:2], bool) if visible is None else visible
    depth0 = np.full((H, W), 0.5, np.float32) if depth0 is None else depth0
    controls = write_controls(root, xy, visible, depth0, depth_as_video)
    segment = Segment(index=0, start=0, num_frames=T, caption="a test clip", controls=controls)
    return SegmentRequest(sample=make_sample(root, (segment,)), segment=segment, first_frame=first, grid=GRID,
                          seed=0)


def translating_tracks(anchors: np.ndarray, velocity: tuple[float, float]) -> np.ndarray:
    steps = np.arange(T, dtype=np.float32)[None, :, None]
    return anchors[:, None, :] + np.asarray(velocity, np.float32) * steps


# --- static -----------------------------------------------------------------------------------


def test_static_repeats_first_frame(tmp_path: Path) -> None:
    first = textured_frame(1)
    segment = Segment(index=2, start=16, num_frames=T, caption="c")
    request = SegmentRequest(make_sample(tmp_path, (segment,)), segment, first, GRID, seed=3)
    frames = StaticModel().generate_segment(request, {}).frames
    assert frames.dtype == np.uint8 and frames.shape == (T, H, W, 3)
    assert (frames == first).all()
    consecutive = np.abs(np.diff(frames.astype(np.int16), axis=0))
    assert consecutive.mean() == 0.0  # temporal flickering (255 - 0) / 255 = 1, motion 0
    assert StaticModel().native == StaticModel(height=480, width=832).native
    assert StaticModel().native.num_frames == PROTOCOL_GRID.clip_frames


def test_static_rejects_wrong_first_frame(tmp_path: Path) -> None:
    segment = Segment(index=0, start=0, num_frames=T, caption="c")
    request = SegmentRequest(make_sample(tmp_path, (segment,)), segment, textured_frame()[:32], GRID, seed=0)
    with pytest.raises(ValueError, match="first_frame"):
        StaticModel().generate_segment(request, {})


# --- oracle -----------------------------------------------------------------------------------


def test_oracle_returns_ground_truth_mid_video(tmp_path: Path) -> None:
    total = GRID.frames_for_clips(3)
    truth = np.stack([textured_frame(seed) for seed in range(total)])
    video = write_video(tmp_path / "truth.mkv", truth, GRID.fps, LOSSLESS)
    segments = tuple(Segment(index=k, start=s, num_frames=T, caption=f"clip {k}")
                     for k, s in enumerate(GRID.clip_starts(total)))
    sample = make_sample(tmp_path, segments, ground_truth=video, num_frames=total)
    segment = segments[1]
    request = SegmentRequest(sample, segment, textured_frame(999), GRID, seed=0)  # first_frame ignored
    frames = OracleModel().generate_segment(request, {}).frames
    assert frames.dtype == np.uint8 and frames.shape == (T, H, W, 3)
    assert np.array_equal(frames, read_frames(video, segment.start, segment.stop))
    assert np.array_equal(frames, truth[segment.start:segment.stop])  # lossless: bit-exact


def test_oracle_without_ground_truth_is_a_clear_error(tmp_path: Path) -> None:
    segment = Segment(index=0, start=0, num_frames=T, caption="c")
    request = SegmentRequest(make_sample(tmp_path, (segment,)), segment, textured_frame(), GRID, seed=0)
    with pytest.raises(GroundTruthUnavailableError, match="needs ground truth") as info:
        OracleModel().generate_segment(request, {})
    assert isinstance(info.value, LongVGenBenchError)


def test_oracle_refuses_segment_of_other_length(tmp_path: Path) -> None:
    video = write_video(tmp_path / "truth.mkv", [textured_frame(s) for s in range(20)], GRID.fps, LOSSLESS)
    segment = Segment(index=0, start=0, num_frames=T + 2, caption="c")
    request = SegmentRequest(make_sample(tmp_path, (segment,), ground_truth=video), segment, textured_frame(),
                             GRID, seed=0)
    with pytest.raises(MismatchError, match="spans 11 frames"):
        OracleModel().generate_segment(request, {})


# --- depth-warp: building blocks ----------------------------------------------------------------


def test_flow_field_reproduces_affine_motion_inside_the_hull() -> None:
    anchors = grid_anchors(8)
    field = TrackFlowField(anchors, H, W)
    assert np.allclose(field.dense(np.tile([[2.5, -1.0]], (len(anchors), 1))), [2.5, -1.0])
    affine = np.array([[0.01, 0.02], [-0.03, 0.005]], np.float32)
    flow = field.dense(anchors @ affine.T)
    ys, xs = np.mgrid[0:H, 0:W]
    expected = np.stack([xs, ys], axis=-1).astype(np.float32) @ affine.T
    assert np.abs(flow - expected).max() < 1e-3


def test_occluded_tracks_take_their_visible_neighbours_motion() -> None:
    anchors = grid_anchors(8)
    displacement = np.tile([[3.0, 1.0]], (len(anchors), 1)).astype(np.float32)
    displacement[5] = [500.0, -500.0]  # an occluded track's unreliable guess
    visible = np.ones(len(anchors), bool)
    visible[5] = False
    previous = np.zeros_like(displacement)
    result = anchor_displacements(anchors, displacement, visible, previous, min_visible=3)
    assert np.allclose(result, [3.0, 1.0])
    too_few = np.zeros(len(anchors), bool)
    too_few[:2] = True
    held = anchor_displacements(anchors, displacement, too_few, previous + 7.0, min_visible=3)
    assert np.array_equal(held, previous + 7.0)


def test_splat_nearer_pixel_wins_a_collision() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[1, 1] = 200  # moves right by 2 onto (1, 3)
    image[1, 3] = 50  # stays
    flow = np.zeros((4, 6, 2), np.float32)
    flow[1, 1, 0] = 2.0
    for near_value, mover_depth in ((200, 0.1), (50, 0.9)):
        depth = np.full((4, 6), 0.5, np.float32)
        depth[1, 1] = mover_depth
        warped, holes = forward_splat(image, flow, depth)
        assert (warped[1, 3] == near_value).all()
        assert holes[1, 1] and holes.sum() == 1


def test_fill_holes_modes() -> None:
    frame = textured_frame(4)
    holes = np.zeros((H, W), bool)
    holes[10:14, 20:30] = True
    previous = textured_frame(5)
    filled = fill_holes(frame, holes, "previous", previous=previous)
    assert np.array_equal(filled[holes], previous[holes]) and np.array_equal(filled[~holes], frame[~holes])
    inpainted = fill_holes(frame, holes, "telea")
    assert np.array_equal(inpainted[~holes], frame[~holes])
    assert fill_holes(frame, holes, "none") is frame
    with pytest.raises(ValueError, match="unknown hole fill"):
        fill_holes(frame, holes, "magic")


# --- depth-warp: the model ----------------------------------------------------------------------


@pytest.mark.parametrize("hole_fill", ["telea", "previous"])
def test_depth_warp_pure_translation_shifts_first_frame(tmp_path: Path, hole_fill: str) -> None:
    first = textured_frame(7)
    request = warp_request(tmp_path, first, translating_tracks(grid_anchors(), (3.0, 0.0)))
    frames = DepthWarpModel(hole_fill=hole_fill).generate_segment(request, {}).frames
    assert frames.dtype == np.uint8 and frames.shape == (T, H, W, 3)
    assert np.array_equal(frames[0], first)
    for t in range(1, T):
        shift = 3 * t
        assert np.array_equal(frames[t][:, shift:], first[:, : W - shift]), f"frame {t}"
        assert frames[t][:, :shift].any()  # the revealed strip is filled, not left black


def test_depth_warp_subpixel_translation_is_close(tmp_path: Path) -> None:
    first = np.repeat(np.repeat(textured_frame(8, H // 8, W // 8), 8, axis=0), 8, axis=1)  # smooth-ish blocks
    request = warp_request(tmp_path, first, translating_tracks(grid_anchors(), (1.5, 0.5)))
    frames = DepthWarpModel().generate_segment(request, {}).frames
    t = 4  # an integer shift of (6, 2) px
    interior = np.abs(frames[t][4:-2, 8:-2].astype(int) - first[2:-4, 2:-8].astype(int))
    assert interior.max() == 0


def layered_scene(root: Path, square_is_near: bool) -> tuple[SegmentRequest, np.ndarray, np.ndarray]:
    """Background moving +2 px/frame in x, a 24x24 square moving -2 px/frame; they collide."""
    background = textured_frame(10)
    square = textured_frame(11)[:24, :24]
    first = background.copy()
    top, left = 20, 60
    first[top:top + 24, left:left + 24] = square
    anchors = grid_anchors(4)
    xy = translating_tracks(anchors, (2.0, 0.0))
    inside = ((anchors[:, 0] >= left) & (anchors[:, 0] <= left + 23) & (anchors[:, 1] >= top)
              & (anchors[:, 1] <= top + 23))
    xy[inside] = translating_tracks(anchors[inside], (-2.0, 0.0))
    depth0 = np.full((H, W), 0.2 if not square_is_near else 0.9, np.float32)
    depth0[top:top + 24, left:left + 24] = 0.1 if square_is_near else 0.8
    return warp_request(root, first, xy, depth0=depth0), first, square


@pytest.mark.parametrize("square_is_near", [True, False])
def test_depth_warp_nearer_layer_wins_where_layers_overlap(tmp_path: Path, square_is_near: bool) -> None:
    request, first, square = layered_scene(tmp_path, square_is_near)
    frames = DepthWarpModel().generate_segment(request, {}).frames
    t = T - 1  # square now at columns [60 - 16, 84 - 16); background there came from 4t px further left
    rows, cols = slice(22, 42), slice(60 - 2 * t + 2, 84 - 2 * t - 2)
    square_there = square[2:22, 2:22]
    background_there = first[rows, cols.start - 2 * t:cols.stop - 2 * t]
    assert cols.stop - 2 * t <= 60  # the background source lies left of the square: a true overlap
    expected = square_there if square_is_near else background_there
    assert np.array_equal(frames[t][rows, cols], expected)


def test_depth_warp_reads_depth_from_a_grey_video(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    request_npy, _, _ = layered_scene(tmp_path / "a", square_is_near=True)
    depth0 = np.load(request_npy.segment.controls.depth_video)[0]
    tracks = np.load(request_npy.segment.controls.tracks)
    request_video = warp_request(tmp_path / "b", request_npy.first_frame, tracks["xy"], tracks["visible"], depth0,
                                 depth_as_video=True)
    model = DepthWarpModel()
    from_npy = model.generate_segment(request_npy, {}).frames
    from_video = model.generate_segment(request_video, {}).frames
    assert np.array_equal(from_npy, from_video)  # lossless grey video: same depth to 1/255


def test_depth_warp_is_deterministic_with_occluded_tracks(tmp_path: Path) -> None:
    anchors = grid_anchors(6)
    rng = np.random.default_rng(0)
    xy = translating_tracks(anchors, (1.3, -0.7)) + rng.normal(0, 0.3, (len(anchors), T, 2)).astype(np.float32)
    xy[:, 0] = anchors
    visible = rng.random((len(anchors), T)) > 0.3
    visible[:, 0] = True
    depth0 = rng.random((H, W)).astype(np.float32)
    request = warp_request(tmp_path, textured_frame(12), xy, visible, depth0)
    first_run = DepthWarpModel().generate_segment(request, {}).frames
    second_run = DepthWarpModel().generate_segment(request, {}).frames
    assert np.array_equal(first_run, second_run)
    assert first_run.shape == (T, H, W, 3) and first_run.dtype == np.uint8


def test_depth_warp_too_few_visible_tracks_keeps_previous_flow(tmp_path: Path) -> None:
    anchors = grid_anchors()
    xy = translating_tracks(anchors, (2.0, 0.0))
    visible = np.ones(xy.shape[:2], bool)
    visible[:, 5:] = False  # the tracker loses everything after frame 4
    xy[:, 5:] = 0.0  # and its positions there are garbage
    frames = DepthWarpModel().generate_segment(warp_request(tmp_path, textured_frame(13), xy, visible), {}).frames
    for t in range(5, T):
        assert np.array_equal(frames[t], frames[4])


def test_depth_warp_nan_tracks_raise_control_error(tmp_path: Path) -> None:
    xy = translating_tracks(grid_anchors(), (1.0, 0.0))
    xy[3, 4, 0] = np.nan
    request = warp_request(tmp_path, textured_frame(), xy)
    with pytest.raises(ControlError, match="NaN"):
        DepthWarpModel().generate_segment(request, {})


def test_depth_warp_nan_depth_raises_control_error(tmp_path: Path) -> None:
    depth0 = np.full((H, W), 0.5, np.float32)
    depth0[1, 1] = np.nan
    request = warp_request(tmp_path, textured_frame(), translating_tracks(grid_anchors(), (1.0, 0.0)), depth0=depth0)
    with pytest.raises(ControlError, match="NaN"):
        DepthWarpModel().generate_segment(request, {})


def test_depth_warp_missing_controls_are_named(tmp_path: Path) -> None:
    request = warp_request(tmp_path, textured_frame(), translating_tracks(grid_anchors(), (1.0, 0.0)))
    no_tracks = Segment(index=0, start=0, num_frames=T, caption="c",
                        controls=SegmentControls(depth_video=request.segment.controls.depth_video))
    stripped = SegmentRequest(request.sample, no_tracks, request.first_frame, GRID, seed=0)
    with pytest.raises(ControlError, match="needs the tracks control"):
        DepthWarpModel().generate_segment(stripped, {})
    nothing = Segment(index=0, start=0, num_frames=T, caption="c")
    with pytest.raises(ControlError, match="tracks and depth_video"):
        DepthWarpModel().generate_segment(SegmentRequest(request.sample, nothing, request.first_frame, GRID, 0), {})


def test_depth_warp_rejects_tracks_of_wrong_length(tmp_path: Path) -> None:
    xy = translating_tracks(grid_anchors(), (1.0, 0.0))[:, : T - 2]
    controls = write_controls(tmp_path, xy, np.ones(xy.shape[:2], bool), np.full((H, W), 0.5, np.float32))
    segment = Segment(index=0, start=0, num_frames=T, caption="c", controls=controls)
    request = SegmentRequest(make_sample(tmp_path, (segment,)), segment, textured_frame(), GRID, seed=0)
    with pytest.raises(ControlError, match="tracks span 7 frames"):
        DepthWarpModel().generate_segment(request, {})


def test_fingerprints_and_options() -> None:
    base = DepthWarpModel().fingerprint()
    assert base["name"] == "depth-warp" and "version" in base
    for options in ({"hole_fill": "previous"}, {"inpaint_radius": 5.0}, {"min_visible_tracks": 10},
                    {"depth_tolerance": 0.1}, {"depth_edge": 0.2}):
        assert DepthWarpModel(**options).fingerprint() != base, options
    assert DepthWarpModel(height=240, width=416).fingerprint() == base  # size only describes output
    assert DepthWarpModel(height=240, width=416).native.height == 240
    assert StaticModel().fingerprint() != OracleModel().fingerprint()
    for cls in (StaticModel, OracleModel, DepthWarpModel):
        with pytest.raises(TypeError):
            cls(no_such_option=1)
    with pytest.raises(ValueError, match="hole_fill"):
        DepthWarpModel(hole_fill="magic")


def test_models_are_registered() -> None:
    assert {"static", "oracle", "depth-warp"} <= set(registry.names(registry.MODELS))
    assert isinstance(registry.create_model("depth-warp", hole_fill="none"), DepthWarpModel)
    assert isinstance(registry.create_model("static"), StaticModel)
    assert isinstance(registry.create_model("oracle"), OracleModel)
    assert not DepthWarpModel.needs_weights
