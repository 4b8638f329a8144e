"""``go-with-the-flow`` through the registry and the real runner on CPU (tiny random CogVideoX + LoRA).

Three segments; resume after a kill between segments == uninterrupted; the LoRA is loaded
(header-checked) and changes the frames; the motion source is recorded in the fingerprint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("peft", reason="the cogvideox extra (peft) is not installed")
import torch
from cogvideox_tiny_split import GRID, make_split
from gwtf_tiny import TINY_RANK, write_tiny_lora

from baselines.cogvideox.loading import load_components
from baselines.gwtf.adapter import GoWithTheFlowModel
from baselines.gwtf.lora import LoraCheckError
from longvgenbench.errors import ControlError, OptionError, WeightsUnavailableError
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    from baselines.cogvideox.tiny import write_tiny_folder

    root = tmp_path_factory.mktemp("gwtf_weights")
    return write_tiny_folder(root / "base", 9, 32, 48), write_tiny_lora(root / "lora.safetensors")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("gwtf_split"))


def _options(files: tuple[Path, Path], **more) -> dict:
    return {"weights": str(files[0]), "lora_path": str(files[1]), "lora_rank": TINY_RANK, "dtype": "fp32",
            "steps": 2, "native_frames": 9, "native_height": 32, "native_width": 48, **more}


class Killed(GoWithTheFlowModel):
    def generate_native(self, segment):
        if segment.request.segment.index == 2:
            raise KeyboardInterrupt("simulated kill")
        return super().generate_native(segment)


def _segments(out: Path) -> list[np.ndarray]:
    run = RunDir(out)
    return [read_frames(run.segment_video("vid0", k)) for k in range(3)]


def test_three_segments_through_the_registry_and_resume_exactly(tmp_path: Path, files, split) -> None:
    model = create_model("go-with-the-flow", **_options(files))
    assert isinstance(model, GoWithTheFlowModel)
    generate(model, split, tmp_path / "full", seed=1)
    full = _segments(tmp_path / "full")
    assert all(f.shape == (GRID.clip_frames, GRID.height, GRID.width, 3) for f in full)
    assert len(model.noise_log) == 3 and model.noise_log[0].shape == (1, 3, 16, 4, 6)
    # the LoRA went in through diffusers' PEFT path
    assert any("lora_A" in name for name, _ in model.pipeline().transformer.named_parameters())

    with pytest.raises(KeyboardInterrupt):
        generate(Killed(**_options(files)), split, tmp_path / "resumed", seed=1)
    resumed = GoWithTheFlowModel(**_options(files))
    summary = generate(resumed, split, tmp_path / "resumed", seed=1)
    assert summary.segments_generated == 1
    assert torch.equal(resumed.noise_log[0], model.noise_log[2])
    for a, b in zip(full, _segments(tmp_path / "resumed"), strict=True):
        assert np.array_equal(a, b)


def test_lora_and_motion_change_the_result_and_are_recorded(tmp_path: Path, files, split) -> None:
    base = GoWithTheFlowModel(**_options(files))
    no_motion = GoWithTheFlowModel(**_options(files, motion="dis"))
    assert '"motion": "tracks"' in base.fingerprint()["noise"]
    assert '"motion": "dis"' in no_motion.fingerprint()["noise"]
    from longvgenbench.records import SegmentRequest

    sample = split.samples[0]
    first = np.zeros((GRID.height, GRID.width, 3), np.uint8)
    # segment 1: the flow estimator reads the ground truth from frame 16 on
    request = SegmentRequest(sample=sample, segment=sample.segments[1], first_frame=first, grid=GRID, seed=3)
    state = base.initial_state(sample)
    tracks_noise = base.initial_latents(base.native_segment(request, state))
    dis_noise = no_motion.initial_latents(no_motion.native_segment(request, state))
    assert tracks_noise.shape == dis_noise.shape and not torch.equal(tracks_noise, dis_noise)
    assert abs(tracks_noise.std().item() - 1.0) < 0.2

    with_lora = base.generate_native(base.native_segment(request, state))
    plain = GoWithTheFlowModel(**_options(files))
    plain._pipeline = plain.make_pipeline(load_components(files[0], torch.float32))  # the same base, no LoRA
    plain._pipeline.set_progress_bar_config(disable=True)
    assert not np.array_equal(with_lora, plain.generate_native(plain.native_segment(request, state)))


def test_wrong_lora_missing_controls_and_offline_fail_clearly(tmp_path: Path, files, split, monkeypatch) -> None:
    bad = write_tiny_lora(tmp_path / "rank8.safetensors", rank=8)
    with pytest.raises(LoraCheckError, match="mis-shaped"):
        GoWithTheFlowModel(**_options(files, lora_path=str(bad))).pipeline()
    from dataclasses import replace

    from longvgenbench.records import SegmentControls, SegmentRequest

    sample = split.samples[0]
    bare = replace(sample.segments[0], controls=SegmentControls())
    request = SegmentRequest(sample=sample, segment=bare, first_frame=np.zeros((32, 56, 3), np.uint8), grid=GRID,
                             seed=0)
    model = GoWithTheFlowModel(**_options(files))
    with pytest.raises(ControlError, match="needs the tracks control"):
        model.initial_latents(model.native_segment(request, model.initial_state(sample)))
    with pytest.raises(OptionError, match="motion"):
        GoWithTheFlowModel(motion="sift")
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf"))
    with pytest.raises(WeightsUnavailableError, match="weights fetch gwtf-I2V5B_final_i38800_nearest"):
        GoWithTheFlowModel(weights=str(files[0])).fingerprint()
