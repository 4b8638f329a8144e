"""The ``videocomposer`` adapter end to end on CPU: tiny random weights in the real layout, the real runner,
three 81-frame clips at a small size, the last frame carried, and a killed run resuming exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from baselines.videocomposer.adapter import VideoComposerModel
from baselines.videocomposer.tiny import TINY_MISC_SIZE, TINY_SIZE, write_tiny_weights
from longvgenbench.errors import MismatchError
from longvgenbench.records import Category, Grid, Segment, SegmentControls, Split, VideoSample
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames, resize

H, W = 24, 40
GRID = Grid(clip_frames=81, stride=80, fps=16.0, height=H, width=W)
OPTIONS = {"dtype": "fp32", "steps": 2, "size": TINY_SIZE, "misc_size": TINY_MISC_SIZE,
           "conditions": "text,image,local_image,depth,motion"}


def build_split(root: Path, with_depth: bool = True) -> Split:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "first.png"), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    gx, gy = np.meshgrid(np.arange(2, W, 6, dtype=np.float32), np.arange(2, H, 6, dtype=np.float32))
    anchors = np.stack([gx.ravel(), gy.ravel()], 1)
    segments = []
    for index, start in enumerate(GRID.clip_starts(GRID.frames_for_clips(3))):
        tracks, depth = root / f"tracks{index}.npz", root / f"depth{index}.npy"
        steps = np.arange(81, dtype=np.float32)[None, :, None] * 0.1
        np.savez(tracks, xy=anchors[:, None] + steps, visible=np.ones((len(anchors), 81), bool))
        np.save(depth, np.tile(np.linspace(0, 1, W, dtype=np.float32), (81, H, 1)))
        segments.append(Segment(index=index, start=start, num_frames=81, caption=f"a street, clip {index}",
                                controls=SegmentControls(depth_video=depth if with_depth else None, tracks=tracks)))
    sample = VideoSample(video_id="street", split="unit", category=Category("synthetic", "outdoor", "day"),
                         fps=16.0, height=H, width=W, num_frames=GRID.frames_for_clips(3),
                         first_frame=root / "first.png", segments=tuple(segments))
    return Split(name="unit", root=root, grid=GRID, manifest_sha256="0" * 64, samples=(sample,))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("vc_weights"))


class Killed(RuntimeError):
    pass


class KilledAfter(VideoComposerModel):
    """Dies before generating clip ``kill_at`` (a killed process, as far as the run directory can tell)."""

    kill_at = 2

    def generate_segment(self, request, state):
        if request.segment.index == self.kill_at:
            raise Killed
        return super().generate_segment(request, state)


def test_three_clips_through_the_runner_and_resume(tmp_path: Path, weights: Path) -> None:
    split = build_split(tmp_path)
    model = create_model("videocomposer", weights=str(weights), **OPTIONS)
    assert model.native.num_frames == 21 and model.native.fps == 4.0
    pipe = model.pipeline()
    seen: list[np.ndarray] = []
    generate_pass = pipe.generate

    def spy(inputs, noise, on_step=None):
        seen.append(inputs.first_frame.copy())
        return generate_pass(inputs, noise, on_step)

    pipe.generate = spy
    full = tmp_path / "full"
    summary = generate(model, split, full, seed=3)
    assert summary.segments_generated == 3 and len(seen) == 6  # 2 passes per clip
    run = RunDir(full)
    clips = [read_frames(run.segment_video("street", i)) for i in range(3)]
    assert all(c.shape == (81, H, W, 3) for c in clips)
    states = [np.load(run.segment_state("street", i))["last_frame"][0] for i in range(3)]
    for k in range(3):
        # the clip's last native frame is kept, and is what the grid's last frame shows
        assert np.array_equal(resize(states[k], H, W), clips[k][-1])
    for k in (1, 2):
        assert np.array_equal(seen[2 * k], states[k - 1])  # carried into the next clip, at the native size
        assert not np.array_equal(seen[2 * k + 1], seen[2 * k])  # pass 1 starts from pass 0's last frame
    for clip in clips:  # 4 fps held on the 16 fps grid: grid frames 4j..4j+3 show one native frame
        assert all(np.array_equal(clip[4 * j], clip[4 * j + k]) for j in range(20) for k in range(1, 4))
    assert not np.array_equal(clips[0][0], clips[0][-1])

    killed = tmp_path / "killed"
    with pytest.raises(Killed):
        generate(KilledAfter(weights=str(weights), **OPTIONS), split, killed, seed=3)
    assert RunDir(killed).finished_segments("street", 3) == 2
    resumed = generate(VideoComposerModel(weights=str(weights), **OPTIONS), split, killed, seed=3)
    assert (resumed.segments_generated, resumed.segments_reused) == (1, 2)
    again = read_frames(RunDir(killed).segment_video("street", 2))
    assert np.array_equal(again, clips[2])  # resume == uninterrupted


def test_missing_depth_control_is_named(tmp_path: Path, weights: Path) -> None:
    split = build_split(tmp_path, with_depth=False)
    with pytest.raises(MismatchError, match="depth_video"):
        generate(VideoComposerModel(weights=str(weights), **OPTIONS), split, tmp_path / "run")
