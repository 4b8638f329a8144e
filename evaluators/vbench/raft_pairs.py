"""RAFT-large on a run of consecutive frames, computing only what dynamic degree reads: the last flow.

Why not call torchvision's ``RAFT.forward`` per pair batch: for 20 refinement iterations it
upsamples every iteration's flow to full resolution (a mask head, a softmax over 9 x 64 weights per
cell and a full-size flow field each time) and returns all 20, while VBench only reads the last one;
it encodes every frame twice (a frame is the second of one pair and the first of the next); and
under autocast every ``grid_sample`` of every iteration re-casts the whole correlation pyramid from
the autocast dtype to fp32. :class:`ConsecutivePairFlow` runs the same modules with the same weights
in the same order for the flow that matters, and:

- encodes each of the N + 1 frames once (the feature encoder normalises per image, so batching
  frames instead of pairs changes no value);
- casts the correlation pyramid to fp32 once, which is exactly what autocast does inside each
  ``grid_sample`` (same values, once instead of 20 times);
- predicts the upsampling mask and upsamples only after the last iteration (the mask head reads the
  hidden state but never feeds back, so skipping it earlier changes nothing).

Outputs equal torchvision's ``raft(image1, image2, num_flow_updates)[-1]`` for every pair (up to the
convolution algorithm's rounding; the tests compare them), and the module returns the pairs' top-5%
flow magnitudes, so a compiled graph never writes full-size flows back to memory.

``lookup="window"`` (or ``"triton"``, the same arithmetic as one Triton kernel per level, see
:mod:`evaluators.vbench.triton_lookup`) reads the correlation windows with :func:`window_lookup.window_bilinear` (one
gathered 10 x 10 block per query and level instead of grid_sample's 4 gathers per window point; the
same values up to rounding) from a pyramid kept in the volume's dtype (the fp32 cast of the
grid_sample path copies exact values, which the window's fp32 blend reads just as well).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evaluators.vbench.window_lookup import RAFT_LOOKUP_CHOICES, check_lookup, window_bilinear


def coords_grid(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(B, 2, H, W) float pixel coordinates, x first (as torchvision's ``make_coords_grid``)."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=0).float()[None].repeat(batch, 1, 1, 1)


def correlation_pyramid(fmap1: torch.Tensor, fmap2: torch.Tensor, levels: int,
                        fp32: bool = True) -> list[torch.Tensor]:
    """All-pairs correlation of two (B, C, h, w) feature maps, pooled ``levels - 1`` times, each level in fp32.

    The volume and the pooling run in the input dtype (as torchvision's ``CorrBlock`` under autocast);
    the fp32 cast is the one autocast would apply inside every lookup (``fp32=False`` skips it, for lookups that
    blend in fp32 themselves).
    """
    batch, channels, height, width = fmap1.shape
    volume = torch.matmul(fmap1.view(batch, channels, height * width).transpose(1, 2),
                          fmap2.view(batch, channels, height * width))
    volume = (volume.view(batch, height, width, 1, height, width) / torch.sqrt(torch.tensor(channels)))
    volume = volume.reshape(batch * height * width, 1, height, width)
    pyramid = [volume]
    for _ in range(levels - 1):
        volume = F.avg_pool2d(volume, kernel_size=2, stride=2)
        pyramid.append(volume)
    return [level.float() for level in pyramid] if fp32 else pyramid


def lookup(pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int, method: str = "grid_sample") -> torch.Tensor:
    """Features (B, levels * (2r+1)^2, h, w) around ``coords`` (B, 2, h, w), as ``CorrBlock.index_pyramid``.

    ``method``: ``grid_sample`` (as torchvision), ``window`` (:func:`window_bilinear`, fp32 output) or ``triton``
    (the same window arithmetic as one opaque op, a Triton kernel on CUDA: :mod:`evaluators.vbench.triton_lookup`).
    """
    method = check_lookup(method, RAFT_LOOKUP_CHOICES)
    if method == "triton":
        from evaluators.vbench import triton_lookup  # registers the op

        return triton_lookup.window_features(list(pyramid), coords.contiguous(), radius)
    if method == "window":
        return _window_lookup(pyramid, coords, radius)
    side = 2 * radius + 1
    steps = torch.linspace(-radius, radius, side, device=coords.device)
    delta = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), dim=-1).view(1, side, side, 2)
    batch, _, height, width = coords.shape
    centres = coords.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
    sampled = []
    for level in pyramid:
        grid = centres + delta
        size_h, size_w = level.shape[-2:]
        # grid_sample's align_corners=True normalisation, as torchvision's ``grid_sample`` helper does it
        x, y = grid.split([1, 1], dim=-1)
        x = 2 * x / (size_w - 1) - 1
        y = 2 * y / (size_h - 1) - 1
        values = F.grid_sample(level, torch.cat([x, y], dim=-1), mode="bilinear", align_corners=True)
        sampled.append(values.view(batch, height, width, -1))
        centres = centres / 2
    return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous()


def _window_lookup(pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`lookup` through :func:`window_bilinear`: the same order (window x-major, then y), fp32."""
    batch, _, height, width = coords.shape
    centres = coords.permute(0, 2, 3, 1).reshape(batch * height * width, 2).float()
    sampled = []
    for level in pyramid:
        sampled.append(window_bilinear(level, centres, radius).reshape(batch, height, width, -1))
        centres = centres / 2
    return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous()


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """RAFT's convex upsampling of a (B, 2, h, w) flow with the mask head's (B, 9 * factor^2, h, w) logits."""
    batch, channels, height, width = flow.shape
    weights = torch.softmax(mask.view(batch, 1, 9, factor, factor, height, width), dim=2)
    neighbours = F.unfold(factor * flow, kernel_size=3, padding=1).view(batch, channels, 9, 1, 1, height, width)
    upsampled = torch.sum(weights * neighbours, dim=2)
    return upsampled.permute(0, 1, 4, 2, 5, 3).reshape(batch, channels, factor * height, factor * width)


def top_magnitude_mean(flow: torch.Tensor, fraction: float) -> torch.Tensor:
    """(B, 2, H, W) flow -> (B,) mean of the largest ``int(fraction * H * W)`` magnitudes, in fp32 (NaN if none)."""
    flow = flow.float()
    magnitude = torch.sqrt(flow[:, 0] ** 2 + flow[:, 1] ** 2).flatten(1)
    count = int(magnitude.shape[1] * fraction)
    if count == 0:
        return torch.full((flow.shape[0],), float("nan"), device=flow.device)
    return torch.topk(magnitude, count, dim=1, sorted=False).values.mean(dim=1)


class ConsecutivePairFlow(nn.Module):
    """A torchvision ``raft_large`` run on frames (N + 1, 3, H, W) for the N pairs (i, i + 1).

    ``forward`` returns each pair's top-``fraction`` mean flow magnitude (N,) in fp32; ``final_flows``
    the last iteration's full-resolution flows (N, 2, H, W), for tests and other callers. ``lookup``:
    ``grid_sample`` (as torchvision) or ``window`` (see the module docstring).
    """

    def __init__(self, raft: nn.Module, iterations: int, fraction: float, lookup: str = "grid_sample") -> None:
        super().__init__()
        self.raft = raft
        self.iterations = int(iterations)
        self.fraction = float(fraction)
        self.lookup = check_lookup(lookup, RAFT_LOOKUP_CHOICES)

    def final_flows(self, frames: torch.Tensor) -> torch.Tensor:
        raft = self.raft
        height, width = frames.shape[-2:]
        if height % 8 or width % 8:
            raise ValueError(f"frames must be padded to multiples of 8, got {height}x{width}")
        features = raft.feature_encoder(frames)
        pyramid = correlation_pyramid(features[:-1], features[1:], raft.corr_block.num_levels,
                                      fp32=self.lookup == "grid_sample")
        context_out = raft.context_encoder(frames[:-1])
        hidden_size = raft.update_block.hidden_state_size
        hidden, context = torch.split(context_out, [hidden_size, context_out.shape[1] - hidden_size], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        pairs = frames.shape[0] - 1
        coords0 = coords_grid(pairs, height // 8, width // 8, frames.device)
        coords1 = coords_grid(pairs, height // 8, width // 8, frames.device)
        for _ in range(self.iterations):
            correlation = lookup(pyramid, coords1, raft.corr_block.radius, self.lookup)
            hidden, delta = raft.update_block(hidden, context, correlation, coords1 - coords0)
            coords1 = coords1 + delta
        return convex_upsample(coords1 - coords0, raft.mask_predictor(hidden))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return top_magnitude_mean(self.final_flows(frames), self.fraction)
