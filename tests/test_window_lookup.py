"""window_bilinear reads the same correlation windows as AMT-S's and RAFT's grid_sample lookups.

Not bit-equal by design: grid_sample normalises and un-normalises every window point's coordinate
and floors each one; the window takes the fraction once per query. So the comparison tolerance is
1e-5 of the volume scale on small maps, and on realistic maps (where fp32 coordinates near 100 px
carry ~1e-5 px of rounding in grid_sample's round trip) both are compared with an fp64 grid_sample:
the window is never further from it than fp32 grid_sample is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.optical_flow import raft_large

from evaluators.vbench import raft_pairs
from evaluators.vbench.amt.correlation import BidirectionalCorrelation
from evaluators.vbench.amt.model import AMTS
from evaluators.vbench.catalog_motion import AMT_S
from evaluators.vbench.dynamic import TOP_FRACTION, DynamicDegreeEvaluator
from evaluators.vbench.smoothness import MotionSmoothnessEvaluator
from evaluators.vbench.window_lookup import window_bilinear
from longvgenbench.errors import OptionError


def amt_grid_sample(volume: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """The window exactly as BidirectionalCorrelation reads one level: its offsets, its normalisation."""
    corr = BidirectionalCorrelation.__new__(BidirectionalCorrelation)
    corr.radius = radius
    side = 2 * radius + 1
    offsets = corr._window_offsets(volume.device).to(centres.dtype).view(1, side, side, 2)
    return BidirectionalCorrelation._sample(volume, centres.view(-1, 1, 1, 2) + offsets)[:, 0]


def raft_grid_sample(volume: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """One level of raft_pairs.lookup (torchvision's CorrBlock order) for one query per map, as (N, side, side)."""
    coords = centres.view(-1, 1, 1, 2).permute(0, 3, 1, 2)  # N images of 1 x 1 query pixels
    side = 2 * radius + 1
    return raft_pairs.lookup([volume], coords, radius).view(-1, side, side)


def random_case(count: int, height: int, width: int, radius: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Volumes of scale ~1 and centres inside, near and far outside the map, on exact integers and negative."""
    generator = torch.Generator().manual_seed(seed)
    volume = torch.randn(count, 1, height, width, generator=generator)
    margin = radius + 3
    x = torch.rand(count, generator=generator) * (width + 2 * margin) - margin
    y = torch.rand(count, generator=generator) * (height + 2 * margin) - margin
    centres = torch.stack([x, y], dim=1)
    quarter = count // 4
    centres[:quarter] = centres[:quarter].round()  # exact integers, including the borders and outside
    centres[quarter : 2 * quarter, 0] = torch.tensor([0.0, width - 1.0, -0.5, width - 0.5]).repeat(quarter)[:quarter]
    centres[-4:] = torch.tensor([[-1e6, 3.0], [2.0, 1e6], [1e9, -1e9], [-radius - 1.5, -radius - 1.5]])
    return volume, centres


@pytest.mark.parametrize("reference", [amt_grid_sample, raft_grid_sample], ids=["amt", "raft"])
@pytest.mark.parametrize("radius", [3, 4])
@pytest.mark.parametrize(("height", "width"), [(2, 3), (3, 2), (5, 7), (8, 8), (13, 21)])
def test_window_equals_grid_sample_on_small_maps(reference, radius: int, height: int, width: int) -> None:
    volume, centres = random_case(600, height, width, radius, seed=height * 100 + width + radius)
    expected = reference(volume, centres, radius)
    got = window_bilinear(volume, centres, radius)
    assert got.shape == expected.shape == (600, 2 * radius + 1, 2 * radius + 1)
    assert (got - expected).abs().max() <= 1e-5 * volume.abs().max()
    inside = expected.abs().amax(dim=(1, 2)) > 0
    assert inside.sum() > 150 and (~inside).sum() >= 4  # both regimes are exercised
    assert torch.equal(got[-4:], torch.zeros_like(got[-4:]))  # windows wholly outside read zeros


def test_window_axes_follow_grid_sample_x_first() -> None:
    """out[n, i, j] is at x = cx + i - r, y = cy + j - r: a ramp along x varies along the first window axis."""
    height, width, radius = 9, 11, 3
    ramp = torch.arange(width, dtype=torch.float32).repeat(height, 1).view(1, 1, height, width)
    got = window_bilinear(ramp, torch.tensor([[5.25, 4.0]]), radius)[0]
    assert torch.allclose(got[:, 0], torch.arange(-3, 4) + 5.25)
    assert torch.allclose(got[:, 0:1].expand(-1, 7), got)
    assert torch.allclose(got, amt_grid_sample(ramp, torch.tensor([[5.25, 4.0]]), radius)[0])


@pytest.mark.parametrize("radius", [3, 4])
def test_window_is_no_further_from_exact_than_fp32_grid_sample_on_real_size_maps(radius: int) -> None:
    volume, centres = random_case(400, 60, 104, radius, seed=radius)  # 480x832 frames' 1/8 maps
    exact = amt_grid_sample(volume.double(), centres.double(), radius)
    fp32_error = (amt_grid_sample(volume, centres, radius).double() - exact).abs().max()
    window_error = (window_bilinear(volume, centres, radius).double() - exact).abs().max()
    assert window_error <= 1e-6 * volume.abs().max()
    assert window_error <= fp32_error


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_volume_blends_in_fp32(dtype: torch.dtype) -> None:
    volume, centres = random_case(500, 13, 21, 4, seed=7)
    half = volume.to(dtype)
    got = window_bilinear(half, centres, 4)
    assert got.dtype == torch.float32
    expected = amt_grid_sample(half.float(), centres, 4)
    # the half values are exact in fp32: what is left is the fp32 blend's rounding, not the half precision's
    assert (got - expected).abs().max() <= 1e-5 * volume.abs().max()
    assert (got - expected).abs().max() < 0.1 * torch.finfo(dtype).eps


def test_bad_shapes_and_options_are_refused() -> None:
    with pytest.raises(ValueError, match="N, 1, H, W"):
        window_bilinear(torch.zeros(4, 2, 5, 5), torch.zeros(4, 2), 3)
    with pytest.raises(ValueError, match="centres"):
        window_bilinear(torch.zeros(4, 1, 5, 5), torch.zeros(3, 2), 3)
    with pytest.raises(OptionError, match="lookup must be one of"):
        MotionSmoothnessEvaluator(lookup="gather")
    with pytest.raises(OptionError, match="lookup must be one of"):
        DynamicDegreeEvaluator(lookup="Window")
    with pytest.raises(OptionError, match="lookup must be one of"):
        raft_pairs.ConsecutivePairFlow(torch.nn.Identity(), 1, TOP_FRACTION, lookup="nearest")


def test_choice_is_recorded_and_default_unchanged() -> None:
    assert MotionSmoothnessEvaluator().protocol()["correlation_lookup"] == "grid_sample"
    assert MotionSmoothnessEvaluator(lookup="window").protocol()["correlation_lookup"] == "window"
    assert DynamicDegreeEvaluator(verify_weights=False).protocol()["correlation_lookup"] == "grid_sample"
    assert DynamicDegreeEvaluator(verify_weights=False, lookup="window").protocol()["correlation_lookup"] == "window"
    assert AMTS().corr_lookup == "grid_sample"


def test_amt_correlation_both_lookups_agree() -> None:
    generator = torch.Generator().manual_seed(3)
    fmap0, fmap1 = torch.randn(2, 16, 16, 24, generator=generator), torch.randn(2, 16, 16, 24, generator=generator)
    coords0 = torch.rand(2, 2, 16, 24, generator=generator) * 40 - 8
    coords1 = torch.rand(2, 2, 16, 24, generator=generator) * 40 - 8
    expected = BidirectionalCorrelation(fmap0, fmap1)(coords0, coords1)
    got = BidirectionalCorrelation(fmap0, fmap1, lookup="window")(coords0, coords1)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape == (2, 4 * 49, 16, 24)
        assert (g - e).abs().max() <= 1e-5 * e.abs().max()


def test_tiny_random_amts_interpolates_the_same_with_either_lookup() -> None:
    torch.manual_seed(0)
    model = AMTS().eval()
    window = AMTS(corr_lookup="window").eval()
    window.load_state_dict(model.state_dict())
    generator = torch.Generator().manual_seed(5)
    # 128 px sides: the 1/8 maps' coarsest level is 2x2 (at 64 px it is 1x1, where both AMT's normalisation and ours
    # divide by zero and grid_sample returns NaN; see test_a_side_of_one)
    img0 = torch.rand(2, 3, 128, 160, generator=generator)
    img1 = torch.roll(img0, shifts=(2, 3), dims=(2, 3))
    t = torch.full((1, 1, 1, 1), 0.5)
    with torch.inference_mode():
        expected, got = model(img0, img1, t), window(img0, img1, t)
        sample = BidirectionalCorrelation._sample  # a reference whose lookups normalise in fp64 (less rounding)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(BidirectionalCorrelation, "_sample",
                          staticmethod(lambda volume, coords: sample(volume.double(), coords.double()).float()))
            closer = model(img0, img1, t)
    assert expected.std() > 0.01  # a real image, not a constant
    # outputs in [0, 1]: 1e-5 is 0.003 grey levels (measured 3.9e-6: the random network amplifies the lookups'
    # ~1e-6 rounding); that is the size of grid_sample's own rounding, so the window must be as close to the fp64 run
    assert (got - expected).abs().max() <= 1e-5
    assert (got - closer).abs().max() <= 2 * (expected - closer).abs().max()


def test_a_side_of_one_gives_grid_sample_nan_and_the_window_the_bilinear_value() -> None:
    """A documented difference: a 1-px side makes the callers' ``2x/(W-1) - 1`` divide by zero."""
    volume = torch.tensor([2.0]).view(1, 1, 1, 1)
    centre = torch.tensor([[0.0, 0.25]])
    assert amt_grid_sample(volume, centre, 3).isnan().all()
    got = window_bilinear(volume, centre, 3)[0]
    assert got[3, 3] == 1.5 and got[3, 2] == 0.5 and got.sum() == 2.0


@pytest.fixture(scope="module")
def raft() -> torch.nn.Module:
    torch.manual_seed(0)
    return raft_large(weights=None, progress=False).eval()


def test_raft_flows_agree_with_either_lookup(raft: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 128, 148, generator=generator) * 2 - 1
    frames = torch.cat([base[..., 3 * k : 3 * k + 136] for k in range(3)])  # panning 3 px per frame
    with torch.inference_mode():
        expected = raft_pairs.ConsecutivePairFlow(raft, 4, TOP_FRACTION).final_flows(frames)
        got = raft_pairs.ConsecutivePairFlow(raft, 4, TOP_FRACTION, lookup="window").final_flows(frames)
    assert (got - expected).abs().max() <= 1e-4  # px
    assert expected.abs().max() > 0.1


def test_raft_window_lookup_keeps_half_pyramid_values() -> None:
    """The window path skips the pyramid's fp32 cast; the fp32 cast of half values is exact, so nothing changes."""
    generator = torch.Generator().manual_seed(2)
    fmap1, fmap2 = torch.randn(2, 8, 16, 16, generator=generator), torch.randn(2, 8, 16, 16, generator=generator)
    coords = raft_pairs.coords_grid(2, 16, 16, torch.device("cpu")) + torch.randn(2, 2, 16, 16, generator=generator)
    half = raft_pairs.correlation_pyramid(fmap1.half(), fmap2.half(), 4, fp32=False)
    assert all(level.dtype == torch.float16 for level in half)
    expected = raft_pairs.lookup([level.float() for level in half], coords, 4)
    got = raft_pairs.lookup(half, coords, 4, method="window")
    assert got.dtype == torch.float32
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_window_compiles_without_graph_breaks() -> None:
    volume, centres = random_case(64, 8, 8, 3, seed=11)
    explanation = torch._dynamo.explain(window_bilinear)(volume, centres, 3)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1


def test_evaluators_build_their_models_with_the_chosen_lookup(tmp_path, raft: torch.nn.Module) -> None:
    torch.manual_seed(0)
    checkpoint = tmp_path / "amt-s.pth"
    torch.save({"state_dict": AMTS().state_dict()}, checkpoint)
    for lookup in ("grid_sample", "window"):
        evaluator = MotionSmoothnessEvaluator(lookup=lookup, compile="off")
        assert evaluator._build(AMT_S, checkpoint).corr_lookup == lookup
        pairs = DynamicDegreeEvaluator(lookup=lookup, compile="off")._compile(raft)
        assert isinstance(pairs, raft_pairs.ConsecutivePairFlow) and pairs.lookup == lookup


# --- against VBench 0.1.5's own numbers (tests/parity goldens), frames of >= 128 px ---------------------------------
# (Below 128 px a correlation level is 1 px wide: VBench's and our grid_sample lookups give NaN interpolations there,
# which the uint8 conversion turns into 0, and the window gives finite values, so those fixtures are not compared.)

@pytest.fixture(scope="module")
def staged_goldens(tmp_path_factory: pytest.TempPathFactory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "parity"))  # stage_weights imports its siblings
    import stage_weights

    out = tmp_path_factory.mktemp("staged_window")
    stage_weights.stage(out, "tiny", ["motion_smoothness", "dynamic_degree"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGVGENBENCH_CACHE", str(out / "ours"))
        patch.setenv("VBENCH_CACHE_DIR", str(out / stage_weights.VBENCH_DIR))
        patch.setenv("TORCH_HOME", str(out / stage_weights.TORCH_HOME_DIR))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield out


@pytest.mark.parametrize("name", ["fast_250x338_30fps",
                                  pytest.param("fade_480x832_16fps", marks=pytest.mark.slow)])
def test_window_lookups_match_vbench_goldens(staged_goldens, name: str) -> None:
    from tests.parity import fixtures
    from tests.parity import test_parity_motion as parity

    f = fixtures.fixture(name)
    clip = parity.whole_fixture_clip(f)
    smoothness = MotionSmoothnessEvaluator(precision="fp32", verify_weights=False, lookup="window")
    reference = parity.golden("motion_smoothness")["vbench_per_video"][name]
    assert abs(smoothness.score_clip(clip)["motion_smoothness"] - reference) <= parity.FP32_TOLERANCE
    if name == "fast_250x338_30fps":
        degree = DynamicDegreeEvaluator(precision="fp32", verify_weights=False, lookup="window")
        theirs = np.asarray(parity.golden("dynamic_degree")["vbench_pair_scores"][name])
        assert np.abs(degree.pair_scores(f.frames(), f.fps) - theirs).max() <= parity.PAIR_SCORE_TOLERANCE_PX
