"""Forward (splatting) warp with bilinear weights, averaged: softmax splatting's "avg" mode.

The published code runs Niklaus' CuPy kernel (CUDA only). This is the same arithmetic in plain
torch (``index_add_``), so it runs on any device: every source pixel (x, y) lands at
(x + u, y + v) and adds its value to the four surrounding pixels with bilinear weights; the sum
is divided by the summed weights plus 1e-7. Sources whose target is not finite are dropped.
"""

from __future__ import annotations

import torch


def splat_average(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Forward-warp ``source`` (n, c, h, w) by ``flow`` (n, 2, h, w; x then y, in pixels)."""
    n, c, h, w = source.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"flow must be {(n, 2, h, w)}, got {tuple(flow.shape)}")
    dtype = source.dtype
    gy, gx = torch.meshgrid(torch.arange(h, device=source.device, dtype=dtype),
                            torch.arange(w, device=source.device, dtype=dtype), indexing="ij")
    tx = gx + flow[:, 0].to(dtype)
    ty = gy + flow[:, 1].to(dtype)
    finite = torch.isfinite(tx) & torch.isfinite(ty)
    tx = torch.where(finite, tx, torch.zeros_like(tx))
    ty = torch.where(finite, ty, torch.zeros_like(ty))
    x0 = torch.floor(tx)
    y0 = torch.floor(ty)
    values = torch.cat([source, torch.ones_like(source[:, :1])], dim=1)  # the last channel sums the weights
    values = values.permute(0, 2, 3, 1).reshape(n, h * w, c + 1)
    out = torch.zeros(n * h * w, c + 1, dtype=dtype, device=source.device)
    base = (torch.arange(n, device=source.device) * (h * w)).view(n, 1, 1)
    for cx, cy in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        weight = (1 - (tx - cx).abs()) * (1 - (ty - cy).abs())
        inside = finite & (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
        index = (base + cy.clamp(0, h - 1).long() * w + cx.clamp(0, w - 1).long()).reshape(-1)
        contribution = values.reshape(-1, c + 1) * (weight * inside).reshape(-1, 1)
        out.index_add_(0, index, contribution)
    out = out.view(n, h, w, c + 1).permute(0, 3, 1, 2)
    return out[:, :-1] / (out[:, -1:] + 1e-7)
