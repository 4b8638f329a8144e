"""The FFN up-projection + bias + tanh-GELU as one quack (CuTe-DSL) GEMM on Hopper GPUs.

Why: on an H100, cuBLASLt's GELU epilogue (``longvie.fused``) costs 6-17% over the plain GEMM of the
same shape (base 8.19 ms against 7.74 ms, control 2.08 against 1.78 ms), while quack's SM90 GEMM (Tri
Dao's CuTe-DSL kernels, a dependency of FlashAttention-4) with the same bias + GELU in its epilogue
took 7.81 and 1.82 ms (``benchmarks/gemm_epilogues.py``, its autotuned tiles): about 21 ms of a 3 s
LongVie 2 step by those kernel times, 17 ms measured in the whole compiled step (2.957 against 2.974 s,
``benchmarks/longvie2_speed.py --variants``). The numbers are the same up to rounding: both add the bias
and apply the tanh approximation to the float32 accumulator and round once (the kernels check gives the
same 0.005 as every other switch).

quack is optional: :func:`quack_gelu_available` says whether it imports and the GPU is a Hopper
(SM90); where it cannot run, the adapter refuses ``gelu_backend=quack`` before loading weights and
``longvie.fused.set_gelu_epilogue`` refuses it for blocks on that GPU (no silent fallback). LongVie 2's
two FFN shapes run the tiles quack's autotuner chose for them on an H100 (:data:`PINNED_SM90_TILES`), so
every process runs the same kernel and a resumed video rounds as an uninterrupted one. Any other shape
is autotuned once per process (a few minutes on the first call, and a transient few GiB for the
autotuner's input copies).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)

#: (in_features, out_features) -> quack SM90 tile (tile M, tile N, pingpong, cluster M, cluster N, swap A/B):
#: the autotuner's choices on an H100 for the base and control FFN up-projections at LongVie 2's rows
#: (40,480 and 36,960), ``benchmarks/longvie2_speed.py --variants ...+qgelu+compile``.
PINNED_SM90_TILES: dict[tuple[int, int], tuple[int, int, bool, int, int, bool]] = {
    (5120, 13_824): (256, 192, False, 1, 2, True),
    (2560, 6912): (128, 208, True, 2, 1, True),
}

#: (in_features, out_features, rows) -> the quack GemmConfig used for that shape in this process.
_CHOSEN: dict[tuple[int, int, int], Any] = {}


def _pinned(in_features: int, out_features: int) -> Any:
    tile = PINNED_SM90_TILES.get((in_features, out_features))
    if tile is None:
        return None
    from quack.gemm_config import GemmConfig

    tile_m, tile_n, pingpong, cluster_m, cluster_n, swap_ab = tile
    return GemmConfig(tile_m=tile_m, tile_n=tile_n, pingpong=pingpong, cluster_m=cluster_m, cluster_n=cluster_n,
                      swap_ab=swap_ab, is_dynamic_persistent=False, device_capacity=9)


@functools.cache
def _quack_importable() -> bool:
    try:
        import cutlass.cute  # noqa: F401
        import quack.epilogue.frontend  # noqa: F401
    except Exception:
        return False
    return True


def quack_gelu_available(device: torch.device) -> bool:
    """Whether the quack path can run on ``device``: CUDA, compute capability 9.x, quack importable."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] == 9 and _quack_importable()


@functools.cache
def gelu_epilogue_mod() -> Any:
    """The epilogue: ``gelu_tanh(acc + bias)`` on the float32 accumulator (bias a row vector)."""
    import cutlass.cute as cute
    from quack.epilogue.frontend import gemm_epilogue
    from quack.epilogue.ops import RowVecLoad

    @gemm_epilogue(ops={"bias": RowVecLoad("bias")})
    def gelu_bias_epilogue(acc, bias):
        x = acc + bias
        inner = x * (0.7978845608028654 + 0.035677408136300125 * x * x)
        return {"D": 0.5 * x * (1.0 + cute.math.tanh(inner, fastmath=True))}

    return gelu_bias_epilogue


def _config_for(x: torch.Tensor, weight_kn: torch.Tensor, bias: torch.Tensor) -> Any:
    key = (weight_kn.shape[0], weight_kn.shape[1], x.shape[0])
    config = _CHOSEN.get(key)
    if config is None:
        config = _pinned(key[0], key[1])
    if config is None:
        out = torch.empty(x.shape[0], weight_kn.shape[1], dtype=x.dtype, device=x.device)
        config = gelu_epilogue_mod().gemm_tuned(x, weight_kn, out, None, epi_args={"bias": bias}, b_kn=True).config
        logger.info("quack GELU GEMM %s: autotuned config %s", key, config)
    _CHOSEN[key] = config
    return config


def gelu_linear_quack_eager(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu_tanh(x @ weight.T + bias)`` for 2-D ``x`` (rows, in) through quack; ``weight`` (out, in)."""
    weight_kn = weight.t()
    bias32 = bias.float().contiguous()
    config = _config_for(x, weight_kn, bias32)
    return gelu_epilogue_mod()(x, weight_kn, config=config, tuned=False, bias=bias32)["D"]


@torch.library.custom_op("longvie::quack_gelu_linear", mutates_args=())
def quack_gelu_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One opaque node for ``torch.compile`` (the quack call decides its kernel on the host)."""
    return gelu_linear_quack_eager(x.contiguous(), weight, bias)


@quack_gelu_linear.register_fake
def _quack_gelu_linear_fake(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], weight.shape[0])


def chosen_configs() -> dict[str, str]:
    """The tiles chosen so far, for a bench's JSON (shape ``in x out x rows`` -> config repr)."""
    return {"x".join(map(str, key)): repr(config) for key, config in _CHOSEN.items()}


__all__ = ["PINNED_SM90_TILES", "chosen_configs", "gelu_epilogue_mod", "gelu_linear_quack_eager",
           "quack_gelu_available", "quack_gelu_linear"]
