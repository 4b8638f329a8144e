"""The LayerNorms of a Wan block, with their residual adds and AdaLN modulation, as one Triton kernel each.

Why: in a compiled LongVie 2 step on an H100 the three LayerNorm kernels Inductor makes for each Wan
block took 111 ms of a 3.07 s step (``benchmarks/longvie2_speed.py --profile-out``), most of them well
below the memory bandwidth: the one before self-attention ran at about 1.2 TB/s. Each row is 5,120
(base) or 2,560 (control) values, so one program can hold a whole row in registers: read the row (and
the branch output it adds) once, write the new residual stream and the normalised row once.

Numbers: the same arithmetic and roundings as diffusers' ``WanTransformerBlock.forward``: the residual
``x + y * gate`` (or ``x + y``) in float32, rounded once to the activation dtype; the LayerNorm in float32
over the rounded row (mean, then the mean of squared deviations); the affine weight and bias (``norm2``)
or the modulation ``* (1 + scale) + shift`` in float32; rounded once. On CPU and under autograd the ops
run the same arithmetic in plain torch (:func:`residual_layernorm_reference`).

:class:`FusedNormWanBlock` is diffusers' block with its forward written around the two ops
(``layernorm_modulate`` before self-attention; ``residual_layernorm`` after self-attention, with
``norm2``'s affine, and after cross-attention, with the FFN's modulation); the feed-forward residual stays
with Inductor, which already runs it at the bandwidth. :func:`set_fused_block_norms` swaps the class of
existing blocks (parameter names unchanged).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import WanTransformerBlock


def residual_layernorm_reference(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None,
                                 weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                                 shift: torch.Tensor | None, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(new residual stream, normalised rows), both in ``x``'s dtype; plain torch, any device.

    ``x``, ``y``: (B, L, C); ``gate``, ``scale``, ``shift``: (B, 1, C) float32; ``weight``, ``bias``: (C,).
    Without ``y`` the new stream is ``x`` itself.
    """
    stream = x
    if y is not None:
        stream = (x.float() + (y * gate if gate is not None else y.float())).to(x.dtype)
    normed = torch.nn.functional.layer_norm(stream.float(), stream.shape[-1:],
                                            None if weight is None else weight.float(),
                                            None if bias is None else bias.float(), eps)
    if scale is not None:
        normed = normed * (1 + scale) + shift
    return stream, normed.to(x.dtype)


