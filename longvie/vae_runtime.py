"""How the Wan VAE runs in a LongVie 2 clip: its dtype, its memory layout, and whether it is compiled.

Why: a clip's VAE work (five 81-frame encodes at 352x640, the history encode and the 81-frame decode)
was 7.5 s on an H100 in float32, the dtype the pipeline used to load it in (diffusers' Wan I2V examples
do), against 5.0 s in bf16, 4.4 s in bf16 with channels-last tensors and 2.6 s with the encoder and
decoder also compiled (``benchmarks/vae_speed.py``; the DiT's 50 steps take about 150 s). Upstream
LongVie 2 (DiffSynth-Studio) casts every component to the pipeline dtype, so bf16 is also the faithful
choice; Wan's own I2V code and diffusers' run the VAE in float32.

* ``channels_last``: the 3-D convolutions' weights and the inputs in NDHWC (measured 12% faster in bf16 and
  10% in float32 on an H100; which kernels changed was not profiled). Same arithmetic, other kernels: the
  rounding differs, nothing else. Used on CUDA only.
* ``compiled``: ``torch.compile`` of the encoder and the decoder in place (the VAE's state dict keeps its
  keys), with static shapes. diffusers calls them once per causal time chunk; the first chunk, the second
  and the rest differ in their cache shapes, so each module compiles a handful of graphs, once per process.
  :func:`vae_calls` raises Dynamo's recompile limit around the VAE's calls so that they all compile instead
  of silently running eagerly. Measured with torch 2.11 on an H100: the first clip spends 100-175 s
  compiling, and the second clip's decode recompiles once more, for about 40 s; later clips compile nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

#: Dynamo's per-function recompile limit inside :func:`vae_calls` (its default is 8). With torch 2.14 on CPU
#: each of the encoder and decoder compiles 3-4 graphs per batch size. With torch 2.11 on an H100, the
#: decoder's ``feat_cache[idx] != "Rep"`` (a tensor compared with a string) broke the graph inside its loop, so
#: Dynamo compiled the decoder's submodules one by one instead, one of them 12 times for a clip. The default
#: limit then left them running eagerly.
VAE_RECOMPILE_LIMIT = 64


@dataclass(frozen=True)
class VaeRuntime:
    """The VAE's dtype and speed switches (see the module docstring)."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    compiled: bool = False


def prepare_vae(vae: torch.nn.Module, runtime: VaeRuntime) -> None:
    """Cast ``vae`` to ``runtime.dtype``, put its convolution weights channels-last, compile its encoder and
    decoder, as ``runtime`` says; in place, parameter names unchanged."""
    torch.nn.Module.to(vae, dtype=runtime.dtype)  # diffusers' own to() warns about float32 modules the VAE lacks
    if runtime.channels_last:
        for param in vae.parameters():
            if param.dim() == 5:
                param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
            elif param.dim() == 4:  # the 2-D convolutions of the spatial resampling and the attention
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    if runtime.compiled:
        vae.encoder.compile(dynamic=False)
        vae.decoder.compile(dynamic=False)


def vae_input(tensor: torch.Tensor, runtime: VaeRuntime) -> torch.Tensor:
    """A (B, C, T, H, W) video or latent tensor in the VAE's dtype and layout."""
    tensor = tensor.to(runtime.dtype)
    return tensor.contiguous(memory_format=torch.channels_last_3d) if runtime.channels_last else tensor


@contextlib.contextmanager
def vae_calls(runtime: VaeRuntime) -> Iterator[None]:
    """Around the VAE's encode/decode calls: a recompile limit its compiled chunks fit in."""
    if not runtime.compiled:
        yield
        return
    import torch._dynamo

    limit = max(VAE_RECOMPILE_LIMIT, torch._dynamo.config.recompile_limit)
    with torch._dynamo.config.patch(recompile_limit=limit):
        yield


__all__ = ["VAE_RECOMPILE_LIMIT", "VaeRuntime", "prepare_vae", "vae_calls", "vae_input"]
