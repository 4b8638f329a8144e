"""The synthetic renderer and its controls are exact: depth, tracks, visibility, normalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from longvgenbench.controls import load_camera, load_depth, load_tracks
from longvgenbench.records import Grid
from longvgenbench.synthetic.camera_path import CameraTrajectory, intrinsics_for, look_at
from longvgenbench.synthetic.captions import camera_motion_words, clip_caption
from longvgenbench.synthetic.raycast import BG_ROOM, FIRST_OBJECT_ID, TEX_CHECKER, TEX_NOISE
from longvgenbench.synthetic.scene import Lighting, Material, Motion, Scene, SceneObject, build_scene
from longvgenbench.synthetic.tracks import compute_tracks, query_grid, render_tracks
from longvgenbench.synthetic.video import RenderedFrames, VideoSpec, depth_to_grey, iter_render, render_video
from longvgenbench.video_io import read_frames

H, W = 64, 112
ROOM = (0.0, 0.0, 0.0, 10.0, 4.0, 10.0)  # x 0..10, y 0..4 (floor at 0), z 0..10
MAT = Material(TEX_CHECKER, 0.5, "white", "dark grey", 1)
DAYLIGHT = Lighting((0.3, 0.3, 0.3), (0.0, 1.0, 0.0), (0.6, 0.6, 0.6), (0.5, 0.5, 0.5), 0.01, (0, 0, 0), (0, 0, 0), 0.0,
                    None)


def room_scene(*objects: SceneObject) -> Scene:
    ordered = tuple(o for o in objects if o.shape == "box") + tuple(o for o in objects if o.shape == "sphere")
    return Scene("indoor", "day", BG_ROOM, ROOM, MAT, Material(TEX_NOISE, 1.0, "beige", "grey", 2), MAT, ordered,
                 DAYLIGHT)


def trajectory(positions: list[tuple[float, float, float]], targets: list[tuple[float, float, float]]
               ) -> CameraTrajectory:
    poses = np.stack([look_at(np.array(p, float), np.array(t, float)) for p, t in zip(positions, targets, strict=True)])
    return CameraTrajectory(intrinsics=intrinsics_for(H, W), world_to_camera=poses)


def render(scene: Scene, traj: CameraTrajectory) -> tuple[np.ndarray, RenderedFrames]:
    out = RenderedFrames.allocate(scene, traj.num_frames, 16.0, H, W)
    frames = np.stack([rgb.copy() for rgb in iter_render(scene, traj, out)])
    return frames, out


def render_float_depth(scene: Scene, traj: CameraTrajectory) -> np.ndarray:
    """Float32 depth of frame 0 (the stored cube is float16)."""
    from longvgenbench.synthetic.raycast import render_frame

    k = traj.intrinsics
    arrays = scene.frame_arrays(np.zeros((scene.num_primitives, 3)))
    rgb, depth = np.empty((H, W, 3), np.uint8), np.empty((H, W), np.float32)
    render_frame(np.ascontiguousarray(traj.world_to_camera[0, :3, :3].T), traj.positions[0],
                 np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]]), scene.background, np.array(scene.background_params),
                 arrays.boxes, arrays.spheres, scene.materials(), np.zeros((scene.num_primitives, 3)),
                 scene.lighting.pack(), scene.lighting.lamp_array(traj.positions[0]), rgb, depth,
                 np.zeros(scene.num_primitives, np.int64))
    return depth


def test_depth_is_the_exact_distance_to_known_planes() -> None:
    scene = room_scene()
    traj = trajectory([(5.0, 1.5, 2.0)], [(5.0, 1.5, 9.0)])  # looking straight at the far wall z = 10
    depth = render_float_depth(scene, traj)
    k = traj.intrinsics
    v = np.arange(H)[:, None].repeat(W, 1).astype(np.float64)
    below = (v - k[1, 2]) / k[1, 1]  # camera y of the ray (down is positive)
    floor_z = np.where(below > 0, 1.5 / np.maximum(below, 1e-12), np.inf)  # the floor y = 0 is 1.5 m below
    ceiling_z = np.where(below < 0, 2.5 / np.maximum(-below, 1e-12), np.inf)  # the ceiling y = 4 is 2.5 m above
    # side walls at x = 0 and x = 10 are 5 m to each side
    side = np.abs((np.arange(W)[None, :].repeat(H, 0) - k[0, 2]) / k[0, 0])
    side_z = np.where(side > 0, 5.0 / np.maximum(side, 1e-12), np.inf)
    expected = np.minimum(np.minimum(floor_z, ceiling_z), np.minimum(side_z, 8.0))  # far wall: z = 10 - 2
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    assert (depth == np.float32(8.0)).sum() > H * W // 4  # a fronto-parallel wall has one exact depth


def test_sphere_and_box_depth_along_the_optical_axis() -> None:
    sphere = SceneObject("sphere", (5.0, 1.5, 6.0), (0.5, 0.5, 0.5), MAT, "ball")
    traj = trajectory([(5.0, 1.5, 2.0)], [(5.0, 1.5, 9.0)])
    depth = render_float_depth(room_scene(sphere), traj)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    # the principal point lies between pixels; its four neighbours see the sphere's front at ~3.5 m
    centre = depth[int(cy):int(cy) + 2, int(cx):int(cx) + 2]
    assert np.all(np.abs(centre - 3.5) < 2e-3)
    box = SceneObject("box", (5.0, 1.5, 7.0), (1.0, 1.0, 0.25), MAT, "box")
    depth = render_float_depth(room_scene(box), traj)
    assert np.all(np.abs(depth[int(cy):int(cy) + 2, int(cx):int(cx) + 2] - 4.75) < 1e-5)  # face at z = 6.75


def _unproject(traj: CameraTrajectory, frame: int, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
    k = traj.intrinsics
    cam = np.stack([(xy[:, 0] - k[0, 2]) / k[0, 0] * z, (xy[:, 1] - k[1, 2]) / k[1, 1] * z, z], axis=-1)
    pose = traj.world_to_camera[frame]
    return (cam - pose[:3, 3]) @ pose[:3, :3]


def test_tracks_reproject_static_points_and_follow_moving_objects() -> None:
    scene, traj = build_scene(np.random.default_rng([3, 1]), "indoor", "day", 81, 16.0, H, W)
    mover = SceneObject("sphere", (5.0, 0.4, 5.0), (0.4, 0.4, 0.4), MAT, "ball", Motion((1.0, 0.5), (1.0, 1.3), (0, 0)))
    scene = Scene(scene.setting, scene.lighting_name, scene.background, scene.background_params, scene.floor,
                  scene.wall, scene.ceiling, (*scene.objects, mover), scene.lighting)
    offsets = scene.offsets(np.arange(81) / 16.0)
    tracks = compute_tracks(scene, traj, offsets, 0, 81, H, W, (12, 12))
    us, vs = query_grid(H, W, 12, 12)
    np.testing.assert_allclose(tracks.xy[:, 0, 0], us, atol=1e-3)
    np.testing.assert_allclose(tracks.xy[:, 0, 1], vs, atol=1e-3)
    assert tracks.visible[:, 0].all()
    world0 = _unproject(traj, 0, tracks.xy[:, 0].astype(np.float64), tracks.depth[:, 0].astype(np.float64))
    from longvgenbench.synthetic.tracks import _trace

    _, prim = _trace(scene, traj, 0, offsets[0], us, vs)
    for t in (10, 40, 80):
        world_t = _unproject(traj, t, tracks.xy[:, t].astype(np.float64), tracks.depth[:, t].astype(np.float64))
        moved = world_t - world0
        expected = offsets[t, prim] - offsets[0, prim]
        front = tracks.depth[:, t] > 0.1
        np.testing.assert_allclose(moved[front], expected[front], atol=2e-3 * max(1.0, float(tracks.depth.max())))
        # where visible, the ray through the track's position hits the point itself
        vis = tracks.visible[:, t]
        hit, _ = _trace(scene, traj, t, offsets[t], tracks.xy[vis, t, 0].astype(np.float64),
                        tracks.xy[vis, t, 1].astype(np.float64))
        np.testing.assert_allclose(hit, tracks.depth[vis, t], rtol=6e-3, atol=1.1e-2)


def test_visibility_is_false_behind_an_occluder() -> None:
    pillar = SceneObject("box", (5.0, 2.0, 6.0), (0.4, 2.0, 0.4), MAT, "box")  # floor to ceiling, in front of the wall
    scene = room_scene(pillar)
    xs = np.linspace(2.0, 8.0, 41)  # the camera slides sideways, always looking along +z
    traj = trajectory([(x, 1.5, 1.0) for x in xs], [(x, 1.5, 9.0) for x in xs])
    offsets = scene.offsets(np.arange(len(xs)) / 16.0)
    tracks = compute_tracks(scene, traj, offsets, 0, len(xs), H, W, (8, 16))
    world0 = _unproject(traj, 0, tracks.xy[:, 0].astype(np.float64), tracks.depth[:, 0].astype(np.float64))
    on_far_wall = np.abs(world0[:, 2] - 10.0) < 1e-3
    assert on_far_wall.sum() > 20
    lo, hi = np.array([4.6, 0.0, 5.6]), np.array([5.4, 4.0, 6.4])
    hidden_somewhere = False
    for t in range(len(xs)):
        origin = traj.positions[t]
        for i in np.where(on_far_wall)[0]:
            x, y = tracks.xy[i, t]
            if not (-0.5 <= x <= W - 0.5 and -0.5 <= y <= H - 0.5):
                assert not tracks.visible[i, t]
                continue
            d = world0[i] - origin  # segment camera -> point; does it cross the pillar? (slab test)
            with np.errstate(divide="ignore", invalid="ignore"):
                t1, t2 = (lo - origin) / d, (hi - origin) / d
            enter, leave = np.nanmax(np.minimum(t1, t2)), np.nanmin(np.maximum(t1, t2))
            blocked = enter <= leave and leave > 0 and enter < 1
            hidden_somewhere |= blocked
            assert tracks.visible[i, t] == (not blocked), (i, t)
    assert hidden_somewhere


def test_track_render_colours_and_sizes() -> None:
    scene, traj = build_scene(np.random.default_rng([4, 0]), "outdoor", "day", 81, 16.0, H, W)
    offsets = scene.offsets(np.arange(81) / 16.0)
    tracks = compute_tracks(scene, traj, offsets, 0, 81, H, W, (6, 6))
    frame0 = next(render_tracks(tracks, H, W))
    us, vs = query_grid(H, W, 6, 6)
    for i in range(len(us)):
        px = frame0[int(round(vs[i])), int(round(us[i]))]
        np.testing.assert_array_equal(px, tracks.colours[i])
    assert tracks.colours[:, 0].argmax() in np.where(us == us.max())[0]  # red grows with x
    assert tracks.colours[:, 1].argmax() in np.where(vs == vs.max())[0]  # green grows with y
    near = tracks.depth[:, 0].argmin()
    assert tracks.colours[near, 2] == 255  # blue is normalised 1/z: the nearest point is brightest
    assert (frame0.sum(-1) == 0).mean() > 0.5  # black background


def test_stored_depth_is_global_near_black_and_exact(tmp_path) -> None:
    spec = VideoSpec("v", (5, 0), "indoor", "day", 161, Grid(height=H, width=W), (5, 5))
    entry, _ = render_video(spec, tmp_path)
    assert len(entry.clips) == 2
    clip0 = load_depth(tmp_path / entry.clips[0].depth_video, expected_frames=81)
    clip1 = load_depth(tmp_path / entry.clips[1].depth_video, expected_frames=81)
    # frame 80 belongs to both clips: one global normalisation gives it the same grey in both
    shared = np.abs(clip0[80] - clip1[0])
    assert shared.mean() < 1.5 / 255 and np.percentile(shared, 99) <= 6 / 255  # H.264 noise only
    scene, traj = build_scene(np.random.default_rng([5, 0]), "indoor", "day", 161, 16.0, H, W)
    frames, rendered = render(scene, traj)
    expected = depth_to_grey(rendered.depth[100], entry.depth_p5, entry.depth_p95)[..., 0] / 255.0
    assert np.abs(clip1[20] - expected).mean() < 2 / 255  # H.264 of a smooth grey image is near-lossless
    z = rendered.depth[100].astype(np.float32)
    near, far = z < np.percentile(z, 10), z > np.percentile(z, 90)
    assert clip1[20][near].mean() < clip1[20][far].mean()  # near = black, far = white
    gt = read_frames(tmp_path / entry.ground_truth)
    assert gt.shape == (161, H, W, 3) and np.abs(gt.astype(int) - frames.astype(int)).mean() < 6
    camera = load_camera(tmp_path / entry.clips[1].camera, expected_frames=81)
    np.testing.assert_allclose(camera.world_to_camera, traj.world_to_camera[80:161])
    tracks = load_tracks(tmp_path / entry.clips[1].tracks, expected_frames=81)
    assert tracks.xy.shape == (25, 81, 2)
    record = json.loads((tmp_path / "videos/v/video.json").read_text())
    assert record["depth_p5"] == entry.depth_p5 < entry.depth_p95


def test_same_seed_same_scene_and_captions_describe_it() -> None:
    a = build_scene(np.random.default_rng([1, 2]), "outdoor", "night", 81, 16.0, H, W)
    b = build_scene(np.random.default_rng([1, 2]), "outdoor", "night", 81, 16.0, H, W)
    c = build_scene(np.random.default_rng([1, 3]), "outdoor", "night", 81, 16.0, H, W)
    assert a[0] == b[0] and np.array_equal(a[1].world_to_camera, b[1].world_to_camera)
    assert a[0] != c[0]
    scene, traj = a
    _, rendered = render(scene, traj)
    caption = clip_caption(scene, traj, rendered.coverage, 0, 81, 16.0)
    assert caption == clip_caption(scene, traj, rendered.coverage, 0, 81, 16.0)
    assert "night" in caption and "The camera" in caption
    seen = rendered.coverage.sum(0)
    top = int(np.argmax(np.where(np.arange(len(seen)) >= FIRST_OBJECT_ID, seen, -1)))
    if seen[top] / seen.sum() > 0.01 and scene.object_of(top).label != "building":
        assert scene.object_of(top).material.colour in caption


def test_camera_motion_words_follow_the_poses() -> None:
    forward = trajectory([(5.0, 1.5, 1.0 + 0.04 * t) for t in range(17)], [(5.0, 1.5, 9.0) for t in range(17)])
    assert camera_motion_words(forward, 0, 17, 16.0).startswith("The camera moves slowly forward")
    angles = np.radians(np.linspace(0, 40, 17))
    # world y is up and the camera looks along +z, so its right is -x (OpenCV x = forward x up)
    turning = trajectory([(5.0, 1.5, 5.0)] * 17, [(5.0 + np.sin(a), 1.5, 5.0 + np.cos(a)) for a in angles])
    assert camera_motion_words(turning, 0, 17, 16.0) == ("The camera stays almost in place and turns left by "
                                                        "about 40 degrees.")
    assert np.allclose(turning.world_to_camera[0, 0, :3], [-1, 0, 0])


@pytest.mark.parametrize("setting,lighting", [("indoor", "night"), ("outdoor", "day")])
def test_every_category_renders_sane_images(setting: str, lighting: str) -> None:
    scene, traj = build_scene(np.random.default_rng([9, 9]), setting, lighting, 33, 16.0, H, W)
    frames, rendered = render(scene, traj)
    assert np.isfinite(rendered.depth).all() and (rendered.depth > 0).all()
    brightness = frames.mean()
    assert (brightness < 90) if lighting == "night" else (brightness > 90)
    assert frames.std() > 10  # textures give structure
