"""Building blocks of AMT-S, named so that the official checkpoint's keys load strictly.

Written from the AMT paper and a reading of the public AMT code (MCG-NKU/AMT), not copied. Only
what inference needs is here (no training losses, no dropout).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bilinear_resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


@torch.library.custom_op("longvgenbench_amt::warp_border", mutates_args=())
def warp_border(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """ATen's own ``grid_sampler_2d`` (bilinear, border padding, corner-aligned), opaque to ``torch.compile``.

    Why an op: Inductor replaces ``grid_sampler_2d`` by a decomposition that expands the grid per channel and
    fuses it with the surrounding ``cat``; on an H100 that one fused kernel took a third of a compiled AMT-S
    clip (``benchmarks/RESULTS.md``). The native kernel computes the same values (it is what eager runs).
    """
    return torch.grid_sampler_2d(image, grid, 0, 1, True)


@warp_border.register_fake
def _warp_border_fake(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return image.new_empty((image.shape[0], image.shape[1], grid.shape[1], grid.shape[2]))


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at pixel + ``flow`` (bilinear, border padding, corner-aligned grid), in fp32.

    The grid is rounded to the image's dtype first, and both go to fp32 for the sampler: exactly what
    ``F.grid_sample`` does under autocast (an fp32 op there), and a no-op in fp32.
    """
    batch, _, height, width = flow.shape
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device).view(1, 1, width).expand(batch, height, width)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device).view(1, height, 1).expand(batch, height, width)
    gx = xs.to(image.dtype) + flow[:, 0] / ((width - 1.0) / 2.0)
    gy = ys.to(image.dtype) + flow[:, 1] / ((height - 1.0) / 2.0)
    grid = torch.stack((gx, gy), dim=-1).to(image.dtype)
    return warp_border(image.float().contiguous(), grid.float().contiguous())


def conv_prelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 with parameter-free instance norms; a strided 1x1 shortcut when downsampling."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = cout // 4
        self.conv1 = nn.Conv2d(cin, mid, 1)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1)
        self.conv3 = nn.Conv2d(mid, cout, 1)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), nn.InstanceNorm2d(cout))
                           if stride != 1 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(F.instance_norm(self.conv1(x)))
        y = F.relu(F.instance_norm(self.conv2(y)))
        y = F.relu(F.instance_norm(self.conv3(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


class CorrelationEncoder(nn.Module):
    """The small RAFT-style feature encoder (1/8 resolution, 84 channels) used to build correlations."""

    def __init__(self, out_channels: int = 84) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(Bottleneck(32, 32, 1), Bottleneck(32, 32, 1))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, 2), Bottleneck(64, 64, 1))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, 2), Bottleneck(96, 96, 1))
        self.conv2 = nn.Conv2d(96, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.instance_norm(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class SideResBlock(nn.Module):
    """Residual block whose last ``side`` channels get extra convolutions between the main ones."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = conv_prelu(channels, channels)
        self.conv2 = conv_prelu(side, side)
        self.conv3 = conv_prelu(channels, channels)
        self.conv4 = conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = nn.PReLU(channels)

    def _refine_side(self, x: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        keep, side = x.split([x.shape[1] - self.side, self.side], dim=1)
        return torch.cat([keep, conv(side)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._refine_side(self.conv1(x), self.conv2)
        y = self._refine_side(self.conv3(y), self.conv4)
        return self.prelu(x + self.conv5(y))


class Pyramid(nn.Module):
    """Context features at 1/2, 1/4, 1/8, 1/16 resolution."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.levels = len(channels)
        previous = 3
        for index, width in enumerate(channels, start=1):
            self.add_module(f"pyramid{index}", nn.Sequential(conv_prelu(previous, width, 3, 2, 1),
                                                             conv_prelu(width, width)))
            previous = width

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for index in range(1, self.levels + 1):
            x = getattr(self, f"pyramid{index}")(x)
            features.append(x)
        return features


def _decoder_block(cin: int, cmid: int, cout: int, side: int) -> nn.Sequential:
    return nn.Sequential(conv_prelu(cin, cmid), SideResBlock(cmid, side), nn.ConvTranspose2d(cmid, cout, 4, 2, 1))


class CoarsestDecoder(nn.Module):
    """From the 1/16 features of both frames and the time t: flows to t at 1/8 and the 1/8 interpolated feature."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(2 * cin + 1, 2 * cin, cout + 4, side)

    def forward(self, f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor):
        time_plane = t.expand(f0.shape[0], 1, f0.shape[2], f0.shape[3]).to(f0.dtype)
        out = self.convblock(torch.cat([f0, f1, time_plane], dim=1))
        return out[:, 0:2], out[:, 2:4], out[:, 4:]


class RefiningDecoder(nn.Module):
    """Warp the next-finer features by the current flows and predict residual flows at twice the resolution."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(3 * cin + 4, 3 * cin, cout + 4, side)

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor):
        out = self.convblock(torch.cat([ft, backward_warp(f0, flow0), backward_warp(f1, flow1), flow0, flow1], 1))
        flow0 = out[:, 0:2] + 2.0 * bilinear_resize(flow0, 2.0)
        flow1 = out[:, 2:4] + 2.0 * bilinear_resize(flow1, 2.0)
        return flow0, flow1, out[:, 4:]


class MultiFlowDecoder(nn.Module):
    """The finest decoder: ``num_flows`` flow pairs, blending masks and residual images at full resolution."""

    def __init__(self, cin: int, side: int, num_flows: int) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = _decoder_block(3 * cin + 4, 3 * cin, 8 * num_flows, side)

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor):
        n = self.num_flows
        out = self.convblock(torch.cat([ft, backward_warp(f0, flow0), backward_warp(f1, flow1), flow0, flow1], 1))
        delta0, delta1, mask, residual = out.split([2 * n, 2 * n, n, 3 * n], dim=1)
        flow0 = delta0 + (2.0 * bilinear_resize(flow0, 2.0)).repeat(1, n, 1, 1)
        flow1 = delta1 + (2.0 * bilinear_resize(flow1, 2.0)).repeat(1, n, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), residual


