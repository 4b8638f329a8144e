"""The bidirectional all-pairs correlation pyramid of AMT, looked up in a (2r+1)^2 window per level."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from evaluators.vbench.window_lookup import check_lookup, window_bilinear


class BidirectionalCorrelation:
    """All-pairs correlation of two 1/8 feature maps (and its transpose), average-pooled into ``levels`` levels.

    Memory: two (B * h * w, 1, h, w) volumes in fp32, i.e. ``8 * B * (h*w)^2`` bytes at level 0.
    ``lookup``: ``grid_sample`` (as published) or ``window`` (:func:`window_bilinear`: one gathered block per
    query and level, the same values up to rounding).
    """

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int = 4, radius: int = 3,
                 lookup: str = "grid_sample") -> None:
        self.levels, self.radius, self.lookup = levels, radius, check_lookup(lookup)
        batch, channels, height, width = fmap0.shape
        flat0, flat1 = fmap0.reshape(batch, channels, -1), fmap1.reshape(batch, channels, -1)
        volume = torch.bmm(flat0.transpose(1, 2), flat1) / torch.sqrt(torch.tensor(float(channels)))
        forward = volume.reshape(batch * height * width, 1, height, width)
        backward = volume.transpose(1, 2).reshape(batch * height * width, 1, height, width)
        self.forward_pyramid, self.backward_pyramid = [forward], [backward]
        for _ in range(levels - 1):
            forward, backward = F.avg_pool2d(forward, 2, 2), F.avg_pool2d(backward, 2, 2)
            self.forward_pyramid.append(forward)
            self.backward_pyramid.append(backward)
        # fp32 once, here: under autocast every grid_sample would otherwise cast its whole level again (the same
        # values), and a compiled model would gather from the half-precision volume in a slow fused kernel
        # instead of calling the native sampler, which it does for fp32 volumes (as in RAFT's lookups)
        self.forward_pyramid = [level.float() for level in self.forward_pyramid]
        self.backward_pyramid = [level.float() for level in self.backward_pyramid]

    def _window_offsets(self, device: torch.device) -> torch.Tensor:
        """(2r+1, 2r+1, 2) offsets; the first component runs along the window's first axis (as AMT/RAFT order it)."""
        steps = torch.linspace(-self.radius, self.radius, 2 * self.radius + 1, device=device)
        first, second = torch.meshgrid(steps, steps, indexing="ij")
        return torch.stack([first, second], dim=-1)

    @staticmethod
    def _sample(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        height, width = volume.shape[-2:]
        x = 2.0 * coords[..., 0:1] / (width - 1) - 1.0
        y = 2.0 * coords[..., 1:2] / (height - 1) - 1.0
        return F.grid_sample(volume, torch.cat([x, y], dim=-1), align_corners=True)

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = coords0.shape
        if self.lookup == "window":
            return self._window_call(coords0, coords1)
        offsets = self._window_offsets(coords0.device).view(1, 2 * self.radius + 1, 2 * self.radius + 1, 2)
        centre0 = coords0.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        centre1 = coords1.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        out0, out1 = [], []
        shape = (batch, height, width, -1)
        for level in range(self.levels):
            scale = 2**level
            out0.append(self._sample(self.forward_pyramid[level], centre0 / scale + offsets).view(shape))
            out1.append(self._sample(self.backward_pyramid[level], centre1 / scale + offsets).view(shape))
        return (torch.cat(out0, -1).permute(0, 3, 1, 2).contiguous().float(),
                torch.cat(out1, -1).permute(0, 3, 1, 2).contiguous().float())

    def _window_call(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``__call__`` with :func:`window_bilinear` lookups (same values and order, up to rounding)."""
        batch, _, height, width = coords0.shape
        centre0 = coords0.permute(0, 2, 3, 1).reshape(batch * height * width, 2)
        centre1 = coords1.permute(0, 2, 3, 1).reshape(batch * height * width, 2)
        out0, out1 = [], []
        shape = (batch, height, width, -1)
        for level in range(self.levels):
            scale = 2**level
            out0.append(window_bilinear(self.forward_pyramid[level], centre0 / scale, self.radius).reshape(shape))
            out1.append(window_bilinear(self.backward_pyramid[level], centre1 / scale, self.radius).reshape(shape))
        return (torch.cat(out0, -1).permute(0, 3, 1, 2).contiguous().float(),
                torch.cat(out1, -1).permute(0, 3, 1, 2).contiguous().float())
