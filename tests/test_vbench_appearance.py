"""Subject / background consistency and aesthetic quality: preprocessing, known values, weights, options.

Models are tiny random CLIPs written in the official OpenAI format by the parity harness's stager
(and, in two places, the real-size random DINO ViT-B/16 on a couple of 32x32 frames).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms
from torchvision.transforms import InterpolationMode

sys.path.insert(0, str(Path(__file__).resolve().parent / "parity"))

import stage_weights

from evaluators.feed import score_video
from evaluators.vbench import common
from evaluators.vbench.aesthetic import AestheticQualityEvaluator
from evaluators.vbench.background import BackgroundConsistencyEvaluator
from evaluators.vbench.subject import SubjectConsistencyEvaluator
from longvgenbench.errors import OptionError, WeightsUnavailableError
from longvgenbench.provenance import sha256_file
from longvgenbench.records import Grid


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("weights")
    stage_weights.stage(out, "tiny", ["background_consistency", "aesthetic_quality"])
    vb = out / stage_weights.VBENCH_DIR
    return {"b32": vb / "clip_model" / "ViT-B-32.pt", "l14": vb / "clip_model" / "ViT-L-14.pt",
            "head": vb / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth"}


@pytest.fixture(scope="module")
def dino_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dino") / "dino_vitbase16_pretrain.pth"
    torch.save(stage_weights.dino_state_dict(), path)
    return path


def one_clip_grid(frames: np.ndarray) -> Grid:
    return Grid(clip_frames=len(frames), stride=max(1, len(frames) - 1), height=frames.shape[1], width=frames.shape[2])


def rand_frames(seed: int, count: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


# --- preprocessing equals VBench's torchvision transforms (vbench/utils.py) -------------------------------


def vbench_clip_transform() -> transforms.Compose:
    return transforms.Compose([
        transforms.Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False), transforms.CenterCrop(224),
        transforms.Lambda(lambda x: x.float().div(255.0)), transforms.Normalize(common.CLIP_MEAN, common.CLIP_STD),
    ])


def vbench_dino_transform() -> transforms.Compose:
    return transforms.Compose([
        transforms.Resize(size=224, antialias=False), transforms.Lambda(lambda x: x.float().div(255.0)),
        transforms.Normalize(common.IMAGENET_MEAN, common.IMAGENET_STD),
    ])


@pytest.mark.parametrize(("height", "width"), [(40, 56), (57, 33), (480, 832), (225, 301), (224, 224)])
def test_preprocessing_equals_vbench_transforms(height: int, width: int) -> None:
    frames = rand_frames(height * width, 2, height, width)
    as_vbench_loads = torch.Tensor(frames).permute(0, 3, 1, 2)  # VBench's load_video: float tensor of uint8 values
    ours = common.to_device_float(frames, "cpu")
    torch.testing.assert_close(common.clip_preprocess(ours), vbench_clip_transform()(as_vbench_loads),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(common.dino_preprocess(ours), vbench_dino_transform()(as_vbench_loads),
                               rtol=0, atol=1e-5)


def test_shorter_side_size_truncates_like_torchvision() -> None:
    assert common.shorter_side_size(480, 832, 224) == (224, 388)  # 388.27 -> 388
    assert common.shorter_side_size(832, 480, 224) == (388, 224)
    assert common.shorter_side_size(40, 56, 224) == (224, 313)  # 313.6 -> 313, not rounded


# --- the consistency formula ------------------------------------------------------------------------------


def test_consistency_terms_known_values() -> None:
    same = torch.ones(5, 8)
    assert torch.allclose(common.consistency_terms(same), torch.ones(4))
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    alternating = torch.stack([a, b, a, b])
    # i=1: prev cos(a,b)=0, first 0 -> 0; i=2: prev 0, first 1 -> 0.5; i=3: prev 0, first 0 -> 0
    assert common.consistency_terms(alternating).tolist() == [0.0, 0.5, 0.0]
    opposite = torch.stack([a, -a])  # negative cosines are clamped to 0
    assert common.consistency_terms(opposite).tolist() == [0.0]


def test_consistency_terms_continue_across_parts() -> None:
    feats = torch.randn(9, 16, generator=torch.Generator().manual_seed(0))
    whole = common.consistency_terms(feats)
    tail = common.consistency_terms(feats[5:], first=feats[0], previous=feats[4])
    torch.testing.assert_close(torch.cat([common.consistency_terms(feats[:5]), tail]), whole)


# --- evaluators on tiny random weights --------------------------------------------------------------------


def test_identical_frames_score_one_and_alternating_scores_lower(tiny_clip: dict[str, Path]) -> None:
    evaluator = BackgroundConsistencyEvaluator(clip_checkpoint=str(tiny_clip["b32"]))
    still = np.repeat(rand_frames(1, 1, 48, 64), 6, axis=0)
    assert score_video(evaluator, still, grid=one_clip_grid(still)).clips[0]["background_consistency"] == \
        pytest.approx(1.0, abs=1e-6)
    two = rand_frames(2, 2, 48, 64)
    alternating = np.stack([two[t % 2] for t in range(6)])
    value = score_video(evaluator, alternating, grid=one_clip_grid(alternating)).clips[0]["background_consistency"]
    assert value < 0.999


def test_dino_position_table_is_never_stored_by_a_compiled_graph(dino_path: Path) -> None:
    """Compiled, the interpolated position table is computed inside the one graph and not cached (a graph's
    output kept in a dict would be overwritten by the next CUDA-graph replay); eager calls cache it."""
    from evaluators.vbench.models import load_dino

    model = load_dino(dino_path, "cpu")
    pixels = torch.randn(2, 3, 224, 320)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(model, backend=backend, dynamic=False)
    with torch.no_grad():
        outputs = [compiled(pixels) for _ in range(2)]
        assert model._pos_cache == {}
        expected = model(pixels)
    assert len(model._pos_cache) == 1
    assert len(graphs) == 1
    assert all(torch.equal(out, expected) for out in outputs)


def test_subject_consistency_identical_frames_score_one(dino_path: Path) -> None:
    evaluator = SubjectConsistencyEvaluator(dino_checkpoint=str(dino_path))
    still = np.repeat(rand_frames(3, 1, 32, 32), 2, axis=0)
    assert score_video(evaluator, still, grid=one_clip_grid(still)).clips[0]["subject_consistency"] == \
        pytest.approx(1.0, abs=1e-6)
    assert evaluator.weight_hashes() == {"dino_vitbase16_pretrain.pth": sha256_file(dino_path)}


def test_whole_video_mode_is_vbench_on_the_whole_file(tiny_clip: dict[str, Path]) -> None:
    frames = rand_frames(4, 9, 40, 40)
    grid = Grid(clip_frames=5, stride=4, height=40, width=40)  # two clips sharing frame 4
    whole = BackgroundConsistencyEvaluator(averaging="vbench_whole_video", clip_checkpoint=str(tiny_clip["b32"]))
    per_clip = BackgroundConsistencyEvaluator(clip_checkpoint=str(tiny_clip["b32"]))
    scores = score_video(whole, frames, grid=grid)
    assert scores.clips == ({}, {})
    reference = score_video(per_clip, frames, grid=one_clip_grid(frames)).clips[0]["background_consistency"]
    assert scores.video["background_consistency_whole_video"] == pytest.approx(reference, abs=1e-6)
    clip_scores = score_video(per_clip, frames, grid=grid).clips
    assert len(clip_scores) == 2 and all("background_consistency" in c for c in clip_scores)


def test_aesthetic_is_head_over_ten_averaged(tiny_clip: dict[str, Path]) -> None:
    evaluator = AestheticQualityEvaluator(clip_checkpoint=str(tiny_clip["l14"]), head_checkpoint=str(tiny_clip["head"]))
    frames = rand_frames(5, 3, 30, 50)
    value = score_video(evaluator, frames, grid=one_clip_grid(frames)).clips[0]["aesthetic_quality"]
    model = evaluator.model()
    singles = []
    for frame in frames:  # one frame at a time, VBench's way: same number
        emb = model.visual(common.clip_preprocess(common.to_device_float(frame[None], "cpu")))
        singles.append(float(model.head(torch.nn.functional.normalize(emb, dim=-1)).squeeze()) / 10)
    assert value == pytest.approx(float(np.mean(singles)), abs=1e-6)
    hashes = evaluator.weight_hashes()
    assert set(hashes) == {"ViT-L-14.pt", "sa_0_4_vit_l_14_linear.pth"}
    assert hashes["ViT-L-14.pt"] == sha256_file(tiny_clip["l14"])


# --- weights missing, options -----------------------------------------------------------------------------


@pytest.fixture()
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LONGVGENBENCH_CACHE", "VBENCH_CACHE_DIR", "TORCH_HOME", "HF_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


@pytest.mark.parametrize(("make", "filename", "key"), [
    (SubjectConsistencyEvaluator, "dino_vitbase16_pretrain.pth", "dino_vitb16"),
    (BackgroundConsistencyEvaluator, "ViT-B-32.pt", "clip_vit_b32_openai"),
    (AestheticQualityEvaluator, "ViT-L-14.pt", "clip_vit_l14_openai"),
])
def test_unavailable_without_weights_names_file_and_command(empty_caches: None, make, filename: str, key: str) -> None:
    evaluator = make()
    with pytest.raises(WeightsUnavailableError) as info:
        evaluator.check_available()
    message = str(info.value)
    assert filename in message and f"longvgenbench weights fetch {key}" in message


def test_wrong_file_is_refused_by_name(empty_caches: None, tmp_path: Path) -> None:
    bogus = tmp_path / "vbench_cache_file"
    bogus.write_bytes(b"not a checkpoint")
    evaluator = BackgroundConsistencyEvaluator(clip_checkpoint=str(bogus))
    with pytest.raises(WeightsUnavailableError, match="vbench_cache_file"):
        evaluator.model()


def test_bad_options_are_option_errors() -> None:
    with pytest.raises(OptionError, match="averaging"):
        SubjectConsistencyEvaluator(averaging="per_frame")
    with pytest.raises(OptionError, match="CUDA"):
        BackgroundConsistencyEvaluator(precision="fp16")
    with pytest.raises(OptionError, match="batch_size"):
        AestheticQualityEvaluator(batch_size=0)


def test_protocol_records_the_choices(tiny_clip: dict[str, Path]) -> None:
    protocol = SubjectConsistencyEvaluator(averaging="vbench_whole_video").protocol()
    assert protocol["averaging"] == "vbench_whole_video" and protocol["precision"] == "fp32"
    assert "no crop" in str(protocol["preprocess"])
    assert "centre crop" in str(BackgroundConsistencyEvaluator().protocol()["preprocess"])


def test_registered_as_plugins() -> None:
    from longvgenbench import registry, weights

    for name in ("subject_consistency", "background_consistency", "aesthetic_quality"):
        assert registry.create_evaluator(name).name == name
    assert {"dino_vitb16", "clip_vit_b32_openai", "clip_vit_l14_openai", "laion_aesthetic_vit_l14"} <= \
        set(weights.catalogue())
