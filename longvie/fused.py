"""The Wan feed-forward's up-projection and tanh-GELU as one cuBLASLt call (its GELU epilogue), on CUDA.

Why: in a compiled LongVie 2 step the FFN up-projection writes its (tokens x 13,824) output, and a
separate kernel reads it back to add the bias and apply GELU and writes it again: about 2.2 GB of
memory traffic per base block and CFG step that does no arithmetic worth the name.
``torch._addmm_activation(bias, x, W^T, use_gelu=True)`` asks cuBLASLt to add the bias and apply the
tanh approximation of GELU (the one Wan's ``FeedForward`` uses) in the GEMM's epilogue, on the fp32
accumulator, so that traffic disappears. ``torch.compile`` keeps the call as one extern kernel
(Inductor registers a fallback for it instead of decomposing it).

``backend="quack"`` runs the same epilogue in quack's CuTe-DSL GEMM instead (``longvie.quack_gelu``,
Hopper only), measured 17 ms a step faster on an H100.

Where it does not apply, :class:`EpilogueGeluFeedForward` runs diffusers' own modules unchanged:
on CPU (where ``_addmm_activation``'s GELU is the exact one, not tanh's), in fp32, when autograd
is recording (the op has no derivative formula there), or when the weights are elsewhere than the input
(offloaded: only the module's own call runs its onload hook; the pipeline also leaves the switch off
with group offloading). The numbers differ from the two-kernel path by rounding only: the epilogue
applies GELU before the one bf16 rounding, the two-kernel path after rounding the GEMM output
(``benchmarks/longvie2_gemms.py`` prints the difference).
"""

from __future__ import annotations

import torch
from diffusers.models.attention import FeedForward
from torch import nn

from longvie.config import GELU_BACKENDS

#: dtypes the epilogue path takes (cuBLASLt's GELU epilogue in half precision).
EPILOGUE_DTYPES = (torch.bfloat16, torch.float16)


def epilogue_applies(x: torch.Tensor, proj: nn.Linear) -> bool:
    """Whether this call can use the cuBLASLt GELU epilogue (CUDA, half precision, a bias, no autograd)."""
    if x.device.type != "cuda" or x.dtype not in EPILOGUE_DTYPES or proj.bias is None:
        return False
    if proj.weight.device != x.device:  # offloaded weights: calling the module lets its onload hook run
        return False
    return not (torch.is_grad_enabled() and (x.requires_grad or proj.weight.requires_grad))


class EpilogueGeluFeedForward(nn.Module):
    """Drop-in for diffusers' Wan ``FeedForward`` (GELU-tanh): same submodules, so the same parameter names.

    ``enabled`` switches the epilogue path on and off without reinstalling, ``backend`` picks its GEMM
    (plain attributes: a compiled block guards on them and recompiles when they change).
    """

    def __init__(self, original: FeedForward, enabled: bool = True, backend: str = "cublaslt") -> None:
        super().__init__()
        activation = original.net[0]
        if getattr(activation, "approximate", None) != "tanh" or not isinstance(original.net[-1], nn.Linear):
            raise ValueError("EpilogueGeluFeedForward wraps a FeedForward with a tanh-GELU projection and a "
                             f"final Linear, got {original}")
        self.net = original.net
        self.enabled = enabled
        self.backend = backend

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        proj = self.net[0].proj
        if self.enabled and epilogue_applies(hidden_states, proj):
            rows = hidden_states.reshape(-1, hidden_states.shape[-1])
            if self.backend == "quack":  # registered by set_gelu_epilogue (longvie.quack_gelu)
                inner = torch.ops.longvie.quack_gelu_linear(rows, proj.weight, proj.bias)
            else:
                inner = torch._addmm_activation(proj.bias, rows, proj.weight.t(), use_gelu=True)
            for module in self.net[1:]:
                inner = module(inner)
            return inner.reshape(*hidden_states.shape[:-1], inner.shape[-1])
        for module in self.net:
            hidden_states = module(hidden_states)
        return hidden_states


def set_gelu_epilogue(blocks: list[nn.Module], enabled: bool, backend: str = "cublaslt") -> int:
    """Switch the epilogue FFN on or off in these Wan blocks (installing the wrapper on first use).

    Returns how many blocks now have it enabled. Switching off keeps the wrappers (they then run
    diffusers' path), so parameter names and compiled graphs stay valid either way. ``backend="quack"``
    needs quack and a Hopper GPU where the blocks' weights are on CUDA (a clear error otherwise).
    """
    if backend not in GELU_BACKENDS:
        raise ValueError(f"gelu epilogue backend {backend!r}: choose one of {GELU_BACKENDS}")
    if enabled and backend == "quack":
        from longvie.quack_gelu import quack_gelu_available  # registers longvie::quack_gelu_linear

        devices = {p.device for block in blocks for p in block.ffn.parameters()}
        unusable = [d for d in devices if d.type == "cuda" and not quack_gelu_available(d)]
        if unusable:
            raise RuntimeError(f"gelu epilogue backend 'quack' cannot run on {unusable[0]}: it needs a Hopper "
                               "(SM90) GPU and the quack-kernels package (pip install quack-kernels)")
    count = 0
    for block in blocks:
        ffn = block.ffn
        if isinstance(ffn, EpilogueGeluFeedForward):
            ffn.enabled, ffn.backend = enabled, backend
        elif enabled:
            block.ffn = EpilogueGeluFeedForward(ffn, backend=backend)
        else:
            continue
        count += int(enabled)
    return count


__all__ = ["EPILOGUE_DTYPES", "GELU_BACKENDS", "EpilogueGeluFeedForward", "epilogue_applies", "set_gelu_epilogue"]
