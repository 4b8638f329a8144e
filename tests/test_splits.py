"""Split directories: make (deterministic, resumable), read, verify, LongVie folders, load_split."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from longvgenbench.controls import load_camera, load_depth, load_track_video, load_tracks
from longvgenbench.errors import SplitError, UnknownNameError
from longvgenbench.splits import api as split_api
from longvgenbench.splits import load_split, read_longvie_folder, read_split
from longvgenbench.synthetic.source import SYNTHETIC, SYNTHETIC_MINI, SyntheticParams, SyntheticSource
from longvgenbench.video_io import read_frames, write_video

TINY = {"num_videos": 2, "num_clips": 2, "height": 64, "width": 112, "track_grid": (10, 10)}


def _files(root: Path) -> dict[str, str]:
    return json.loads((root / "manifest.json").read_text())["files"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return SYNTHETIC.make(tmp_path_factory.mktemp("split") / "tiny", seed=0, progress=False, **TINY)


@pytest.fixture()
def tiny_copy(tiny: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny, tmp_path / "copy"))


def test_read_split_gives_absolute_records_with_loadable_controls(tiny: Path) -> None:
    split = read_split(tiny)
    assert split.name == "synthetic" and split.grid.height == 64 and split.grid.width == 112
    assert split.manifest_sha256 == hashlib.sha256((tiny / "manifest.json").read_bytes()).hexdigest()
    assert [s.video_id for s in split.samples] == ["syn000_indoor_day", "syn001_outdoor_day"]
    header = json.loads((tiny / "split.json").read_text())
    assert header["format"] == "longvgenbench-split" and header["source"]["seed"] == 0
    for sample in split.samples:
        assert sample.category.domain == "synthetic" and sample.num_frames == 161 == sample.covered_frames
        assert sample.first_frame.is_absolute() and sample.first_frame.is_file()
        assert sample.ground_truth is not None and sample.ground_truth.is_file()
        assert [(s.start, s.num_frames) for s in sample.segments] == [(0, 81), (80, 81)]
        seg = sample.segments[1]
        assert len(seg.caption) > 50
        assert load_depth(seg.controls.depth_video, expected_frames=81).shape == (81, 64, 112)
        assert load_track_video(seg.controls.track_video, expected_frames=81).shape == (81, 64, 112, 3)
        assert load_tracks(seg.controls.tracks, expected_frames=81).xy.shape == (100, 81, 2)
        assert load_camera(seg.controls.camera, expected_frames=81).world_to_camera.shape == (81, 4, 4)
    files = _files(tiny)
    assert "split.json" in files and "dataset/state.json" in files and "manifest.json" not in files


def test_same_seed_same_bytes_other_seed_other_bytes(tiny: Path, tmp_path: Path) -> None:
    again = SYNTHETIC.make(tmp_path / "again", seed=0, progress=False, **TINY)
    assert (again / "manifest.json").read_bytes() == (tiny / "manifest.json").read_bytes()
    other = SYNTHETIC.make(tmp_path / "other", seed=1, progress=False, **{**TINY, "num_videos": 1})
    a, b = _files(tiny), _files(other)
    gt = "videos/syn000_indoor_day/ground_truth.mp4"
    assert a[gt] != b[gt]


def test_changed_file_fails_verification_naming_it(tiny_copy: Path) -> None:
    target = tiny_copy / "videos/syn001_outdoor_day/clips/001/tracks.npz"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(SplitError, match=re.escape("syn001_outdoor_day/clips/001/tracks.npz")) as info:
        read_split(tiny_copy)
    assert "sha256" in str(info.value)
    read_split(tiny_copy, verify=False)  # existence-only check passes


def test_missing_file_fails_even_without_hash_checks(tiny_copy: Path) -> None:
    (tiny_copy / "videos/syn000_indoor_day/clips/000/depth.mp4").unlink()
    for verify in (True, False):
        with pytest.raises(SplitError, match=r"missing file.*syn000_indoor_day/clips/000/depth\.mp4"):
            read_split(tiny_copy, verify=verify)


def test_structure_errors_are_clear(tiny_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(tiny_copy / "dataset")
    with pytest.raises(SplitError, match="missing"):
        read_split(tiny_copy, verify=False)
    (tiny_copy / "manifest.json").unlink()
    with pytest.raises(SplitError, match="unfinished split"):
        read_split(tiny_copy)
    (tiny_copy / "split.json").write_text("{not json")
    with pytest.raises(SplitError, match=re.escape("malformed split.json")):
        read_split(tiny_copy)
    (tiny_copy / "split.json").write_text(json.dumps({"format": "longvgenbench-split", "format_version": 99}))
    with pytest.raises(SplitError, match="format_version 99"):
        read_split(tiny_copy)
    with pytest.raises(SplitError, match="no such split directory"):
        read_split(tmp_path / "nowhere")


def test_make_resumes_and_keeps_finished_videos(tiny: Path, tiny_copy: Path) -> None:
    kept = tiny_copy / "videos/syn000_indoor_day/ground_truth.mp4"
    kept_mtime = kept.stat().st_mtime_ns
    shutil.rmtree(tiny_copy / "dataset")
    (tiny_copy / "manifest.json").unlink()
    (tiny_copy / "videos/syn001_outdoor_day/video.json").unlink()  # killed while writing video 1
    (tiny_copy / "videos/syn001_outdoor_day/ground_truth.mp4").unlink()
    (tiny_copy / "videos/syn001_outdoor_day/.ground_truth.mp4.x1y2.mp4").write_bytes(b"half a file")
    SYNTHETIC.make(tiny_copy, seed=0, progress=False, **TINY)
    assert (tiny_copy / "manifest.json").read_bytes() == (tiny / "manifest.json").read_bytes()
    assert kept.stat().st_mtime_ns == kept_mtime  # video 0 was not rendered again
    assert not list(tiny_copy.rglob(".ground_truth.mp4.*"))


def test_make_refuses_foreign_or_mismatched_directories(tiny_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(SplitError, match="other parameters"):
        SYNTHETIC.make(tiny_copy, seed=1, progress=False, **TINY)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SplitError, match="not empty"):
        SYNTHETIC.make(foreign, progress=False, **TINY)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(SplitError, match="unknown parameter"):
        SYNTHETIC.make(tmp_path / "x", progress=False, colour="red")
    with pytest.raises(SplitError, match="even"):
        SYNTHETIC.make(tmp_path / "y", progress=False, height=63)


def test_source_defaults_follow_the_protocol() -> None:
    assert SYNTHETIC.params().num_frames == 960 and SYNTHETIC.params().num_videos == 10
    specs = SYNTHETIC.specs(0, SYNTHETIC.params())
    assert len(specs[0].grid.clip_starts(960)) == 11
    assert {(s.setting, s.lighting) for s in specs} == {("indoor", "day"), ("outdoor", "day"), ("outdoor", "night"),
                                                        ("indoor", "night")}
    mini = SYNTHETIC_MINI.params()
    assert (mini.num_frames, mini.height, mini.width, mini.num_videos) == (241, 240, 416, 3)


def _longvie_folder(split_root: Path, video: str, out: Path, clips: int = 2) -> Path:
    """Write a folder the way upstream's examples are laid out (paths relative to the repo root)."""
    out.mkdir(parents=True)
    base = split_root / "videos" / video
    shutil.copy(base / "first_frame.png", out / "first.png")
    cond = []
    for k in range(clips):
        shutil.copy(base / f"clips/{k:03d}/depth.mp4", out / f"depth_{k:02d}.mp4")
        shutil.copy(base / f"clips/{k:03d}/track.mp4", out / f"track_{k:02d}.mp4")
        cond.append({"text": f"clip {k} caption", "depth": f"./example/{out.name}/depth_{k:02d}.mp4",
                     "track": f"./example/{out.name}/track_{k:02d}.mp4"})
    (out / "cond.json").write_text(json.dumps(cond))
    return out


