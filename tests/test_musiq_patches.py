"""MUSIQ's device-made multi-scale patches and the wrapper that uses them, against pyiqa's own code."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("pyiqa")

from pyiqa.archs.musiq_arch import MUSIQ
from pyiqa.data.multiscale_trans_util import get_hashed_spatial_pos_emb_index, get_multiscale_patches

from evaluators.vbench import imaging
from evaluators.vbench.compiling import CompiledWithFallback
from evaluators.vbench.musiq_patches import (
    _ROWS_CACHE,
    DevicePatchedMUSIQ,
    hashed_axis_index,
    multiscale_patches,
)
from longvgenbench.errors import OptionError

MUSIQ_OPTS = dict(patch_size=32, patch_stride=32, hse_grid_size=10, longer_side_lengths=[224, 384],
                  max_seq_len_from_original_res=-1)


def _image(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _tiny_musiq(num_class: int = 1, seed: int = 0) -> MUSIQ:
    torch.manual_seed(seed)
    model = MUSIQ(pretrained=False, num_class=num_class, hidden_size=48, mlp_dim=64, num_heads=2, num_layers=2)
    with torch.no_grad():  # pyiqa starts the class token at zero; give every parameter a say in the output
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model.eval()


def test_hashed_axis_index_reproduces_pyiqa_nearest_float32_rounding():
    # counts such as 205 and 235 are where an integer j * grid // count would differ from pyiqa's float32 index
    for grid in (10, 7):
        for count in range(1, 700):
            expected = get_hashed_spatial_pos_emb_index(grid, count, 1).reshape(-1) / grid
            assert torch.equal(hashed_axis_index(grid, count, "cpu"), expected), (grid, count)


@pytest.mark.parametrize("shape", [(1, 3, 295, 512), (2, 3, 64, 96), (3, 3, 100, 37), (1, 3, 33, 31),
                                   (2, 3, 512, 341), (1, 3, 7, 500), (3, 97, 61)])
def test_patches_equal_pyiqa_bit_for_bit(shape):
    image = _image(shape)
    expected = get_multiscale_patches(image, **MUSIQ_OPTS)
    got = multiscale_patches(image)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(got, expected)


@pytest.mark.parametrize("opts", [
    dict(max_seq_len_from_original_res=None),
    dict(max_seq_len_from_original_res=0),
    dict(max_seq_len_from_original_res=4),
    dict(max_seq_len_from_original_res=500),
    dict(longer_side_lengths=[384, 160, 224], max_seq_len_from_original_res=-1),
    dict(patch_size=16, patch_stride=16, hse_grid_size=5, longer_side_lengths=[96]),
    dict(patch_size=12, patch_stride=8, longer_side_lengths=[64, 100]),  # overlapping patches: the unfold path
])
def test_patches_equal_pyiqa_for_other_options(opts):
    image = _image((2, 3, 45, 70), seed=1)
    full = {**MUSIQ_OPTS, **opts}
    expected = get_multiscale_patches(image, **full)
    assert torch.equal(multiscale_patches(image, **full), expected)


def test_patches_are_batch_invariant_and_rows_are_cached():
    image = _image((4, 3, 80, 120), seed=2)
    _ROWS_CACHE.clear()
    whole = multiscale_patches(image)
    key = (torch.device("cpu"), torch.float32, 10, 5, 7, 0)  # scale 224: 149x224 -> 5x7 patches
    rows = _ROWS_CACHE[key]
    assert torch.equal(torch.cat([multiscale_patches(image[i : i + 1]) for i in range(4)]), whole)
    assert _ROWS_CACHE[key] is rows and len(_ROWS_CACHE) == 3


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_dtype_gives_the_numbers_pyiqa_feeds_its_first_convolution_under_cuda_autocast(half):
    # Under CUDA autocast the bicubic resize of a half image runs in (and returns) float32: pyiqa cuts float32
    # patches and the convolution casts them to half; here they are cast before cutting. The same numbers.
    # (Autocast's float32 resize is emulated by passing the half values as float32: CPU autocast keeps half.)
    image = _image((2, 3, 90, 160), seed=3).to(half).float()
    on_cuda_autocast = get_multiscale_patches(image, **MUSIQ_OPTS)
    got = multiscale_patches(image, dtype=half)
    assert got.dtype == half
    assert torch.equal(got, on_cuda_autocast.to(half))


def test_dtype_none_keeps_pyiqa_dtypes_for_half_inputs():
    image = _image((1, 3, 50, 70), seed=4).to(torch.bfloat16)
    expected = get_multiscale_patches(image, **MUSIQ_OPTS)
    got = multiscale_patches(image)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


def test_bad_image_rank_is_a_clear_error():
    with pytest.raises(OptionError, match="n, c, h, w"):
        multiscale_patches(torch.zeros(3, 4))


@pytest.mark.parametrize("num_class", [1, 10])
@pytest.mark.parametrize("shape", [(2, 3, 64, 96), (1, 3, 100, 37)])
def test_wrapper_equals_pyiqa_forward(num_class, shape):
    musiq = _tiny_musiq(num_class)
    x = (_image(shape, seed=5) + 1) / 2
    with torch.no_grad():
        expected = musiq(x)
        got = DevicePatchedMUSIQ(musiq)(x)
    assert got.shape == expected.shape == (shape[0], 1)
    assert torch.equal(got, expected)


def test_wrapper_equals_pyiqa_forward_at_real_size():
    torch.manual_seed(6)
    musiq = imaging.build_musiq()  # the evaluator's class and configuration, random weights
    x = (_image((1, 3, 48, 80), seed=6) + 1) / 2
    with torch.no_grad():
        assert torch.equal(DevicePatchedMUSIQ(musiq)(x), musiq(x))


def test_wrapper_equals_pyiqa_forward_under_autocast():
    musiq = _tiny_musiq()
    x = ((_image((2, 3, 64, 96), seed=7) + 1) / 2).to(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = musiq(x)
        got = DevicePatchedMUSIQ(musiq, patch_dtype=torch.bfloat16)(x)
    assert torch.equal(got, expected)


def test_wrapper_traces_as_one_graph():
    # compile_scope="whole" depends on this: no graph break in patching, stem, transformer or MOS
    torch._dynamo.reset()
    wrapper = DevicePatchedMUSIQ(_tiny_musiq())
    x = (_image((2, 3, 64, 96), seed=8) + 1) / 2
    with torch.no_grad():
        traced = torch.compile(wrapper, fullgraph=True, backend="eager", dynamic=False)(x)
        assert torch.equal(traced, wrapper(x))
    torch._dynamo.reset()


def test_wrapper_refuses_training_mode():
    wrapper = DevicePatchedMUSIQ(_tiny_musiq()).train()
    with pytest.raises(OptionError, match="inference"):
        wrapper(torch.zeros(1, 3, 32, 32))


def test_evaluator_compile_scopes():
    with pytest.raises(OptionError, match="compile_scope"):
        imaging.ImagingQualityEvaluator(compile_scope="everything")
    whole = imaging.ImagingQualityEvaluator(compile="on")
    assert whole.compile_scope == "whole" and whole.protocol()["compiled"].startswith("whole model")
    model = whole._compile(DevicePatchedMUSIQ(_tiny_musiq()))
    assert isinstance(model, CompiledWithFallback) and isinstance(model.eager, DevicePatchedMUSIQ)
    parts = imaging.ImagingQualityEvaluator(compile="on", compile_scope="parts")
    model = parts._compile(DevicePatchedMUSIQ(_tiny_musiq()))
    assert isinstance(model, DevicePatchedMUSIQ)
    assert isinstance(model.musiq.conv_root, CompiledWithFallback)
    assert isinstance(model.musiq.transformer_encoder, CompiledWithFallback)
    parts.compile_scope = "whol"  # a typo set as an attribute (eval_profile does this) is refused when compiling
    with pytest.raises(OptionError, match="compile_scope"):
        parts._compile(DevicePatchedMUSIQ(_tiny_musiq()))
    eager = imaging.ImagingQualityEvaluator(compile="off")
    assert eager.protocol()["compiled"] is False
    assert isinstance(eager._compile(DevicePatchedMUSIQ(_tiny_musiq())), DevicePatchedMUSIQ)