class FlowUpdate(nn.Module):
    """One correlation-guided residual update of (feature, bidirectional flow) at some pyramid level."""

    def __init__(self, feature_channels: int, scale: int | None, corr_levels: int = 4, radius: int = 3,
                 hidden: int = 76, flow_dim: int = 20, corr_dim: int = 64, fc_dim: int = 68) -> None:
        super().__init__()
        corr_planes = corr_levels * (2 * radius + 1) ** 2
        self.scale = scale
        self.convc1 = nn.Conv2d(2 * corr_planes, corr_dim, 1)
        self.convf1 = nn.Conv2d(4, 2 * flow_dim, 7, padding=3)
        self.convf2 = nn.Conv2d(2 * flow_dim, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)
        self.gru = self._head(fc_dim + 4 + feature_channels, hidden, hidden)
        self.feat_head = self._head(hidden, hidden, feature_channels)
        self.flow_head = self._head(hidden, hidden, 4)

    @staticmethod
    def _head(cin: int, cmid: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cmid, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(cmid, cout, 3, padding=1))

    def forward(self, feature: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor):
        if self.scale is not None:
            feature = bilinear_resize(feature, 1.0 / self.scale)
        motion = torch.cat([F.leaky_relu(self.convc1(corr), 0.1),
                            F.leaky_relu(self.convf2(F.leaky_relu(self.convf1(flow), 0.1)), 0.1)], dim=1)
        hidden = self.gru(torch.cat([F.leaky_relu(self.conv(motion), 0.1), flow, feature], dim=1))
        delta_feature, delta_flow = self.feat_head(hidden), self.flow_head(hidden)
        if self.scale is not None:
            delta_feature = bilinear_resize(delta_feature, float(self.scale))
            delta_flow = self.scale * bilinear_resize(delta_flow, float(self.scale))
        return delta_feature, delta_flow