def test_longvie_folder_round_trip(tiny: Path, tmp_path: Path) -> None:
    folder = _longvie_folder(tiny, "syn000_indoor_day", tmp_path / "valley")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    split = load_split(folder)
    assert split.name == "valley" and (split.grid.height, split.grid.width) == (64, 112)
    (sample,) = split.samples
    assert sample.ground_truth is None and sample.num_frames == 161
    assert [s.caption for s in sample.segments] == ["clip 0 caption", "clip 1 caption"]
    assert [s.start for s in sample.segments] == [0, 80]
    original = read_split(tiny).samples[0]
    for mine, theirs in zip(sample.segments, original.segments, strict=True):
        assert np.array_equal(load_depth(mine.controls.depth_video), load_depth(theirs.controls.depth_video))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing written into the folder
    assert split.manifest_sha256 == read_longvie_folder(folder).manifest_sha256
    (folder / "cond.json").write_text(json.dumps([{"text": "changed", "depth": "depth_00.mp4",
                                                   "track": "track_00.mp4"}]))
    assert read_longvie_folder(folder).manifest_sha256 != split.manifest_sha256

    many = tmp_path / "many"
    _longvie_folder(tiny, "syn000_indoor_day", many / "a")
    _longvie_folder(tiny, "syn001_outdoor_day", many / "b", clips=1)
    assert [(s.video_id, len(s.segments)) for s in load_split(many).samples] == [("a", 2), ("b", 1)]


