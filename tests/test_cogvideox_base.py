"""The shared CogVideoX-5B-I2V base model through the real runner on CPU (tiny random weights).

Three segments; the last native frame is carried into the next segment; a run killed between
segments and resumed by a fresh model gives exactly the frames of an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")

from cogvideox_tiny_split import GRID, make_split

from baselines.cogvideox.base import CogVideoXI2VModel, segment_seed
from longvgenbench.errors import OptionError, WeightsUnavailableError
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames

NATIVE = {"native_frames": 9, "native_height": 32, "native_width": 48}
OPTIONS = {"dtype": "fp32", "steps": 2, **NATIVE}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from baselines.cogvideox.tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("cogvideox_weights"), 9, 32, 48)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("cogvideox_split"))


class Recording(CogVideoXI2VModel):
    """Keeps the first frame every segment started from."""

    def __init__(self, *args, kill_at: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at
        self.first_frames: list[np.ndarray] = []
        self.native_last: list[np.ndarray] = []

    def generate_native(self, segment):
        if segment.request.segment.index == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        self.first_frames.append(segment.first_frame)
        frames = super().generate_native(segment)
        self.native_last.append(frames[-1])
        return frames


def _segments(out: Path, n: int) -> list[np.ndarray]:
    run = RunDir(out)
    return [read_frames(run.segment_video("vid0", k)) for k in range(n)]


def test_three_segments_carry_the_last_native_frame_and_resume_exactly(tmp_path: Path, weights: Path, split) -> None:
    model = Recording(weights=str(weights), **OPTIONS)
    summary = generate(model, split, tmp_path / "full", seed=5)
    assert summary.segments_generated == 3
    full = _segments(tmp_path / "full", 3)
    for frames in full:
        assert frames.shape == (GRID.clip_frames, GRID.height, GRID.width, 3)
    # segment k > 0 starts from segment k-1's last native frame, bit for bit
    assert np.array_equal(model.first_frames[1], model.native_last[0])
    assert np.array_equal(model.first_frames[2], model.native_last[1])
    # the grid clip's last frame is the last native frame stretched to the grid (the clip boundary)
    from longvgenbench.video_io import resize

    assert np.array_equal(full[0][-1], resize(model.native_last[0], GRID.height, GRID.width))
    # segments differ (the noise is per segment)
    assert not np.array_equal(full[1], full[2])

    with pytest.raises(KeyboardInterrupt):
        generate(Recording(weights=str(weights), kill_at=2, **OPTIONS), split, tmp_path / "resumed", seed=5)
    resumed = Recording(weights=str(weights), **OPTIONS)
    summary = generate(resumed, split, tmp_path / "resumed", seed=5)
    assert summary.segments_generated == 1 and summary.segments_reused == 2
    assert np.array_equal(resumed.first_frames[0], model.first_frames[2])
    for a, b in zip(full, _segments(tmp_path / "resumed", 3), strict=True):
        assert np.array_equal(a, b)


def test_fingerprint_records_the_mapping_and_options(weights: Path) -> None:
    model = CogVideoXI2VModel(weights=str(weights), **OPTIONS)
    fp = model.fingerprint()
    assert '"native_segments_per_clip": 1' in fp["grid_mapping"] and '"steps": 2' in fp["sampler"]
    assert segment_seed(3, 1) != segment_seed(3, 2) and segment_seed(3, 1) == segment_seed(3, 1)


def test_offline_and_bad_options_fail_clearly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError, match="huggingface-cli download THUDM/CogVideoX-5b-I2V"):
        CogVideoXI2VModel().fingerprint()
    with pytest.raises(OptionError, match="4k\\+1"):
        CogVideoXI2VModel(native_frames=48)
    with pytest.raises(OptionError, match="dtype"):
        CogVideoXI2VModel(dtype="int8")
