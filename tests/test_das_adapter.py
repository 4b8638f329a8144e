"""The ``diffusion-as-shader`` adapter: track render -> native segment, three segments through the real runner.

Tiny random components on CPU (``baselines.das.tiny``), the tiny CogVideoX split with a
DaS-style track render per segment; resume after a kill equals an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers", reason="the longvie extra is not installed")

from cogvideox_tiny_split import GRID, make_split

from baselines.cogvideox.grid import GridMapping
from baselines.das.adapter import DiffusionAsShaderModel, track_to_native
from longvgenbench.controls import load_tracks
from longvgenbench.errors import MismatchError, OptionError, WeightsUnavailableError
from longvgenbench.records import PROTOCOL_GRID, NativeFormat, SegmentControls
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.synthetic.tracks import ClipTracks, render_tracks
from longvgenbench.video_io import LOSSLESS, read_frames, write_video

OPTIONS = {"dtype": "fp32", "steps": 2, "native_frames": 9, "native_height": 96, "native_width": 160}


def test_track_mapping_is_exact_for_known_inputs():
    """Protocol sizes: native frame j takes grid frame round(80 j / 48); nearest-neighbour keeps the colours."""
    mapping = GridMapping()
    frames = np.zeros((81, 4, 8, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(81, dtype=np.uint8)[:, None, None]
    frames[:, :, 4:, 1] = 200
    native = track_to_native(frames, mapping.native_times(81), 12, 18)
    assert native.shape == (49, 12, 18, 3)
    expected = [int(np.floor(80 * j / 48 + 0.5)) for j in range(49)]
    assert native[:, 0, 0, 0].tolist() == expected
    assert expected[:4] == [0, 2, 3, 5] and expected[-1] == 80
    assert set(np.unique(native[..., 1])) == {0, 200}  # no blended colours
    assert (native[:, :, :9, 1] == 0).all() and (native[:, :, 9:, 1] == 200).all()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from baselines.das.tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("das_weights"))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("das_split")
    split = make_split(root)
    samples = []
    for sample in split.samples:
        segments = []
        for segment in sample.segments:
            tracks = load_tracks(segment.controls.tracks)
            colours = np.stack([tracks.xy[:, 0, 0] / GRID.width * 255, tracks.xy[:, 0, 1] / GRID.height * 255,
                                np.full(len(tracks.xy), 128)], axis=1).astype(np.uint8)
            clip = ClipTracks(tracks.xy, tracks.visible, np.ones(tracks.visible.shape, np.float32), colours)
            render = write_video(root / f"{sample.video_id}_track{segment.index}.mkv",
                                 render_tracks(clip, GRID.height, GRID.width), GRID.fps, LOSSLESS)
            segments.append(replace(segment, controls=replace(segment.controls, track_video=render)))
        samples.append(replace(sample, segments=tuple(segments)))
    return replace(split, samples=tuple(samples))


class Recording(DiffusionAsShaderModel):
    def __init__(self, *args, kill_at: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kill_at, self.first_frames, self.native_last, self.tracks = kill_at, [], [], []

    def generate_native(self, segment):
        if segment.request.segment.index == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        self.first_frames.append(segment.first_frame)
        self.tracks.append(self.native_track(segment.request))
        frames = super().generate_native(segment)
        self.native_last.append(frames[-1])
        return frames


def _segments(out: Path, n: int) -> list[np.ndarray]:
    return [read_frames(RunDir(out).segment_video("vid0", k)) for k in range(n)]


def test_three_segments_end_to_end_and_resume_equals_uninterrupted(tmp_path: Path, weights: Path, split):
    model = Recording(weights=str(weights), **OPTIONS)
    summary = generate(model, split, tmp_path / "full", seed=3)
    assert summary.segments_generated == 3
    full = _segments(tmp_path / "full", 3)
    assert all(f.shape == (GRID.clip_frames, GRID.height, GRID.width, 3) for f in full)
    assert np.array_equal(model.first_frames[1], model.native_last[0])
    assert np.array_equal(model.first_frames[2], model.native_last[1])
    assert model.tracks[0].shape == (9, 96, 160, 3) and model.tracks[0].max() > 0
    # 17 grid frames -> 9 native: native frame j is grid frame 2j of the render, nearest-neighbour stretched
    render = read_frames(split.samples[0].segments[0].controls.track_video)
    for j in range(9):
        expected = np.asarray(Image.fromarray(render[2 * j]).resize((160, 96), Image.NEAREST))
        assert np.array_equal(model.tracks[0][j], expected)
    fp = model.fingerprint()
    assert '"tracking_range": "unit"' in fp["das"] and '"use_dynamic_cfg": true' in fp["sampler"]

    with pytest.raises(KeyboardInterrupt):
        generate(Recording(weights=str(weights), kill_at=2, **OPTIONS), split, tmp_path / "resumed", seed=3)
    resumed = Recording(weights=str(weights), **OPTIONS)
    summary = generate(resumed, split, tmp_path / "resumed", seed=3)
    assert summary.segments_generated == 1 and summary.segments_reused == 2
    for a, b in zip(full, _segments(tmp_path / "resumed", 3), strict=True):
        assert np.array_equal(a, b)


def test_missing_track_render_offline_and_bad_options_fail_clearly(tmp_path: Path, weights: Path, split,
                                                                    monkeypatch):
    sample = split.samples[0]
    bare = replace(sample.segments[0], controls=SegmentControls())
    from longvgenbench.records import SegmentRequest

    request = SegmentRequest(sample, bare, np.zeros((GRID.height, GRID.width, 3), np.uint8), GRID, 0)
    with pytest.raises(MismatchError, match="needs the track render"):
        DiffusionAsShaderModel(weights=str(weights), **OPTIONS).native_track(request)
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError, match="huggingface-cli download EXCAI/Diffusion-As-Shader"):
        DiffusionAsShaderModel().fingerprint()
    with pytest.raises(OptionError, match="tracking_range"):
        DiffusionAsShaderModel(tracking_range="zero-one")
    with pytest.raises(OptionError, match="offload"):
        DiffusionAsShaderModel(offload="model")
    assert DiffusionAsShaderModel().mapping.native == NativeFormat(49, 8.0, 480, 720)
    assert PROTOCOL_GRID.clip_frames == 81