def test_longvie_folder_errors(tiny: Path, tmp_path: Path) -> None:
    folder = _longvie_folder(tiny, "syn000_indoor_day", tmp_path / "bad")
    short = read_frames(folder / "depth_01.mp4")[:40]
    write_video(folder / "depth_01.mp4", list(short), 16.0)
    with pytest.raises(SplitError, match=re.escape("depth_01.mp4: 40 frames")):
        read_longvie_folder(folder)
    np.save(folder / "depth_01.npy", np.full((81, 64, 112), np.nan, np.float32))
    cond = json.loads((folder / "cond.json").read_text())
    cond[1]["depth"] = "depth_01.npy"
    (folder / "cond.json").write_text(json.dumps(cond))
    with pytest.raises(SplitError, match="NaN"):
        read_longvie_folder(folder)
    cond[1]["depth"] = "nowhere.mp4"
    (folder / "cond.json").write_text(json.dumps(cond))
    with pytest.raises(SplitError, match=re.escape("nowhere.mp4")):
        read_longvie_folder(folder)
    cond[1]["depth"] = "depth_00.mp4"
    (folder / "cond.json").write_text(json.dumps(cond))
    write_video(folder / "track_00.mp4", [np.zeros((32, 32, 3), np.uint8)] * 81, 16.0)
    with pytest.raises(SplitError, match="size 32x32"):
        read_longvie_folder(folder)
    (folder / "first.png").unlink()
    with pytest.raises(SplitError, match="no first image"):
        read_longvie_folder(folder)


def test_load_split_by_name_materialises_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_source = SyntheticSource(name="tiny", description="test", defaults=SyntheticParams(**{**TINY,
                                                                                              "num_videos": 1}))
    monkeypatch.setattr(split_api, "load", lambda group, name: tiny_source)
    split = load_split("tiny", cache=tmp_path)
    root = tmp_path / "splits" / f"tiny-seed0-v{tiny_source.version}"
    assert split.root == root.resolve() and len(split.samples) == 1
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert load_split("tiny", cache=tmp_path).manifest_sha256 == split.manifest_sha256
    assert (root / "manifest.json").stat().st_mtime_ns == stamp


def test_load_split_unknown_names_and_paths(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="synthetic-mini"):
        load_split("synthetic-mni", cache=tmp_path)
    with pytest.raises(SplitError, match="no such directory"):
        load_split(tmp_path / "absent")
    with pytest.raises(SplitError, match="neither a split directory"):
        load_split(tmp_path)


@pytest.mark.slow
def test_registered_synthetic_mini_loads(tmp_path: Path) -> None:
    split = load_split("synthetic-mini", cache=tmp_path)
    assert len(split.samples) == 3 and all(len(s.segments) == 3 for s in split.samples)
    assert (split.grid.height, split.grid.width) == (240, 416)
