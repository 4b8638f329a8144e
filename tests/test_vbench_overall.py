"""overall_consistency: VBench's frame sampling, uint8 transform, tokenisation; ViCLIP from the official layout.

The model is a tiny random ViCLIP saved as ``{"model": state_dict}`` with the official tensor names
(the real ViCLIP-L/14 is too slow for the default CPU run); its sizes are inferred from the file, so
the same code loads the real checkpoint. Agreement with VBench itself is in
``tests/parity/test_parity_motion.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from evaluators.feed import clip_views, in_memory_sample, score_video
from evaluators.vbench.catalog_motion import VICLIP_L14
from evaluators.vbench.overall import OverallConsistencyEvaluator, middle_frame_indices, viclip_preprocess
from evaluators.vbench.viclip.checkpoint import load_viclip
from evaluators.vbench.viclip.model import ViCLIP, ViCLIPConfig
from evaluators.vbench.viclip.tokenizer import ViCLIPTokenizer
from longvgenbench.errors import OptionError, SplitError, WeightsUnavailableError
from longvgenbench.evaluation.api import ClipView, Need
from longvgenbench.records import Grid

TINY = ViCLIPConfig(vision_width=64, vision_layers=1, text_width=64, text_layers=1, embed_dim=32)
SMALL_GRID = Grid(fps=16, clip_frames=17, stride=16, height=48, width=80)


def random_state(config: ViCLIPConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A ViCLIP state dict with every tensor random (LayerNorm scales near 1), so nothing is trivially zero."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in ViCLIP(config).state_dict().items():
        noise = torch.randn(tensor.shape, generator=generator)
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
            state[key] = 1.0 + 0.1 * noise
        else:
            state[key] = noise * (0.05 if tensor.ndim < 2 else tensor.shape[-1] ** -0.5)
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("viclip") / "ViClip-InternVid-10M-FLT.pth"
    torch.save({"model": random_state(TINY)}, path)
    return path


@pytest.fixture(scope="module")
def evaluator(checkpoint) -> OverallConsistencyEvaluator:
    return OverallConsistencyEvaluator(precision="fp32", viclip_checkpoint=str(checkpoint), batch_size=3)


def textured_video(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


def captioned_clips(frames: np.ndarray, captions: list[str], grid: Grid = SMALL_GRID) -> list[ClipView]:
    sample = in_memory_sample("vid", frames.shape[0], frames.shape[1], frames.shape[2], grid)
    segments = tuple(replace(s, caption=c) for s, c in zip(sample.segments, captions, strict=True))
    return list(clip_views(replace(sample, segments=segments), frames))


# --- VBench's rules ---------------------------------------------------------------------------


def test_middle_frame_indices_follow_vbench() -> None:
    # linspace(0, 81, 9).astype(int) = 0 10 20 30 40 50 60 70 81; middles (a + b - 1) // 2
    assert middle_frame_indices(81) == [4, 14, 24, 34, 44, 54, 64, 75]
    assert middle_frame_indices(16) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert middle_frame_indices(4) == [0, 1, 2, 3, 3, 3, 3, 3]  # short clips: padded with the last index
    assert middle_frame_indices(1) == [0] * 8
    with pytest.raises(ValueError):
        middle_frame_indices(0)


@pytest.mark.parametrize(("height", "width"), [(48, 80), (120, 80), (480, 832), (224, 224), (224, 300), (250, 338)])
def test_preprocess_equals_vbench_clip_transform_on_uint8(height: int, width: int) -> None:
    """VBench applies clip_transform to uint8 frames: torchvision rounds the resized image back to uint8."""
    frames = torch.from_numpy(textured_video(3, height, width, seed=height + width)).permute(0, 3, 1, 2)
    vbench = transforms.Compose([
        transforms.Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
        transforms.CenterCrop(224),
        transforms.Lambda(lambda x: x.float().div(255.0)),
        transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])
    expected = vbench(frames)
    ours = viclip_preprocess(frames.float())
    assert ours.shape == expected.shape == (3, 3, 224, 224)
    assert torch.allclose(ours, expected, atol=1e-6, rtol=0)


def test_tokenizer_matches_vbench_ids() -> None:
    """Ids produced by VBench 0.1.5's ViCLIP tokenizer (CLIP_TEXT.tokenize, context 32) for the same strings."""
    tokenizer = ViCLIPTokenizer()
    tokens = tokenizer(["tiny video", "Bright   squares JUMP\tacross the frame &amp; the background"])
    assert tokens.shape == (2, 32) and tokens.dtype == torch.long
    assert tokens[0, :5].tolist() == [49406, 5591, 1455, 49407, 0]
    assert tokens[1, :8].tolist() == [49406, 4852, 26972, 6423, 2500, 518, 6481, 261]  # lower case, &amp; -> &
    long = tokenizer(["word " * 100])[0]
    assert long[0] == 49406 and long[-1] == 49407 and (long[1:-1] != 0).all()  # cut at 32, last token EOT
    assert tokenizer(["a <|endoftext|> b"])[0, :5].tolist() == [49406, 320, 49407, 321, 49407]


