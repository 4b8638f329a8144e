"""CogVideoX native segment <-> protocol grid: exact on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.cogvideox.grid import COGVIDEOX_NATIVE, GridMapping
from longvgenbench.records import PROTOCOL_GRID, Grid, NativeFormat


def _numbered(n: int, h: int, w: int) -> np.ndarray:
    """Frame j is filled with the value 5j (distinct, blendable)."""
    return np.stack([np.full((h, w, 3), 5 * j, np.uint8) for j in range(n)])


def test_protocol_mapping_positions_are_exact() -> None:
    mapping = GridMapping()
    times = mapping.native_times(PROTOCOL_GRID.clip_frames)
    assert times[0] == 0 and times[-1] == 80 and np.allclose(np.diff(times), 80 / 48)
    lower, upper, weight = mapping.temporal_weights(81)
    # every fifth grid frame is native frame 3m, untouched
    for m in range(17):
        assert lower[5 * m] == 3 * m and weight[5 * m] == 0.0
    assert lower[1] == 0 and weight[1] == pytest.approx(0.6)
    assert lower[2] == 1 and weight[2] == pytest.approx(0.2)
    assert lower[80] == 48 and upper[80] == 48
    described = mapping.describe(PROTOCOL_GRID)
    assert described["native_segments_per_clip"] == 1
    assert described["effective_native_fps"] == pytest.approx(9.6)


def test_to_grid_linear_values() -> None:
    grid = Grid(clip_frames=81, stride=80, fps=16.0, height=4, width=6)
    native = _numbered(49, 4, 5)  # 49 frames at a 4x5 "native" size: the spatial step must not change values
    mapping = GridMapping(NativeFormat(49, 8.0, 4, 5))
    out = mapping.to_grid(native, grid)
    assert out.shape == (81, 4, 6, 3)
    expected = np.floor(5 * (np.arange(81) * 48 / 80) + 0.5)  # linear blend of 5j, rounded half up
    assert np.array_equal(out[:, 0, 0, 0], expected.astype(np.uint8))
    assert np.array_equal(out[0], np.zeros((4, 6, 3), np.uint8))
    assert np.array_equal(out[80], np.full((4, 6, 3), 240, np.uint8))  # the last native frame, the clip boundary


def test_to_grid_nearest_never_blends() -> None:
    mapping = GridMapping(NativeFormat(9, 8.0, 2, 2), temporal="nearest")
    grid = Grid(clip_frames=17, stride=16, fps=16.0, height=2, width=2)
    out = mapping.to_grid(_numbered(9, 2, 2), grid)
    # grid frame k sits at native k/2: ties go to the earlier frame
    assert list(out[:, 0, 0, 0] // 5) == [k // 2 for k in range(17)]


def test_spatial_stretch_keeps_a_column_gradient() -> None:
    mapping = GridMapping()
    frame = np.zeros((480, 832, 3), np.uint8)
    frame[:, 416:] = 200
    native = mapping.to_native_image(frame)
    assert native.shape == (480, 720, 3)
    assert native[0, 355, 0] < 30 and native[0, 364, 0] > 170  # the edge lands at 416 * 720 / 832 = 360


def test_bad_inputs_are_refused() -> None:
    mapping = GridMapping()
    with pytest.raises(ValueError, match="native frames"):
        mapping.to_grid(np.zeros((48, 480, 720, 3), np.uint8), PROTOCOL_GRID)
    with pytest.raises(ValueError, match="temporal"):
        GridMapping(COGVIDEOX_NATIVE, temporal="cubic")
