"""LongVie 2 through the real runner on CPU: three segments, unified noise, history, resume == uninterrupted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("safetensors", reason="the longvie extra is not installed")
import torch

from longvgenbench.errors import MismatchError, OptionError, WeightsUnavailableError
from longvgenbench.records import Grid
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames
from longvie.adapter import LongVie2Model

# 9-frame clips (3 latent frames; the 8 history frames still fit) keep the CPU VAE affordable
GRID = Grid(clip_frames=9, stride=8, fps=16.0, height=32, width=48)
OPTIONS = {"dtype": "fp32", "steps": 2, "height": 32, "width": 48, "num_frames": 9}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from longvie_tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("longvie_weights"))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from core_fixtures import make_tiny_split
    from longvie_tiny import add_controls

    root = tmp_path_factory.mktemp("longvie_split")
    return add_controls(make_tiny_split(root, num_videos=1, num_segments=3, grid=GRID), root)


class Killed(LongVie2Model):
    """Dies before generating segment ``kill_at`` (a simulated kill between segments)."""

    kill_at = 2

    def generate_segment(self, request, state):
        if request.segment.index == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        return super().generate_segment(request, state)


def _segments(out: Path, video_id: str, n: int) -> list[np.ndarray]:
    run = RunDir(out)
    return [read_frames(run.segment_video(video_id, k)) for k in range(n)]


def test_three_segments_reuse_noise_blend_history_and_resume_exactly(tmp_path: Path, weights: Path, split):
    model = create_model("longvie2", weights=str(weights), **OPTIONS)
    starts: list[torch.Tensor] = []
    histories: list[int] = []
    pipe = model.pipeline()
    original_start = pipe.start_latents

    def spy(noise, history):
        result = original_start(noise, history)
        starts.append(result.clone())
        histories.append(0 if history is None else history.shape[2])
        return result

    pipe.start_latents = spy
    summary = generate(model, split, tmp_path / "full", seed=3)
    assert summary.segments_generated == 3
    # one seed-derived noise for every clip
    assert len(model.noise_log) == 3
    assert all(torch.equal(model.noise_log[0], n) for n in model.noise_log[1:])
    noise = model.noise_log[0]
    # clip 0 starts from the noise; later clips blend latent frame 0 with the last history latent (2 latents)
    assert histories == [0, 2, 2]
    assert torch.equal(starts[0], noise)
    for start in starts[1:]:
        assert torch.equal(start[:, :, 1:], noise[:, :, 1:])
        assert not torch.allclose(start[:, :, 0], noise[:, :, 0])
    full = _segments(tmp_path / "full", "vid0", 3)
    assert all(f.shape == (GRID.clip_frames, GRID.height, GRID.width, 3) for f in full)

    # kill between segments 1 and 2, then resume with a fresh model: exactly the same frames
    with pytest.raises(KeyboardInterrupt):
        generate(Killed(weights=str(weights), **OPTIONS), split, tmp_path / "resumed", seed=3)
    resumed_model = LongVie2Model(weights=str(weights), **OPTIONS)
    summary = generate(resumed_model, split, tmp_path / "resumed", seed=3)
    assert (summary.segments_generated, summary.segments_reused) == (1, 2)
    for a, b in zip(full, _segments(tmp_path / "resumed", "vid0", 3), strict=True):
        assert np.array_equal(a, b)
    # the resumed model generated clip 2 only, with the same noise
    assert len(resumed_model.noise_log) == 1 and torch.equal(resumed_model.noise_log[0], noise)


def test_wan_base_runs_without_controls(tmp_path: Path, weights: Path):
    from core_fixtures import make_tiny_split

    split = make_tiny_split(tmp_path / "s", num_videos=1, num_segments=1, grid=GRID)
    model = create_model("wan2.1-i2v", weights=str(weights), **OPTIONS)
    summary = generate(model, split, tmp_path / "out", seed=0)
    assert summary.segments_generated == 1


def test_missing_controls_and_bad_options_are_clear_errors(tmp_path: Path, weights: Path):
    from core_fixtures import make_tiny_split

    split = make_tiny_split(tmp_path / "s", num_videos=1, num_segments=1, grid=GRID)
    model = LongVie2Model(weights=str(weights), **OPTIONS)
    with pytest.raises(MismatchError, match="needs depth and track videos; segment 0 of 'vid0' has no depth_video"):
        generate(model, split, tmp_path / "out", seed=0)
    with pytest.raises(OptionError, match="offload must be one of"):
        LongVie2Model(offload="disk")
    with pytest.raises(OptionError, match="divide by 16"):
        LongVie2Model(height=100)
    with pytest.raises(WeightsUnavailableError, match=r"no \*\.safetensors"):
        LongVie2Model(weights=str(tmp_path / "nowhere")).fingerprint()


def test_batched_vae_encodes_equal_one_by_one_and_keep_order(weights: Path):
    """A clip's 81-frame videos go through the VAE in one batch per shape; each video's latents are its own."""
    pipe = LongVie2Model(weights=str(weights), **OPTIONS).pipeline()
    g = torch.Generator().manual_seed(0)
    videos = [torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1 for _ in range(3)]
    videos.insert(1, torch.rand(1, 3, 5, 32, 48, generator=g) * 2 - 1)  # another shape: its own call
    calls = []
    vae = pipe.components.vae
    original = vae.encode

    def counting(x, *args, **kwargs):
        calls.append(x.shape[0])
        return original(x, *args, **kwargs)

    vae.encode = counting
    assert pipe.batched_vae is False  # the default (measured slower on an H100); switched on here
    try:
        pipe.batched_vae = True
        batched = pipe.encode_videos(videos)
        pipe.batched_vae = False
        single = pipe.encode_videos(videos)
    finally:
        vae.encode, pipe.batched_vae = original, False
    assert calls == [3, 1, 1, 1, 1, 1]
    assert [tuple(b.shape) for b in batched] == [(1, 16, 3, 4, 6), (1, 16, 2, 4, 6), (1, 16, 3, 4, 6), (1, 16, 3, 4, 6)]
    for b, s in zip(batched, single, strict=True):
        torch.testing.assert_close(b, s, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(batched[0], batched[2])


@pytest.mark.parametrize("offload, expected", [("none", True), ("group", False)])
def test_fused_kernels_are_switched_on_except_with_group_offloading(weights: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   offload: str, expected: bool) -> None:
    """Group offloading onloads weights in module hooks that the fused kernels would bypass."""
    from longvie import adapter as adapter_module
    from longvie.model import LongVie2Transformer

    seen: dict[str, bool] = {}
    monkeypatch.setattr(LongVie2Transformer, "set_gelu_epilogue",
                        lambda self, on, backend: seen.update(gelu=on, gelu_backend=backend))
    monkeypatch.setattr(LongVie2Transformer, "set_fused_qk_rope", lambda self, on: seen.setdefault("qk_rope", on))
    monkeypatch.setattr(LongVie2Transformer, "set_fused_block_norms", lambda self, on: seen.setdefault("norms", on))
    monkeypatch.setattr(LongVie2Transformer, "set_cross_attention_cache",
                        lambda self, on: seen.setdefault("cross_cache", on))
    monkeypatch.setattr(LongVie2Transformer, "set_broadcast_guidance",
                        lambda self, on: seen.setdefault("broadcast", on))
    monkeypatch.setattr(adapter_module, "ClipPipeline", lambda *args, **kwargs: "built")
    assert LongVie2Model(weights=str(weights), offload=offload, **OPTIONS).pipeline() == "built"
    assert seen == {"gelu": expected, "gelu_backend": "cublaslt", "qk_rope": expected, "norms": expected,
                    "cross_cache": expected, "broadcast": expected}
