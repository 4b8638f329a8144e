"""DiffusionAsShader's tracking branch at a tiny config: zero joins leave the base unchanged, any join changes it."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch

from baselines.das.model import TINY_CONFIG, DiffusionAsShaderTransformer


@pytest.fixture(scope="module")
def model() -> DiffusionAsShaderTransformer:
    torch.manual_seed(0)
    m = DiffusionAsShaderTransformer(**TINY_CONFIG).eval()
    with torch.no_grad():  # random (not zero) tracking blocks, so only the joins keep the branch silent
        for p in m.transformer_blocks_copy.parameters():
            p.normal_(0, 0.2)
    return m


def _inputs(seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    c, h, w = TINY_CONFIG["in_channels"], TINY_CONFIG["sample_height"], TINY_CONFIG["sample_width"]
    return dict(hidden_states=torch.randn(1, 3, c, h, w, generator=g),
                encoder_hidden_states=torch.randn(1, TINY_CONFIG["max_text_seq_length"], 16, generator=g),
                timestep=torch.tensor([500]), tracking_maps=torch.randn(1, 3, c, h, w, generator=g))


def _out(model, **kw) -> torch.Tensor:
    with torch.no_grad():
        return model(**kw, return_dict=False)[0]


def test_zero_joins_leave_the_base_output_unchanged(model):
    kw = _inputs()
    with_branch = _out(model, **kw)
    kw.pop("tracking_maps")
    assert torch.equal(with_branch, _out(model, **kw))


@pytest.mark.parametrize("join", ["combine_linears.0", "combine_linears.1"])
def test_perturbing_one_output_join_changes_the_output(model, join):
    kw = _inputs()
    before = _out(model, **kw)
    with torch.no_grad():
        model.get_submodule(join).weight.normal_(0, 0.5)
    try:
        assert (_out(model, **kw) - before).abs().max() > 1e-4
    finally:
        model.zero_joins()


def test_input_join_alone_is_gated_by_the_output_joins(model):
    """Upstream's wiring: what a tracking block sees after the first is the previous *join's* output,
    so with every ``combine_linears`` at zero a perturbed ``initial_combine_linear`` changes nothing."""
    kw = _inputs()
    before = _out(model, **kw)
    with torch.no_grad():
        model.initial_combine_linear.weight.normal_(0, 0.5)
    try:
        assert torch.equal(_out(model, **kw), before)
        with torch.no_grad():
            model.combine_linears[0].weight.normal_(0, 0.5)
        after = _out(model, **kw)
        other = _out(model, **{**kw, "tracking_maps": torch.zeros_like(kw["tracking_maps"])})
        assert (after - other).abs().max() > 1e-4  # now the output depends on the tracking video
    finally:
        model.zero_joins()


def test_branch_init_from_base_copies_the_first_blocks():
    m = DiffusionAsShaderTransformer(**TINY_CONFIG)
    m.init_branch_from_base()
    for i in range(TINY_CONFIG["num_tracking_blocks"]):
        a, b = m.transformer_blocks_copy[i].state_dict(), m.transformer_blocks[i].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(int(torch.count_nonzero(j.weight.detach())) == 0 for j in m.joins())


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="num_tracking_blocks"):
        DiffusionAsShaderTransformer(**{**TINY_CONFIG, "num_tracking_blocks": 4})
    with pytest.raises(ValueError, match="shape of hidden_states"):
        m = DiffusionAsShaderTransformer(**TINY_CONFIG)
        kw = _inputs()
        _out(m, **{**kw, "tracking_maps": kw["tracking_maps"][:, :2]})
