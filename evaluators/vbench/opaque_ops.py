"""Operations that ``torch.compile`` should call as they are instead of rewriting them.

Why: Inductor decomposes ``grid_sample`` into gathers fused with the surrounding concatenations. For
the correlation lookups of AMT-S and RAFT (hundreds of millions of bilinear samples per batch, each in
a small window of a large fp32 volume) that fused kernel was the largest single cost of a compiled
AMT-S clip on an H100 (about a third of its GPU time, ``benchmarks/RESULTS.md``), several times slower
than the native CUDA/cuDNN sampler the eager model uses. A custom op is opaque to the compiler: the
graph around it is still fused, the sampling runs the native kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.library.custom_op("longvgenbench::aligned_bilinear_sample", mutates_args=())
def aligned_bilinear_sample(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``F.grid_sample(volume, grid, bilinear, zeros padding, align_corners=True)`` in fp32.

    fp32 is what autocast gives ``grid_sample`` anyway; casting here keeps the numbers the same whether
    or not an autocast region reaches inside the op.
    """
    return F.grid_sample(volume.float(), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=True)


@aligned_bilinear_sample.register_fake
def _aligned_bilinear_sample_shape(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return volume.new_empty((volume.shape[0], volume.shape[1], grid.shape[1], grid.shape[2]), dtype=torch.float32)
