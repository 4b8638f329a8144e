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
``norm2``'s affine, and after cross-attention, with the FFN's modulation). The feed-forward residual runs in
Inductor (at the bandwidth), unless ``LongVie2Transformer.forward`` asks the block to hand it on
(:class:`DeferredResidual`): then the next block's first ``residual_layernorm`` adds it, and the control
injection, before normalising (6-8 ms a step on an H100, ``benchmarks/RESULTS.md``, tenth session).
:func:`set_fused_block_norms` swaps the class of existing blocks (parameter names unchanged).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import WanTransformerBlock


def _inject(stream: torch.Tensor, injection: torch.Tensor, start: int) -> torch.Tensor:
    """``stream`` with ``injection`` added to rows ``start:`` in float32, rounded once (out of place)."""
    clip = (stream[:, start:].float() + injection.float()).to(stream.dtype)
    return torch.cat([stream[:, :start], clip], dim=1)


def residual_layernorm_reference(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None,
                                 weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                                 shift: torch.Tensor | None, eps: float, injection: torch.Tensor | None = None,
                                 injection_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(new residual stream, normalised rows), both in ``x``'s dtype; plain torch, any device.

    ``x``, ``y``: (B, L, C); ``gate``, ``scale``, ``shift``: (B, 1, C) float32; ``weight``, ``bias``: (C,).
    Without ``y`` the new stream is ``x`` itself. ``injection`` (B, L - injection_start, C), which needs ``y``:
    added to rows ``injection_start:`` of the new stream after its first rounding, and rounded again (the
    control injection of ``LongVie2Transformer.forward``, an in-place add of the rounded stream).
    """
    stream = x
    if y is not None:
        stream = (x.float() + (y * gate if gate is not None else y.float())).to(x.dtype)
        if injection is not None:
            stream = _inject(stream, injection, injection_start)
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
                                  gate_stride, scale_stride, shift_stride, eps, injection, injection_start,
                                  DIM: tl.constexpr, BLOCK: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
                                  HAS_GATE: tl.constexpr, HAS_AFFINE: tl.constexpr, HAS_MODULATION: tl.constexpr,
                                  HAS_INJECTION: tl.constexpr):
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
            if HAS_INJECTION:  # rows from injection_start on: + injection, rounded again; earlier rows load nothing
                position = row - batch * length
                injected = position >= injection_start
                source = injection + ((batch * (length - injection_start) + position - injection_start) * DIM + cols)
                extra = tl.load(source, mask=mask & injected, other=0.0).to(tl.float32)
                rounded = tl.where(injected, (rounded.to(tl.float32) + extra).to(out_stream.dtype.element_ty),
                                   rounded)
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


def _check_arguments(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None,
                     weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                     shift: torch.Tensor | None, injection: torch.Tensor | None, injection_start: int) -> None:
    """Clear errors for shapes and argument combinations the ops do not take."""
    if x.dim() != 3 or (y is not None and y.shape != x.shape):
        raise ValueError(f"residual_layernorm: x {tuple(x.shape)} and y "
                         f"{None if y is None else tuple(y.shape)} must be the same (B, L, C)")
    if (weight is None) != (bias is None) or (scale is None) != (shift is None) or (gate is not None and y is None):
        raise ValueError("residual_layernorm: weight/bias and scale/shift come in pairs, gate needs y")
    if injection is not None:
        batch, length, dim = x.shape
        if y is None or not 0 <= injection_start < length:
            raise ValueError(f"residual_layernorm: an injection needs y and a start row in [0, {length}), "
                             f"got start {injection_start}")
        if tuple(injection.shape) != (batch, length - injection_start, dim):
            raise ValueError(f"residual_layernorm: injection {tuple(injection.shape)} is not "
                             f"({batch}, {length - injection_start}, {dim}) for rows {injection_start}: of x")


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
                              shift: torch.Tensor | None, eps: float, injection: torch.Tensor | None = None,
                              injection_start: int = 0, num_warps: int | None = None,
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel (any device Triton runs on, its CPU interpreter included): same contract as the reference."""
    import triton

    _check_arguments(x, y, gate, weight, bias, scale, shift, injection, injection_start)
    batch, length, dim = x.shape
    gate_t, gate_stride = _modulation(gate, batch, dim, "gate")
    scale_t, scale_stride = _modulation(scale, batch, dim, "scale")
    shift_t, shift_stride = _modulation(shift, batch, dim, "shift")
    x = x.contiguous()
    y = None if y is None else y.contiguous()
    injection = None if injection is None else injection.contiguous()
    stream = torch.empty_like(x) if y is not None else x
    normed = torch.empty_like(x)
    block = triton.next_power_of_2(dim)
    dummy = x  # never read: the constexpr flags switch its loads off
    _kernel()[(batch * length,)](
        x, dummy if y is None else y, dummy if gate_t is None else gate_t,
        dummy if weight is None else weight.contiguous(), dummy if bias is None else bias.contiguous(),
        dummy if scale_t is None else scale_t, dummy if shift_t is None else shift_t, stream, normed, length,
        gate_stride, scale_stride, shift_stride, eps, dummy if injection is None else injection, injection_start,
        DIM=dim, BLOCK=block, HAS_RESIDUAL=y is not None, HAS_GATE=gate_t is not None, HAS_AFFINE=weight is not None,
        HAS_MODULATION=scale_t is not None, HAS_INJECTION=injection is not None,
        num_warps=num_warps or (8 if block > 4096 else 4))  # measured best on an H100 (block_norms_kernel.py)
    return stream, normed


def _run(x: torch.Tensor, y: torch.Tensor | None, gate: torch.Tensor | None, weight: torch.Tensor | None,
         bias: torch.Tensor | None, scale: torch.Tensor | None, shift: torch.Tensor | None, eps: float,
         injection: torch.Tensor | None = None, injection_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    if x.device.type == "cuda":
        return residual_layernorm_triton(x, y, gate, weight, bias, scale, shift, eps, injection, injection_start)
    _check_arguments(x, y, gate, weight, bias, scale, shift, injection, injection_start)
    return residual_layernorm_reference(x, y, gate, weight, bias, scale, shift, eps, injection, injection_start)


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
                       eps: float, injection: torch.Tensor | None = None, injection_start: int = 0,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``x + y * gate`` (or ``x + y``), plus ``injection`` on rows ``injection_start:``, and its LayerNorm (with
    the affine or the modulation): the Triton kernel on CUDA, the reference elsewhere."""
    return _run(x, y, gate, weight, bias, scale, shift, eps, injection, injection_start)


@residual_layernorm.register_fake
def _residual_layernorm_fake(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None,
                             weight: torch.Tensor | None, bias: torch.Tensor | None, scale: torch.Tensor | None,
                             shift: torch.Tensor | None, eps: float, injection: torch.Tensor | None = None,
                             injection_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(x), torch.empty_like(x)


class DeferredResidual(NamedTuple):
    """A Wan block's output whose last residual add, ``stream + branch * gate``, is left to the next block.

    Why: the feed-forward residual of one block and the first LayerNorm of the next read and write the same
    rows; handed over like this, the next block's first kernel adds the residual (and the control injection,
    if any) and normalises in one pass over memory. A NamedTuple because compiled blocks return and take it.
    ``stream`` (B, L, C) in the activation dtype; ``branch`` (B, L, C) the feed-forward output; ``gate``
    (B, 1, C) float32.
    """

    stream: torch.Tensor
    branch: torch.Tensor
    gate: torch.Tensor


def complete_residual(state: torch.Tensor | DeferredResidual, injection: torch.Tensor | None = None,
                      injection_start: int = 0) -> torch.Tensor:
    """The finished residual stream of ``state`` (plain torch, the blocks' arithmetic), plus ``injection``
    on rows ``injection_start:``; a tensor without an injection comes back as it is."""
    if isinstance(state, DeferredResidual):
        stream, branch, gate = state
        state = (stream.float() + branch.float() * gate).type_as(stream)
    return state if injection is None else _inject(state, injection, injection_start)


class FusedNormWanBlock(WanTransformerBlock):
    """diffusers' Wan block whose norms, residual adds and modulation run as the two ops above.

    Same parameters and state dict as ``WanTransformerBlock`` (blocks get this class by
    :func:`set_fused_block_norms`). diffusers' forward runs instead while autograd records (the ops have
    no derivative), for Wan 2.2's per-token modulation (4-D ``temb``), without ``norm2`` (no cross-attention
    norm), and with the norms' weights elsewhere than the activations (offloaded: their onload hooks run
    only when the modules are called).

    Beyond diffusers' arguments, for ``LongVie2Transformer.forward``'s loop: ``hidden_states`` may be the
    previous block's :class:`DeferredResidual`, finished here with ``injection`` added to rows
    ``injection_start:``; ``defer`` returns this block's output as a :class:`DeferredResidual` (where the fused
    path runs; diffusers' path returns the finished tensor); ``query_start`` > 0 returns rows ``query_start:``
    only, the earlier rows serving as self-attention keys and values alone (history tokens in the last block,
    whose outputs are dropped): those rows of the full output, for less work (kernels may round differently
    at another row count, as at any shape).
    """

    def forward(self, hidden_states: torch.Tensor | DeferredResidual, encoder_hidden_states: Any,
                temb: torch.Tensor, rotary_emb: Any, *, injection: torch.Tensor | None = None,
                injection_start: int = 0, defer: bool = False,
                query_start: int = 0) -> torch.Tensor | DeferredResidual:
        rows = hidden_states.stream if isinstance(hidden_states, DeferredResidual) else hidden_states
        if not self.fusable(rows, temb):
            finished = complete_residual(hidden_states, injection, injection_start)
            output = super().forward(finished, encoder_hidden_states, temb, rotary_emb)
            return output[:, query_start:] if query_start else output
        stream, normed = self.self_attention_stage(hidden_states, temb, rotary_emb, injection=injection,
                                                   injection_start=injection_start, query_start=query_start)
        return self.cross_ffn_stage(stream, normed, encoder_hidden_states, temb, defer=defer)

    def self_attention_stage(self, hidden_states: torch.Tensor | DeferredResidual, temb: torch.Tensor,
                             rotary_emb: Any, *, injection: torch.Tensor | None = None, injection_start: int = 0,
                             query_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """First half of the fused forward: (stream after the self-attention residual, its ``norm2``), of rows
        ``query_start:``."""
        shift, scale, gate = (self.scale_shift_table[:, :3] + temb[:, :3].float()).chunk(3, dim=1)
        if isinstance(hidden_states, DeferredResidual):
            stream, branch, branch_gate = hidden_states
            stream, normed = torch.ops.longvie.residual_layernorm(
                stream, branch, branch_gate, None, None, scale, shift, self.norm1.eps, injection, injection_start)
        else:
            if injection is not None:
                raise ValueError("an injection is added with the previous block's deferred residual")
            stream = hidden_states
            normed = torch.ops.longvie.layernorm_modulate(stream, scale, shift, self.norm1.eps)
        if query_start:
            attention = self._self_attention_from(normed, rotary_emb, query_start)
            stream = stream[:, query_start:]
        else:
            attention = self.attn1(normed, None, None, rotary_emb)
        return torch.ops.longvie.residual_layernorm(
            stream, attention, gate, self.norm2.weight, self.norm2.bias, None, None, self.norm2.eps)

    def _self_attention_from(self, normed: torch.Tensor, rotary_emb: Any, query_start: int) -> torch.Tensor:
        """Self-attention outputs of rows ``query_start:`` (every row a key): the fused query/key processor
        computes only those queries; any other processor computes all rows, sliced."""
        processor = self.attn1.processor
        if hasattr(processor, "attend_from"):  # longvie.qk_rope.FusedQKRopeAttnProcessor
            return processor.attend_from(self.attn1, normed, rotary_emb, query_start)
        return self.attn1(normed, None, None, rotary_emb)[:, query_start:]

    def cross_ffn_stage(self, hidden_states: torch.Tensor, normed: torch.Tensor, encoder_hidden_states: Any,
                        temb: torch.Tensor, *, defer: bool = False) -> torch.Tensor | DeferredResidual:
        """Second half of the fused forward: cross-attention and the feed-forward, with their residuals (the
        last one left to the next block with ``defer``)."""
        c_shift, c_scale, c_gate = (self.scale_shift_table[:, 3:] + temb[:, 3:].float()).chunk(3, dim=1)
        attention = self.attn2(normed, encoder_hidden_states, None, None)
        hidden_states, normed = torch.ops.longvie.residual_layernorm(
            hidden_states, attention, None, None, None, c_scale, c_shift, self.norm3.eps)
        deferred = DeferredResidual(hidden_states, self.ffn(normed), c_gate)
        return deferred if defer else complete_residual(deferred)

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


__all__ = ["DeferredResidual", "FusedNormWanBlock", "complete_residual", "layernorm_modulate", "residual_layernorm",
           "residual_layernorm_reference", "residual_layernorm_triton", "set_fused_block_norms"]
