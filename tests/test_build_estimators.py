"""The learned builder estimators on tiny random models saved locally (no Hub access), and hf:// splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qwen_tiny import write_tiny_qwen

from longvgenbench.build.estimator_api import create_estimator
from longvgenbench.errors import OptionError, WeightsUnavailableError

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_depth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                            patch_size=14, image_size=518, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                 head_hidden_size=8, reassemble_hidden_size=32, depth_estimation_type="relative")
    folder = tmp_path_factory.mktemp("tiny-da2")
    DepthAnythingForDepthEstimation(config).eval().save_pretrained(folder)
    return folder


def _frames(count: int, height: int = 40, width: int = 72) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


def test_depth_output_shape_and_raw_model_values(tiny_depth_dir: Path) -> None:
    estimator = create_estimator("depth", "depth-anything-v2", model_dir=str(tiny_depth_dir), input_size=56,
                                 batch_size=2, device="cpu")
    estimator.check_available()
    frames = _frames(3)
    out = estimator.estimate(frames, 0)
    assert out.shape == (3, 40, 72) and out.dtype == np.float32 and np.isfinite(out).all()
    # polarity: the model's predicted_depth (relative inverse depth for Depth Anything) is passed on as is,
    # declared "disparity" so the builder maps bigger = nearer to black without inverting it
    assert estimator.output == "disparity"
    model = estimator._load()
    with torch.inference_mode():
        direct = model(pixel_values=estimator.preprocess(frames[:1])).predicted_depth[0]
    assert tuple(direct.shape) == (56, 98)  # shorter side 40 -> 56, 72 * 1.4 = 100.8 -> multiple of 14
    resized = torch.nn.functional.interpolate(direct[None, None], size=(40, 72), mode="bilinear")[0, 0]
    np.testing.assert_allclose(out[0], resized.numpy(), rtol=1e-5, atol=1e-5)
    assert out.std() > 0


def test_depth_batching_invariance(tiny_depth_dir: Path) -> None:
    frames = _frames(5)
    one = create_estimator("depth", "depth-anything-v2", model_dir=str(tiny_depth_dir), input_size=28,
                           batch_size=1, device="cpu").estimate(frames, 0)
    many = create_estimator("depth", "depth-anything-v2", model_dir=str(tiny_depth_dir), input_size=28,
                            batch_size=4, device="cpu")
    chunked = np.concatenate([many.estimate(frames[:2], 0), many.estimate(frames[2:], 2)])
    np.testing.assert_allclose(chunked, one, rtol=1e-4, atol=1e-5)


def test_depth_unavailable_offline_fails_before_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    estimator = create_estimator("depth", "depth-anything-v2")
    with pytest.raises(WeightsUnavailableError, match=r"weights fetch depth-anything-v2-large-hf:config\.json"):
        estimator.check_available()
    with pytest.raises(WeightsUnavailableError, match=r"config\.json"):
        create_estimator("depth", "depth-anything-v2", model_dir=str(tmp_path)).check_available()
    with pytest.raises(OptionError, match="variant"):
        create_estimator("depth", "depth-anything-v2", variant="giant")


@pytest.fixture(scope="module")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))


def test_qwen_caption_frames_prompt_and_generation(tiny_qwen_dir: Path) -> None:
    from longvgenbench.build.estimators.qwen_captions import CAPTION_PROMPT, clip_frame_indices

    assert clip_frame_indices(81, 8) == [0, 11, 23, 34, 46, 57, 69, 80]
    assert clip_frame_indices(81, 3) == [0, 27, 53, 80]  # Qwen2.5-VL pairs frames: an even count
    max_pixels = 112 * 112
    estimator = create_estimator("captions", "qwen2.5-vl", model_dir=str(tiny_qwen_dir), num_frames=4,
                                 max_pixels=max_pixels, max_new_tokens=6, device="cpu")
    estimator.check_available()
    frames = np.random.default_rng(0).integers(0, 256, size=(81, 96, 160, 3), dtype=np.uint8)
    inputs = estimator.model_inputs(frames)
    t, h, w = (int(v) for v in inputs["video_grid_thw"][0])
    assert t == 2  # 4 frames, 2 per temporal patch
    assert h * w * 14 * 14 <= max_pixels  # per-frame pixel cap
    text = estimator._processor.batch_decode(inputs["input_ids"])[0]
    assert CAPTION_PROMPT in text and text.endswith("<|im_start|>assistant\n")
    caption = estimator.caption(frames, "v", 0)
    assert isinstance(caption, str)
    again = estimator.caption(frames, "v", 0)
    assert caption == again  # greedy decoding: a rebuild gives the same caption


def test_qwen_unavailable_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsUnavailableError, match=r"Qwen2\.5-VL-7B-Instruct"):
        create_estimator("captions", "qwen2.5-vl").check_available()


def test_load_split_from_hub_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from longvgenbench.build import hub
    from longvgenbench.errors import SplitError
    from longvgenbench.splits import api

    downloads: list[tuple[str, str | None]] = []
    reads: list[tuple[Path, bool]] = []

    def fake_download(repo_id: str, revision: str | None = None, cache: Path | None = None) -> Path:
        downloads.append((repo_id, revision))
        return tmp_path / "snapshot"

    def fake_read(root: Path, verify: bool = True) -> str:
        reads.append((root, verify))
        return "the split"

    monkeypatch.setattr(hub, "download_split", fake_download)
    monkeypatch.setattr(api, "read_split", fake_read)
    assert api.load_split("hf://someone/my-split@0123abc") == "the split"
    assert downloads == [("someone/my-split", "0123abc")] and reads == [(tmp_path / "snapshot", True)]
    api.load_split("hf://someone/my-split", verify=False)
    assert downloads[-1] == ("someone/my-split", None) and reads[-1] == (tmp_path / "snapshot", False)
    for bad in ("hf://no-owner", "hf://a/b/c", "hf://a/b@"):
        with pytest.raises(SplitError, match="hf://owner/name"):
            api.load_split(bad)
    assert len(downloads) == 2  # malformed URLs never reach the Hub


def test_load_split_from_hub_offline_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from longvgenbench.build.hub import HubError
    from longvgenbench.splits.api import load_split

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        load_split("hf://someone/my-split")
