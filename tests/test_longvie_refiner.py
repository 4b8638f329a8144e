"""LongVie 2's per-clip caption refiner on a tiny random Qwen2.5-VL built and saved here (no Hub access).

Covers: the upstream instruction reaches the model with the clip's first frame; greedy refinement is
repeatable; the refined captions are what the clips are generated with, ride in the saved state and
survive a kill + resume exactly; offline, a missing model fails before any clip with the fetch command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qwen_tiny import write_tiny_qwen

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("transformers", reason="the longvie extra is not installed")
import torch

from longvgenbench.errors import OptionError, WeightsUnavailableError
from longvgenbench.records import Grid
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames
from longvie.adapter import LongVie2Model
from longvie.refiner import REFINE_PROMPT, CaptionRefiner, captions_from_state, refine_messages

GRID_KW = dict(clip_frames=9, stride=8, fps=16.0, height=32, width=48)
OPTIONS = {"dtype": "fp32", "steps": 1, "height": 32, "width": 48, "num_frames": 9}
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen-refiner"), spread_weights=True, always_answer=True)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from longvie_tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("longvie_weights_refiner"))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from core_fixtures import make_tiny_split
    from longvie_tiny import add_controls

    root = tmp_path_factory.mktemp("longvie_split_refiner")
    return add_controls(make_tiny_split(root, num_videos=1, num_segments=3, grid=Grid(**GRID_KW)), root)


def test_prompt_frame_and_greedy_repeatability(qwen_dir: Path) -> None:
    refiner = CaptionRefiner(qwen_dir, max_new_tokens=NEW_TOKENS)
    frame = np.random.default_rng(0).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    inputs = refiner.model_inputs(frame, "a car on the road")
    text = refiner.load()[1].batch_decode(inputs["input_ids"])[0]
    assert REFINE_PROMPT.format(caption="a car on the road") in text
    assert "<|vision_start|><|image_pad|>" in text and text.endswith("<|im_start|>assistant\n")
    assert inputs["image_grid_thw"].shape == (1, 3) and int(inputs["image_grid_thw"][0, 0]) == 1
    first = refiner.refine(frame, "a car on the road")
    assert first.refined and first.caption and first.caption != first.original
    assert refiner.refine(frame, "a car on the road") == first  # greedy: the same text again
    assert refiner.refine(frame, "the sky").caption != first.caption  # the caption reaches the model
    model = refiner.load()[0]
    grey = refiner.model_inputs(np.full_like(frame, 200), "a car on the road")
    with torch.inference_mode():  # the frame reaches the model (a random 1-layer model's argmax may not move)
        assert not torch.allclose(model(**inputs).logits[0, -1], model(**grey).logits[0, -1])
    assert refine_messages("x")[0]["content"][0] == {"type": "image"}


def test_bad_options_and_offline_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: Path) -> None:
    with pytest.raises(OptionError, match="caption_refiner must be one of"):
        LongVie2Model(caption_refiner="gpt")
    with pytest.raises(OptionError, match="max_new_tokens"):
        CaptionRefiner(max_new_tokens=0)
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsUnavailableError, match=r"weights fetch qwen2\.5-vl-7b-instruct:config\.json"):
        CaptionRefiner().check_available()
    # the run fails at its start (fingerprint), before clip 0 is generated
    model = LongVie2Model(weights=str(weights), caption_refiner="qwen2.5-vl", **OPTIONS)
    with pytest.raises(WeightsUnavailableError, match=r"Qwen2\.5-VL-7B-Instruct"):
        model.fingerprint()
    with pytest.raises(WeightsUnavailableError, match=r"config\.json"):
        CaptionRefiner(tmp_path / "empty").check_available()


def test_a_prompt_file_replaces_our_instruction_and_bad_ones_are_refused(tmp_path: Path, qwen_dir: Path) -> None:
    good = tmp_path / "prompt.txt"
    good.write_text("Fix this caption {{for}} the image: {caption}", encoding="utf-8")
    model = LongVie2Model(caption_refiner="qwen2.5-vl", refiner_model_dir=str(qwen_dir),
                          refiner_prompt_file=str(good))
    assert model.refiner.prompt == good.read_text(encoding="utf-8")
    frame = np.zeros((32, 48, 3), dtype=np.uint8)
    text = model.refiner.load()[1].batch_decode(model.refiner.model_inputs(frame, "a dog")["input_ids"])[0]
    assert "Fix this caption {for} the image: a dog" in text
    no_slot = tmp_path / "no_slot.txt"
    no_slot.write_text("Fix this caption.", encoding="utf-8")
    with pytest.raises(OptionError, match=r"must contain '\{caption\}'"):
        LongVie2Model(caption_refiner="qwen2.5-vl", refiner_prompt_file=str(no_slot))
    with pytest.raises(OptionError, match="cannot read the prompt file"):
        LongVie2Model(caption_refiner="qwen2.5-vl", refiner_prompt_file=str(tmp_path / "missing.txt"))
    with pytest.raises(OptionError, match="placeholder other than"):
        CaptionRefiner(prompt="{caption} in {style}")


class Killed(LongVie2Model):
    """Dies before generating segment 2 (a simulated kill between segments)."""

    def generate_segment(self, request, state):
        if request.segment.index == 2:
            raise KeyboardInterrupt("simulated kill")
        return super().generate_segment(request, state)


def _spy_captions(model: LongVie2Model) -> list[str]:
    seen: list[str] = []
    pipe = model.pipeline()
    original = pipe.generate

    def spy(inputs, noise, on_step=None):
        seen.append(inputs.caption)
        return original(inputs, noise, on_step=on_step)

    pipe.generate = spy
    return seen


def test_refined_captions_drive_clips_and_survive_resume(tmp_path: Path, weights: Path, qwen_dir: Path,
                                                         split) -> None:
    options = {**OPTIONS, "caption_refiner": "qwen2.5-vl", "refiner_model_dir": str(qwen_dir),
               "refiner_max_new_tokens": NEW_TOKENS}
    model = create_model("longvie2", weights=str(weights), **options)
    assert '"refiner": "qwen2.5-vl"' in model.fingerprint()["caption_refiner"]
    used = _spy_captions(model)
    generate(model, split, tmp_path / "full", seed=5)
    run = RunDir(tmp_path / "full")
    benchmark = [seg.caption for seg in split.samples[0].segments]
    saved = captions_from_state(run.segment_state("vid0", 2))
    assert [r.original for r in saved] == benchmark
    assert [r.caption for r in saved] == used  # the clips were generated with the recorded captions
    assert [r.refined for r in saved] == [False, True, True]
    assert saved[0].caption == benchmark[0] and saved[1].caption != benchmark[1]
    # clip k's caption was refined from clip k-1's last generated frame (grid == working size here)
    checker = CaptionRefiner(qwen_dir, max_new_tokens=NEW_TOKENS)
    for k in (1, 2):
        last = read_frames(run.segment_video("vid0", k - 1))[-1]
        assert checker.refine(last, benchmark[k]).caption == saved[k].caption

    with pytest.raises(KeyboardInterrupt):
        generate(Killed(weights=str(weights), **options), split, tmp_path / "resumed", seed=5)
    resumed = LongVie2Model(weights=str(weights), **options)
    resumed_used = _spy_captions(resumed)
    summary = generate(resumed, split, tmp_path / "resumed", seed=5)
    assert (summary.segments_generated, summary.segments_reused) == (1, 2)
    assert resumed_used == used[2:]
    again = RunDir(tmp_path / "resumed")
    assert captions_from_state(again.segment_state("vid0", 2)) == saved
    for k in range(3):
        assert np.array_equal(read_frames(run.segment_video("vid0", k)), read_frames(again.segment_video("vid0", k)))


def test_refiner_off_keeps_identity(tmp_path: Path, weights: Path) -> None:
    model = LongVie2Model(weights=str(weights), **OPTIONS)
    assert "caption_refiner" not in model.fingerprint() and model.refiner is None
    path = tmp_path / "state.npz"
    np.savez(path, history=np.zeros((0, 32, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="without a caption refiner"):
        captions_from_state(path)