# --- loading the official layout ----------------------------------------------------------------


def test_state_dict_names_are_the_official_ones() -> None:
    names = set(ViCLIP(ViCLIPConfig(vision_layers=1, text_layers=1)).state_dict())
    block = ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
             "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
             "ln_2.weight", "ln_2.bias"]
    vision = ["class_embedding", "positional_embedding", "temporal_positional_embedding", "conv1.weight",
              "ln_pre.weight", "ln_pre.bias", "ln_post.weight", "ln_post.bias", "proj"]
    text = ["token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection"]
    expected = {"temp"} | {f"vision_encoder.{n}" for n in vision} | {f"text_encoder.{n}" for n in text}
    expected |= {f"{tower}.transformer.resblocks.0.{n}" for tower in ("vision_encoder", "text_encoder") for n in block}
    assert names == expected


def test_default_config_is_viclip_l14() -> None:
    state = ViCLIP(ViCLIPConfig(vision_layers=2, text_layers=2)).state_dict()
    assert state["vision_encoder.conv1.weight"].shape == (1024, 3, 1, 14, 14)
    assert state["vision_encoder.positional_embedding"].shape == (257, 1024)
    assert state["vision_encoder.temporal_positional_embedding"].shape == (1, 8, 1024)
    assert state["vision_encoder.proj"].shape == (1024, 768)
    assert state["text_encoder.positional_embedding"].shape == (32, 768)
    assert state["text_encoder.token_embedding.weight"].shape == (49408, 768)
    assert ViCLIPConfig.from_state_dict(state) == ViCLIPConfig(vision_layers=2, text_layers=2)


def test_tiny_checkpoint_loads_with_inferred_sizes(checkpoint) -> None:
    model = load_viclip(checkpoint)
    assert model.config == TINY
    saved = torch.load(checkpoint, weights_only=True)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


@pytest.mark.parametrize("change", ["missing", "unexpected", "not_viclip"])
def test_foreign_checkpoints_are_refused_by_name(tmp_path, change: str) -> None:
    state = random_state(TINY)
    if change == "missing":
        del state["text_encoder.ln_final.bias"]
    elif change == "unexpected":
        state["vision_encoder.extra.weight"] = torch.zeros(1)
    else:
        state = {"weight": torch.zeros(3)}
    path = tmp_path / "bad.pth"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsUnavailableError) as info:
        load_viclip(path)
    assert str(path) in str(info.value)
    if change != "not_viclip":
        assert ("ln_final.bias" if change == "missing" else "extra.weight") in str(info.value)


def test_truncated_file_is_a_clear_error(tmp_path, checkpoint) -> None:
    path = tmp_path / "ViClip-InternVid-10M-FLT.pth"
    path.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(WeightsUnavailableError, match="cannot be read"):
        OverallConsistencyEvaluator(precision="fp32", viclip_checkpoint=str(path)).model()


def test_offline_without_weights_says_what_and_where(tmp_path, monkeypatch) -> None:
    for var, sub in (("LONGVGENBENCH_CACHE", "ours"), ("VBENCH_CACHE_DIR", "vbench"), ("TORCH_HOME", "torch"),
                     ("HF_HUB_CACHE", "hf")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    with pytest.raises(WeightsUnavailableError) as info:
        OverallConsistencyEvaluator().check_available()
    message = str(info.value)
    assert "ViClip-InternVid-10M-FLT.pth" in message
    assert f"longvgenbench weights fetch {VICLIP_L14.key}" in message
    assert str(tmp_path / "vbench" / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth") in message


def test_found_in_a_vbench_cache(tmp_path, monkeypatch, checkpoint) -> None:
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "ours"))
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))
    target = tmp_path / "vbench" / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(checkpoint.read_bytes())
    evaluator = OverallConsistencyEvaluator(precision="fp32")
    evaluator.check_available()
    assert evaluator.weight_paths()[VICLIP_L14.key] == target


