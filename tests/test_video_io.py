"""Video I/O: exact lossless round trips, deterministic bytes, frame ranges, clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from longvgenbench.errors import VideoError
from longvgenbench.video_io import (
    H264,
    LOSSLESS,
    center_crop_resize,
    probe,
    read_frames,
    resample_indices,
    write_video,
)


def _frames(n=20, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _misaligned_copy(frames: np.ndarray, offset: int) -> list[np.ndarray]:
    """The same pixel values in memory that starts ``offset`` bytes past an aligned address."""
    out = []
    for frame in frames:
        raw = np.empty(frame.nbytes + 128, np.uint8)
        start = (-raw.ctypes.data) % 64 + offset
        view = raw[start : start + frame.nbytes].reshape(frame.shape)
        view[...] = frame
        out.append(view)
    return out


def test_lossless_round_trip_is_exact(tmp_path):
    frames = _frames()
    path = write_video(tmp_path / "v.mkv", frames, 16.0, LOSSLESS)
    assert np.array_equal(read_frames(path), frames)
    assert probe(path).num_frames == 20


@pytest.mark.parametrize("encoding", [H264, LOSSLESS], ids=["h264", "lossless"])
def test_same_frames_same_bytes_whatever_the_memory_alignment(tmp_path, encoding):
    frames = _frames(n=30)
    digests = set()
    for offset in (0, 1, 3, 8, 16, 33):
        path = write_video(tmp_path / f"v{offset}{encoding.suffix}", _misaligned_copy(frames, offset), 16.0, encoding)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_frame_range_matches_full_decode(tmp_path):
    frames = _frames(n=40)
    path = write_video(tmp_path / "v.mp4", frames, 16.0, H264)
    full = read_frames(path)
    assert np.array_equal(read_frames(path, 17, 29), full[17:29])
    assert np.array_equal(read_frames(path, 0, 1), full[:1])


def test_bad_files_raise_one_clear_error(tmp_path):
    path = write_video(tmp_path / "v.mp4", _frames(n=30), 16.0, H264)
    with pytest.raises(VideoError, match="truncated"):
        read_frames(path, 0, 31)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        read_frames(tmp_path / "empty.mp4")
    with pytest.raises(VideoError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00junk" * 100)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        read_frames(tmp_path / "junk.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        read_frames(cut, 0, 30)


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "v.mp4"

    def frames():
        yield _frames(n=1)[0]
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        write_video(target, frames(), 16.0, H264)
    assert list(tmp_path.iterdir()) == []


def test_resample_indices_by_time():
    assert resample_indices(8, 8.0, 16.0).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert resample_indices(10, 25.0, 16.0).tolist() == [0, 1, 3, 4, 6, 7]
    assert resample_indices(16, 16.0, 16.0).tolist() == list(range(16))


def test_center_crop_resize_keeps_the_centre():
    frame = np.zeros((100, 300, 3), np.uint8)
    frame[:, 100:200] = 255  # a white centre square in a wide frame
    out = center_crop_resize(frame, 50, 50)
    assert out.shape == (50, 50, 3) and out.min() == 255
