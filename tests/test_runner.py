"""The runner: segment-by-segment generation, atomic checkpoints, resume equals uninterrupted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from core_fixtures import ToyModel, make_tiny_split

from longvgenbench.errors import OutputDirError, UnknownNameError
from longvgenbench.model import conform_to_grid
from longvgenbench.records import Grid, NativeFormat
from longvgenbench.rundir import RunDir
from longvgenbench.runner import Overwrite, generate
from longvgenbench.video_io import probe, read_frames


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every generated file (segment records hold timings, so they are left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "videos").rglob("*")) if p.is_file() and p.suffix != ".json"}


def test_generate_writes_segments_and_assembled_video(tmp_path):
    split = make_tiny_split(tmp_path / "split")
    summary = generate(ToyModel(), split, tmp_path / "run")
    assert summary.segments_generated == 6 and summary.segments_reused == 0
    run = RunDir(tmp_path / "run")
    for sample in split.samples:
        assert run.finished_segments(sample.video_id, 3) == 3
        info = probe(run.assembled_video(sample.video_id))
        assert info.num_frames == sample.covered_frames == 241
        assert (info.height, info.width) == (32, 48)
        record = run.read_segment(sample.video_id, 1)
        assert record is not None and record.conform["temporal"].startswith("resampled 8.0 -> 16.0")


def test_next_segment_starts_from_last_generated_frame(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    seen = []

    class Spy(ToyModel):
        def generate_segment(self, request, state):
            seen.append(request.first_frame.copy())
            return super().generate_segment(request, state)

    generate(Spy(), split, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    for k in (1, 2):
        previous = read_frames(run.segment_video("vid0", k - 1))
        assert np.array_equal(seen[k], previous[-1])


def test_interrupted_run_resumes_to_identical_bytes(tmp_path):
    split = make_tiny_split(tmp_path / "split")
    generate(ToyModel(), split, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        generate(ToyModel(fail_at=("vid1", 1)), split, tmp_path / "resumed")
    partial = RunDir(tmp_path / "resumed")
    assert partial.finished_segments("vid0", 3) == 3 and partial.finished_segments("vid1", 3) == 1
    model = ToyModel()
    summary = generate(model, split, tmp_path / "resumed")
    assert model.calls == [("vid1", 1), ("vid1", 2)]
    assert summary.segments_reused == 4
    assert _hashes(tmp_path / "full") == _hashes(tmp_path / "resumed")


def test_corrupt_segment_is_regenerated(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    generate(ToyModel(), split, tmp_path / "run")
    before = _hashes(tmp_path / "run")
    run = RunDir(tmp_path / "run")
    run.segment_video("vid0", 2).write_bytes(b"garbage")
    model = ToyModel()
    generate(model, split, tmp_path / "run")
    assert model.calls == [("vid0", 2)]
    assert _hashes(tmp_path / "run") == before


def test_overwrite_policies(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    generate(ToyModel(), split, tmp_path / "run")
    with pytest.raises(OutputDirError, match="never"):
        generate(ToyModel(), split, tmp_path / "run", overwrite=Overwrite.NEVER)
    with pytest.raises(OutputDirError, match="different seed"):
        generate(ToyModel(), split, tmp_path / "run", seed=5)
    generate(ToyModel(), split, tmp_path / "run", seed=5, overwrite=Overwrite.ALWAYS)
    replaced = list((tmp_path / "run" / ".replaced").iterdir())
    assert len(replaced) == 1 and (replaced[0] / "videos" / "vid0" / "video.mp4").exists()


def test_unknown_video_id_suggests(tmp_path):
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    with pytest.raises(UnknownNameError, match="vid0"):
        generate(ToyModel(), split, tmp_path / "run", video_ids=["vid"])


def test_read_only_output_dir_is_a_clear_error(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    split = make_tiny_split(tmp_path / "split", num_videos=1)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    with pytest.raises(OutputDirError, match="read-only"):
        generate(ToyModel(), split, out / "run")


def test_conform_to_grid_pads_and_cuts():
    grid = Grid(clip_frames=9, stride=8, fps=16.0, height=8, width=12)
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None].repeat(8, 1).repeat(12, 2).repeat(3, 3)
    out, how = conform_to_grid(frames, NativeFormat(5, 16.0, 8, 12), grid)
    assert out.shape == (9, 8, 12, 3) and how["padded_frames"] == 4 and out[-1, 0, 0, 0] == 4
    out, how = conform_to_grid(np.repeat(frames, 2, axis=0), NativeFormat(10, 32.0, 8, 12), grid)
    assert [int(f[0, 0, 0]) for f in out[:5]] == [0, 1, 2, 3, 4]


def test_full_disk_is_a_clear_error_and_keeps_finished_segments(tmp_path, monkeypatch):
    import errno
    import tempfile

    split = make_tiny_split(tmp_path / "split", num_videos=1)
    real_mkstemp = tempfile.mkstemp
    calls = {"n": 0}

    def filling_disk(*args, **kwargs):
        if "0002" in str(kwargs.get("prefix", "")):
            raise OSError(errno.ENOSPC, "No space left on device")
        calls["n"] += 1
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", filling_disk)
    with pytest.raises(OutputDirError, match="no space left"):
        generate(ToyModel(), split, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    assert run.finished_segments("vid0", 3) == 2
    assert not [p for p in run.segment_dir("vid0").iterdir() if p.name.startswith(".")]  # no temp files left
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
    model = ToyModel()
    generate(model, split, tmp_path / "run")
    assert model.calls == [("vid0", 2)]