# --- scoring ------------------------------------------------------------------------------------


def test_scores_are_cosines_and_batched_equals_single(evaluator) -> None:
    frames = textured_video(49, 48, 80, seed=1)
    clips = captioned_clips(frames, ["a red car", "a blue boat on the sea", "a red car"])
    batched = evaluator.score_clips(clips)
    single = [evaluator.score_clip(c)["overall_consistency"] for c in clips]
    assert np.allclose(batched, single, atol=1e-6)
    assert all(-1.0 <= s <= 1.0 for s in batched)
    assert len({round(s, 6) for s in batched}) == 3  # different clips and captions give different numbers


def test_the_engines_shared_device_copy_is_what_it_reads(evaluator) -> None:
    frames = textured_video(17, 48, 80, seed=2)
    clip = captioned_clips(frames, ["a red car"])[0]
    plain = evaluator.score_clip(clip)["overall_consistency"]
    assert evaluator.score_clip(replace(clip, device_frames=torch.from_numpy(clip.frames.copy()))) == {
        "overall_consistency": plain}
    other = torch.from_numpy(textured_video(17, 48, 80, seed=3)[: clip.frames.shape[0]].copy())
    assert evaluator.score_clip(replace(clip, device_frames=other))["overall_consistency"] != plain


def test_score_is_the_cosine_of_the_two_towers(evaluator, checkpoint) -> None:
    """Recompute one clip by hand from the towers: 8 middle frames, transform, normalised dot product."""
    frames = textured_video(17, 48, 80, seed=2)
    (clip,) = captioned_clips(frames, ["waves on a beach"])
    model = load_viclip(checkpoint)
    pixels = viclip_preprocess(torch.from_numpy(frames[middle_frame_indices(17)]).permute(0, 3, 1, 2).float())
    with torch.no_grad():
        video = model.encode_video(pixels[None])[0]
        text = model.encode_text(ViCLIPTokenizer()(["waves on a beach"]))[0]
    expected = float(torch.dot(video / video.norm(), text / text.norm()))
    assert evaluator.score_clip(clip)["overall_consistency"] == pytest.approx(expected, abs=1e-6)


def test_frame_order_matters_through_the_temporal_embedding(evaluator) -> None:
    frames = textured_video(17, 48, 80, seed=3)
    (forward,) = captioned_clips(frames, ["a dog runs"])
    (backward,) = captioned_clips(np.ascontiguousarray(frames[::-1]), ["a dog runs"])
    assert abs(evaluator.score_clip(forward)["overall_consistency"]
               - evaluator.score_clip(backward)["overall_consistency"]) > 1e-5


def test_only_the_sampled_frames_matter(evaluator) -> None:
    frames = textured_video(17, 48, 80, seed=4)
    changed = frames.copy()
    changed[1] = 0  # 17 frames -> middles 0, 2, 4, 6, 8, 10, 12, 15: frame 1 is not used
    assert 1 not in middle_frame_indices(17)
    (a,) = captioned_clips(frames, ["x"])
    (b,) = captioned_clips(changed, ["x"])
    assert evaluator.score_clip(a) == evaluator.score_clip(b)
    changed[middle_frame_indices(17)[3]] = 0
    (c,) = captioned_clips(changed, ["x"])
    assert evaluator.score_clip(a) != evaluator.score_clip(c)


def test_missing_caption_is_a_clear_error(evaluator) -> None:
    frames = textured_video(17, 48, 80, seed=5)
    with pytest.raises(SplitError, match="video clip 0 has no caption"):
        score_video(evaluator, frames, grid=SMALL_GRID)


def test_metadata(evaluator, checkpoint) -> None:
    assert evaluator.needs == frozenset({Need.CAPTION})
    hashes = evaluator.weight_hashes()
    assert set(hashes) == {"ViClip-InternVid-10M-FLT.pth", "bpe_simple_vocab_16e6.txt.gz"}
    assert all(len(v) == 64 for v in hashes.values())
    protocol = evaluator.protocol()
    assert protocol["precision"] == "fp32" and "caption" in protocol["prompt"] and "middle" in protocol["frames"]
    with pytest.raises(OptionError):
        OverallConsistencyEvaluator(precision="fp16")  # half precision needs CUDA


def test_registered_as_entry_point(checkpoint) -> None:
    from longvgenbench.registry import create_evaluator

    made = create_evaluator("overall_consistency", precision="fp32", viclip_checkpoint=str(checkpoint))
    assert isinstance(made, OverallConsistencyEvaluator)