@functools.cache
def _kernel() -> Any:
    """The Triton kernel, built on first use (Triton is imported only where the ops run on CUDA)."""
    import triton
    import triton.language as tl

    @triton.jit
    def residual_layernorm_kernel(x, y, gate, weight, bias, scale, shift, out_stream, out_normed, length,
                                  gate_stride, scale_stride, shift_stride, eps, DIM: tl.constexpr, BLOCK: tl.constexpr,
                                  HAS_RESIDUAL: tl.constexpr, HAS_GATE: tl.constexpr, HAS_AFFINE: tl.constexpr,
                                  HAS_MODULATION: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        batch = row // length
        cols = tl.arange(0, BLOCK)
        mask = cols < DIM
        value = tl.load(x + row * DIM + cols, mask=mask, other=0.0).to(tl.float32)
        if HAS_RESIDUAL:
            branch = tl.load(y + row * DIM + cols, mask=mask, other=0.0).to(tl.float32)
            if HAS_GATE:
                branch = branch * tl.load(gate + batch * gate_stride + cols, mask=mask, other=0.0)
            rounded = (value + branch).to(out_stream.dtype.element_ty)
            tl.store(out_stream + row * DIM + cols, rounded, mask=mask)
            value = rounded.to(tl.float32)
        mean = tl.sum(value, axis=0) / DIM
        centred = tl.where(mask, value - mean, 0.0)
        normed = centred * tl.rsqrt(tl.sum(centred * centred, axis=0) / DIM + eps)
        if HAS_AFFINE:
            normed = (normed * tl.load(weight + cols, mask=mask, other=0.0).to(tl.float32)
                      + tl.load(bias + cols, mask=mask, other=0.0).to(tl.float32))
        if HAS_MODULATION:
            normed = (normed * (1.0 + tl.load(scale + batch * scale_stride + cols, mask=mask, other=0.0))
                      + tl.load(shift + batch * shift_stride + cols, mask=mask, other=0.0))
        tl.store(out_normed + row * DIM + cols, normed.to(out_normed.dtype.element_ty), mask=mask)

    return residual_layernorm_kernel


def _modulation(t: torch.Tensor | None, batch: int, dim: int, name: str) -> tuple[torch.Tensor | None, int]:
    """A (B or 1, 1, C) float32 modulation tensor and its batch stride (0 when it broadcasts)."""
    if t is None:
        return None, 0
    if t.dim() != 3 or t.shape[1] != 1 or t.shape[2] != dim or t.shape[0] not in (1, batch):
        raise ValueError(f"residual_layernorm: {name} {tuple(t.shape)} is not (B, 1, {dim}) for B={batch}")
    t = t.float()
    if t.stride(-1) != 1:
        t = t.contiguous()
    return t, (t.stride(0) if t.shape[0] == batch and batch > 1 else 0)


def residual_layernorm_triton(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None,
                              weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                              shift: torch.Tensor | None, eps: float, num_warps: int | None = None,
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel (any device Triton runs on, its CPU interpreter included): same contract as the reference."""
    import triton

    if x.dim() != 3 or (y is not None and y.shape != x.shape):
        raise ValueError(f"residual_layernorm: x {tuple(x.shape)} and y "
                         f"{None if y is None else tuple(y.shape)} must be the same (B, L, C)")
    if (weight is None) != (bias is None) or (scale is None) != (shift is None) or (gate is not None and y is None):
        raise ValueError("residual_layernorm: weight/bias and scale/shift come in pairs, gate needs y")
    batch, length, dim = x.shape
    gate_t, gate_stride = _modulation(gate, batch, dim, "gate")
    scale_t, scale_stride = _modulation(scale, batch, dim, "scale")
    shift_t, shift_stride = _modulation(shift, batch, dim, "shift")
    x = x.contiguous()
    y = None if y is None else y.contiguous()
    stream = torch.empty_like(x) if y is not None else x
    normed = torch.empty_like(x)
    block = triton.next_power_of_2(dim)
    dummy = x  # never read: the constexpr flags switch its loads off
    _kernel()[(batch * length,)](
        x, dummy if y is None else y, dummy if gate_t is None else gate_t,
        dummy if weight is None else weight.contiguous(), dummy if bias is None else bias.contiguous(),
        dummy if scale_t is None else scale_t, dummy if shift_t is None else shift_t, stream, normed, length,
        gate_stride, scale_stride, shift_stride, eps, DIM=dim, BLOCK=block, HAS_RESIDUAL=y is not None,
        HAS_GATE=gate_t is not None, HAS_AFFINE=weight is not None, HAS_MODULATION=scale_t is not None,
        num_warps=num_warps or (8 if block > 4096 else 4))  # measured best on an H100 (block_norms_kernel.py)
    return stream, normed


def _run(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None, weight: torch.Tensor | None,
         bias: torch.Tensor | None, scale: torch.Tensor | None, shift: torch.Tensor | None, eps: float,
         ) -> tuple[torch.Tensor, torch.Tensor]:
    if x.device.type == "cuda":
        return residual_layernorm_triton(x, y, gate, weight, bias, scale, shift, eps)
    return residual_layernorm_reference(x, y, gate, weight, bias, scale, shift, eps)


@torch.library.custom_op("longvie::layernorm_modulate", mutates_args=())
def layernorm_modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    """``LayerNorm(x) * (1 + scale) + shift`` (no affine), rounded once: the Triton kernel on CUDA, the
    reference elsewhere. A custom op so ``torch.compile`` keeps it as one opaque node."""
    return _run(x, None, None, None, None, scale, shift, eps)[1]


@layernorm_modulate.register_fake
def _layernorm_modulate_fake(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("longvie::residual_layernorm", mutates_args=())
def residual_layernorm(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None, weight: torch.Tensor | None,
                       bias: torch.Tensor | None, scale: torch.Tensor | None, shift: torch.Tensor | None,
                       eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``x + y * gate`` (or ``x + y``) and its LayerNorm (with the affine or the modulation): the Triton
    kernel on CUDA, the reference elsewhere."""
    return _run(x, y, gate, weight, bias, scale, shift, eps)


@residual_layernorm.register_fake
def _residual_layernorm_fake(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None,
                             weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                             shift: torch.Tensor | None, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(x), torch.empty_like(x)


class FusedNormWanBlock(WanTransformerBlock):
    """diffusers' Wan block whose norms, residual adds and modulation run as the two ops above.

    Same parameters and state dict as ``WanTransformerBlock`` (blocks get this class by
    :func:`set_fused_block_norms`). diffusers' forward runs instead while autograd records (the ops have
    no derivative), for Wan 2.2's per-token modulation (4-D ``temb``), without ``norm2`` (no cross-attention
    norm), and with the norms' weights elsewhere than the activations (offloaded: their onload hooks run
    only when the modules are called).
    """

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: Any, temb: torch.Tensor,
                rotary_emb: Any) -> torch.Tensor:
        if not self.fusable(hidden_states, temb):
            return super().forward(hidden_states, encoder_hidden_states, temb, rotary_emb)
        stream, normed = self.self_attention_stage(hidden_states, temb, rotary_emb)
        return self.cross_ffn_stage(stream, normed, encoder_hidden_states, temb)

    def self_attention_stage(self, hidden_states: torch.Tensor, temb: torch.Tensor,
                             rotary_emb: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """First half of the fused forward: (stream after the self-attention residual, its ``norm2``)."""
        shift, scale, gate = (self.scale_shift_table[:, :3] + temb[:, :3].float()).chunk(3, dim=1)
        normed = torch.ops.longvie.layernorm_modulate(hidden_states, scale, shift, self.norm1.eps)
        attention = self.attn1(normed, None, None, rotary_emb)
        return torch.ops.longvie.residual_layernorm(
            hidden_states, attention, gate, self.norm2.weight, self.norm2.bias, None, None, self.norm2.eps)

    def cross_ffn_stage(self, hidden_states: torch.Tensor, normed: torch.Tensor, encoder_hidden_states: Any,
                        temb: torch.Tensor) -> torch.Tensor:
        """Second half of the fused forward: cross-attention and the feed-forward, with their residuals."""
        c_shift, c_scale, c_gate = (self.scale_shift_table[:, 3:] + temb[:, 3:].float()).chunk(3, dim=1)
        attention = self.attn2(normed, encoder_hidden_states, None, None)
        hidden_states, normed = torch.ops.longvie.residual_layernorm(
            hidden_states, attention, None, None, None, c_scale, c_shift, self.norm3.eps)
        feed_forward = self.ffn(normed)
        return (hidden_states.float() + feed_forward.float() * c_gate).type_as(hidden_states)

    def fusable(self, hidden_states: torch.Tensor, temb: torch.Tensor) -> bool:
        """Whether the fused stages can run for these inputs (else diffusers' arithmetic must: see the class)."""
        recording = torch.is_grad_enabled() and (hidden_states.requires_grad or self.scale_shift_table.requires_grad)
        norm2 = self.norm2
        return (not recording and temb.ndim == 3 and isinstance(norm2, FP32LayerNorm)
                and norm2.weight is not None and norm2.bias is not None
                and norm2.weight.device == hidden_states.device
                and self.scale_shift_table.device == hidden_states.device)


def set_fused_block_norms(blocks: list[torch.nn.Module], enabled: bool) -> int:
    """Give these Wan blocks :class:`FusedNormWanBlock`'s forward (or diffusers' back); returns how many have it."""
    for block in blocks:
        if not isinstance(block, WanTransformerBlock):
            raise TypeError(f"not a Wan block: {type(block).__name__}")
        block.__class__ = FusedNormWanBlock if enabled else WanTransformerBlock
    return len(blocks) if enabled else 0


__all__ = ["FusedNormWanBlock", "layernorm_modulate", "residual_layernorm", "residual_layernorm_reference",
           "residual_layernorm_triton", "set_fused_block_norms"]
