"""AMT-S (Li et al., "AMT: All-Pairs Multi-Field Transforms for Efficient Frame Interpolation", CVPR 2023).

Coarse-to-fine: context pyramids of both frames (1/2..1/16), a coarsest decoder proposes flows from
time t to both frames, each finer level warps features with them and refines the flows with a
correlation-guided update (bidirectional all-pairs correlation of 1/8 features), and the finest
decoder predicts three flow pairs with masks and residuals, which are warped, blended and merged.
Parameter names match the official ``amt-s.pth`` (``{"state_dict": ...}``) so it loads strictly.
Inputs: RGB in [0, 1], (B, 3, H, W) with H, W multiples of 16; output clamped to [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from evaluators.vbench.amt.correlation import BidirectionalCorrelation
from evaluators.vbench.amt.layers import (
    CoarsestDecoder,
    CorrelationEncoder,
    FlowUpdate,
    MultiFlowDecoder,
    Pyramid,
    RefiningDecoder,
    backward_warp,
    bilinear_resize,
)
from evaluators.vbench.window_lookup import check_lookup

CHANNELS = (20, 32, 44, 56)
SIDE_CHANNELS = 20


def pixel_grid(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(B, 2, H, W) pixel coordinates, x first."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=0).float().unsqueeze(0).expand(batch, -1, -1, -1)


class AMTS(nn.Module):
    """AMT-S: correlation radius 3, 4 correlation levels, 3 flow fields at the finest level.

    ``corr_lookup``: how the correlation windows are read (``grid_sample`` | ``window``, see
    :class:`BidirectionalCorrelation`); no parameter depends on it.
    """

    def __init__(self, corr_radius: int = 3, corr_levels: int = 4, num_flows: int = 3,
                 corr_lookup: str = "grid_sample") -> None:
        super().__init__()
        self.num_flows = num_flows
        self.corr_lookup = check_lookup(corr_lookup)
        self.corr_radius, self.corr_levels = corr_radius, corr_levels
        c = CHANNELS
        self.feat_encoder = CorrelationEncoder(84)
        self.encoder = Pyramid(c)
        self.decoder4 = CoarsestDecoder(c[3], c[2], SIDE_CHANNELS)
        self.decoder3 = RefiningDecoder(c[2], c[1], SIDE_CHANNELS)
        self.decoder2 = RefiningDecoder(c[1], c[0], SIDE_CHANNELS)
        self.decoder1 = MultiFlowDecoder(c[0], SIDE_CHANNELS, num_flows)
        self.update4 = FlowUpdate(c[2], None, corr_levels, corr_radius)
        self.update3 = FlowUpdate(c[1], 2, corr_levels, corr_radius)
        self.update2 = FlowUpdate(c[0], 4, corr_levels, corr_radius)
        self.comb_block = nn.Sequential(nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1), nn.PReLU(6 * num_flows),
                                        nn.Conv2d(6 * num_flows, 3, 3, 1, 1))

    @staticmethod
    def _lookup(corr: BidirectionalCorrelation, grid: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
                t: torch.Tensor, downsample: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Correlation features where the flows (from time t, linearly extended to 0->1 and 1->0) point."""
        if downsample != 1:
            flow0 = bilinear_resize(flow0, 1.0 / downsample) / downsample
            flow1 = bilinear_resize(flow1, 1.0 / downsample) / downsample
        corr0, corr1 = corr(grid + flow1 * (1.0 / t), grid + flow0 * (1.0 / (1.0 - t)))
        return torch.cat([corr0, corr1], dim=1), torch.cat([flow0, flow1], dim=1)

    def _refine(self, update: FlowUpdate, corr: BidirectionalCorrelation, grid: torch.Tensor, feature: torch.Tensor,
                flow0: torch.Tensor, flow1: torch.Tensor, t: torch.Tensor, downsample: int):
        corr_features, flows = self._lookup(corr, grid, flow0, flow1, t, downsample)
        delta_feature, delta_flow = update(feature, flows, corr_features)
        return flow0 + delta_flow[:, 0:2], flow1 + delta_flow[:, 2:4], feature + delta_feature

    def _merge(self, img0: torch.Tensor, img1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
               mask: torch.Tensor, residual: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Warp both frames by every flow field, blend by mask, add residual and mean, average + learned correction."""
        b, n = img0.shape[0], self.num_flows
        h, w = flow0.shape[-2:]

        def per_field(x: torch.Tensor, channels: int) -> torch.Tensor:
            return x.reshape(b * n, channels, h, w)

        repeated0 = img0.unsqueeze(1).expand(b, n, 3, h, w).reshape(b * n, 3, h, w)
        repeated1 = img1.unsqueeze(1).expand(b, n, 3, h, w).reshape(b * n, 3, h, w)
        blend = per_field(mask, 1)
        candidates = (blend * backward_warp(repeated0, per_field(flow0, 2))
                      + (1 - blend) * backward_warp(repeated1, per_field(flow1, 2))
                      + mean.unsqueeze(1).expand(b, n, 1, 1, 1).reshape(b * n, 1, 1, 1) + per_field(residual, 3))
        candidates = candidates.reshape(b, n, 3, h, w)
        return candidates.mean(1) + self.comb_block(candidates.reshape(b, 3 * n, h, w))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The frame at time ``t`` (a (B|1, 1, 1, 1) tensor in (0, 1)) between ``img0`` and ``img1``."""
        mean = torch.cat([img0, img1], dim=2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        batch, _, height, width = img0.shape
        grid = pixel_grid(batch, height // 8, width // 8, img0.device)
        fmap0, fmap1 = self.feat_encoder(torch.cat([img0, img1], dim=0)).chunk(2, dim=0)
        corr = BidirectionalCorrelation(fmap0.float(), fmap1.float(), self.corr_levels, self.corr_radius,
                                        self.corr_lookup)
        f0 = self.encoder(img0)
        f1 = self.encoder(img1)

        flow0, flow1, feature = self.decoder4(f0[3], f1[3], t)
        flow0, flow1, feature = self._refine(self.update4, corr, grid, feature, flow0, flow1, t, 1)
        flow0, flow1, feature = self.decoder3(feature, f0[2], f1[2], flow0, flow1)
        flow0, flow1, feature = self._refine(self.update3, corr, grid, feature, flow0, flow1, t, 2)
        flow0, flow1, feature = self.decoder2(feature, f0[1], f1[1], flow0, flow1)
        flow0, flow1, feature = self._refine(self.update2, corr, grid, feature, flow0, flow1, t, 4)
        flow0, flow1, mask, residual = self.decoder1(feature, f0[0], f1[0], flow0, flow1)
        return torch.clamp(self._merge(img0, img1, flow0, flow1, mask, residual, mean), 0.0, 1.0)
