"""ConsecutivePairFlow computes torchvision RAFT's last flow for every consecutive pair, with less work."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.optical_flow import raft_large

from evaluators.vbench import raft_pairs
from evaluators.vbench.dynamic import RAFT_ITERATIONS, TOP_FRACTION


@pytest.fixture(scope="module")
def raft() -> torch.nn.Module:
    torch.manual_seed(0)
    model = raft_large(weights=None, progress=False).eval()
    with torch.no_grad():  # random BN statistics so the context encoder's batch norms are not identities
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def _frames(count: int, height: int = 128, width: int = 136) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, height, width + 4 * count, generator=generator) * 2 - 1
    return torch.cat([base[..., 3 * k : 3 * k + width] for k in range(count)])  # a texture panning 3 px per frame


def test_final_flows_equal_torchvision_per_pair(raft: torch.nn.Module) -> None:
    frames = _frames(4)
    iterations = 6
    ours = raft_pairs.ConsecutivePairFlow(raft, iterations, TOP_FRACTION)
    with torch.inference_mode():
        got = ours.final_flows(frames)
        expected = torch.cat([raft(frames[k : k + 1], frames[k + 1 : k + 2], num_flow_updates=iterations)[-1]
                              for k in range(3)])
    assert got.shape == (3, 2, 128, 136)
    assert torch.allclose(got, expected, atol=2e-4, rtol=1e-4), (got - expected).abs().max()
    assert expected.abs().max() > 0.1  # the comparison sees real flows, not zeros


def test_forward_gives_top_magnitude_scores(raft: torch.nn.Module) -> None:
    frames = _frames(3)
    ours = raft_pairs.ConsecutivePairFlow(raft, RAFT_ITERATIONS, TOP_FRACTION)
    with torch.inference_mode():
        flows = ours.final_flows(frames)
        scores = ours(frames)
    magnitude = flows.pow(2).sum(1).sqrt().flatten(1)
    count = int(magnitude.shape[1] * TOP_FRACTION)
    expected = magnitude.sort(dim=1, descending=True).values[:, :count].mean(1)
    assert torch.allclose(scores, expected, rtol=1e-5)


def test_unpadded_frames_are_refused(raft: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        raft_pairs.ConsecutivePairFlow(raft, 2, TOP_FRACTION).final_flows(torch.zeros(2, 3, 130, 136))

