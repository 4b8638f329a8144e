"""Wan self-attention's query/key RMSNorm and rotary embedding as one Triton kernel, on CUDA.

Why: in a compiled LongVie 2 step, Inductor's kernel for ``norm_q``/``norm_k`` (an RMSNorm across all
heads) followed by Wan's interleaved RoPE ran at about 0.9 TB/s on an H100 (90 ms of each 3.1 s step,
``benchmarks/longvie2_speed.py --profile-out``): it reads every row twice (a looped reduction) and
handles the even/odd halves of each pair with strided accesses. :func:`qk_norm_rope` reads each query
and key row once, as contiguous pairs, and writes the rotated, normalised row once.

Numbers: the same arithmetic as the compiled path (``torch.compile`` of diffusers' ``WanAttnProcessor``):
the RMSNorm in float32 (``x * rsqrt(mean(x^2) + eps) * weight``), rounded once to the activation dtype,
then the rotation in float32 with cos from the even and sin from the odd columns of the RoPE tables,
rounded once. On CPU (and for autograd) the op runs the same arithmetic in plain torch
(:func:`qk_norm_rope_reference`). :class:`FusedQKRopeAttnProcessor` puts it into diffusers' Wan
attention (self-attention only); ``LongVie2Transformer.set_fused_qk_rope`` switches it.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from diffusers.models.transformers import transformer_wan
from diffusers.models.transformers.transformer_wan import WanAttnProcessor


def _rms_eps(eps: float | None) -> float:
    return torch.finfo(torch.float32).eps if eps is None else float(eps)


def qk_norm_rope_reference(query: torch.Tensor, key: torch.Tensor, weight_q: torch.Tensor, weight_k: torch.Tensor,
                           eps: float, cos: torch.Tensor, sin: torch.Tensor, heads: int, query_start: int = 0,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, H*D) query and key -> (B, L, H, D) normalised and rotated; plain torch, any device.

    ``cos`` / ``sin`` are Wan's RoPE tables, (1, L, 1, D) float32 (``LongVie2Transformer._rope``).
    ``query_start`` > 0: the query holds rows ``query_start:`` of the key's positions only, (B, L - query_start, H*D).
    """
    def one(x: torch.Tensor, weight: torch.Tensor, first: int) -> torch.Tensor:
        upcast = x.float()
        rstd = torch.rsqrt(upcast.pow(2).mean(dim=-1, keepdim=True) + eps)
        normed = (upcast * rstd * weight.float()).to(x.dtype).unflatten(2, (heads, -1)).float()
        x1, x2 = normed.unflatten(-1, (-1, 2)).unbind(-1)
        c, s = cos[:, first:, :, 0::2].float(), sin[:, first:, :, 1::2].float()
        return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).flatten(-2).to(x.dtype)

    return one(query, weight_q, query_start), one(key, weight_k, 0)


@functools.cache
def _kernel() -> Any:
    """The Triton kernel, built on first use (Triton is imported only where the op runs on CUDA)."""
    import triton
    import triton.language as tl

    @triton.jit
    def qk_norm_rope_kernel(query, key, weight_q, weight_k, cos, sin, out_q, out_k, length, eps, query_start,
                            DIM: tl.constexpr, HEAD: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)  # a key row; its query row exists from query_start on
        position = row % length
        query_row = (row // length) * (length - query_start) + position - query_start
        pairs = tl.arange(0, BLOCK)
        mask = pairs < DIM // 2
        within_head = 2 * (pairs % (HEAD // 2))
        cos_pairs = tl.load(cos + position * HEAD + within_head, mask=mask, other=0.0)
        sin_pairs = tl.load(sin + position * HEAD + within_head + 1, mask=mask, other=0.0)
        offsets = 2 * pairs[:, None] + tl.arange(0, 2)[None, :]  # (BLOCK, 2): each pair's two columns
        pair_mask = mask[:, None]
        for which in tl.static_range(2):  # the query row, then the key row
            if which == 0:
                src, weight, dst, at, rows = query, weight_q, out_q, query_row, pair_mask & (position >= query_start)
            else:
                src, weight, dst, at, rows = key, weight_k, out_k, row, pair_mask
            x = tl.load(src + at * DIM + offsets, mask=rows, other=0.0).to(tl.float32)
            rstd = tl.rsqrt(tl.sum(tl.sum(x * x, axis=1), axis=0) / DIM + eps)
            w = tl.load(weight + offsets, mask=pair_mask, other=0.0).to(tl.float32)
            normed = (x * rstd * w).to(dst.dtype.element_ty).to(tl.float32)  # the RMSNorm's output, rounded
            x1, x2 = tl.split(normed)
            rotated = tl.join(x1 * cos_pairs - x2 * sin_pairs, x1 * sin_pairs + x2 * cos_pairs)
            tl.store(dst + at * DIM + offsets, rotated.to(dst.dtype.element_ty), mask=rows)

    return qk_norm_rope_kernel


def qk_norm_rope_triton(query: torch.Tensor, key: torch.Tensor, weight_q: torch.Tensor, weight_k: torch.Tensor,
                        eps: float, cos: torch.Tensor, sin: torch.Tensor, heads: int, query_start: int = 0,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel (any device Triton runs on, its CPU interpreter included): same contract as the reference."""
    import triton

    _check_shapes(query, key, cos, heads, query_start)
    batch, length, dim = key.shape
    head = dim // heads
    query, key = query.contiguous(), key.contiguous()
    cos_table = cos.reshape(length, head).float().contiguous()
    sin_table = sin.reshape(length, head).float().contiguous()
    out_q, out_k = torch.empty_like(query), torch.empty_like(key)
    block = triton.next_power_of_2(dim // 2)
    _kernel()[(batch * length,)](query, key, weight_q.contiguous(), weight_k.contiguous(), cos_table, sin_table,
                                 out_q, out_k, length, eps, query_start, DIM=dim, HEAD=head, BLOCK=block,
                                 num_warps=8 if dim >= 4096 else 4)
    return out_q.unflatten(2, (heads, head)), out_k.unflatten(2, (heads, head))


def _check_shapes(query: torch.Tensor, key: torch.Tensor, cos: torch.Tensor, heads: int, query_start: int) -> None:
    batch, length, dim = key.shape
    head = dim // heads
    if (query.shape != (batch, length - query_start, dim) or not 0 <= query_start < length or dim % heads
            or head % 2 or cos.shape[1] != length or cos.shape[-1] != head):
        raise ValueError(f"qk_norm_rope: query {tuple(query.shape)} (from row {query_start}), key "
                         f"{tuple(key.shape)}, {heads} heads, RoPE table {tuple(cos.shape)} do not fit together")


@torch.library.custom_op("longvie::qk_norm_rope", mutates_args=())
def qk_norm_rope(query: torch.Tensor, key: torch.Tensor, weight_q: torch.Tensor, weight_k: torch.Tensor,
                 eps: float, cos: torch.Tensor, sin: torch.Tensor, heads: int,
                 query_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm (across heads) + Wan RoPE of query and key: the Triton kernel on CUDA, the reference elsewhere.

    A custom op so ``torch.compile`` keeps it as one opaque node.
    """
    if query.device.type == "cuda":
        return qk_norm_rope_triton(query, key, weight_q, weight_k, eps, cos, sin, heads, query_start)
    _check_shapes(query, key, cos, heads, query_start)
    return qk_norm_rope_reference(query, key, weight_q, weight_k, eps, cos, sin, heads, query_start)


@qk_norm_rope.register_fake
def _qk_norm_rope_fake(query: torch.Tensor, key: torch.Tensor, weight_q: torch.Tensor, weight_k: torch.Tensor,
                       eps: float, cos: torch.Tensor, sin: torch.Tensor, heads: int, query_start: int = 0,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    return (query.new_empty((*query.shape[:2], heads, query.shape[2] // heads)),
            key.new_empty((*key.shape[:2], heads, key.shape[2] // heads)))


class FusedQKRopeAttnProcessor:
    """diffusers' Wan attention processor with the query/key RMSNorm + RoPE as :func:`qk_norm_rope`.

    Applies to self-attention with RoPE and unfused projections, and not while autograd records
    (the op has no derivative) or with the norms' weights elsewhere than the input (offloaded: their
    onload hooks run only when the modules are called); any other call goes to diffusers' own
    ``WanAttnProcessor``. The attention itself goes through the Wan module's ``dispatch_attention_fn``,
    looked up per call, so ``longvie.fa4``'s routing applies as it does to diffusers' processor. Wan gives
    ``norm_q`` and ``norm_k`` the same eps; ``norm_q``'s is used for both.
    """

    def __init__(self) -> None:
        self._fallback = WanAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if not self._applies(attn, hidden_states, encoder_hidden_states, rotary_emb):
            return self._fallback(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        return self._attend(attn, hidden_states, attention_mask, rotary_emb, 0)

    def attend_from(self, attn: Any, hidden_states: torch.Tensor, rotary_emb: tuple[torch.Tensor, torch.Tensor],
                    query_start: int) -> torch.Tensor:
        """Self-attention outputs of rows ``query_start:`` only, every row a key: the query projection,
        norm, rotation and attention of the earlier rows are not computed. Equals ``self(attn, hidden_states,
        rotary_emb=rotary_emb)[:, query_start:]``, which runs instead wherever the fused path does not apply."""
        if not self._applies(attn, hidden_states, None, rotary_emb):
            return self._fallback(attn, hidden_states, None, None, rotary_emb)[:, query_start:]
        return self._attend(attn, hidden_states, None, rotary_emb, query_start)

    def _applies(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None,
                 rotary_emb: tuple[torch.Tensor, torch.Tensor] | None) -> bool:
        recording = torch.is_grad_enabled() and (hidden_states.requires_grad or attn.to_q.weight.requires_grad)
        offloaded = attn.norm_q.weight.device != hidden_states.device  # let the modules' onload hooks run
        return not (encoder_hidden_states is not None or rotary_emb is None or attn.add_k_proj is not None
                    or getattr(attn, "fused_projections", False) or recording or offloaded)

    def _attend(self, attn: Any, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None,
                rotary_emb: tuple[torch.Tensor, torch.Tensor], query_start: int) -> torch.Tensor:
        queries = hidden_states[:, query_start:] if query_start else hidden_states
        query, key = torch.ops.longvie.qk_norm_rope(
            attn.to_q(queries), attn.to_k(hidden_states), attn.norm_q.weight, attn.norm_k.weight,
            _rms_eps(attn.norm_q.eps), rotary_emb[0], rotary_emb[1], attn.heads, query_start)
        value = attn.to_v(hidden_states).unflatten(2, (attn.heads, -1))
        out = transformer_wan.dispatch_attention_fn(  # the module global, so longvie.fa4's routing applies here too
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False,
            backend=self._fallback._attention_backend, parallel_config=self._fallback._parallel_config)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def set_fused_qk_rope(blocks: list[torch.nn.Module], enabled: bool) -> int:
    """Give these Wan blocks' self-attention the fused processor (or diffusers' back); returns how many have it."""
    for block in blocks:
        block.attn1.set_processor(FusedQKRopeAttnProcessor() if enabled else WanAttnProcessor())
    return len(blocks) if enabled else 0


__all__ = ["FusedQKRopeAttnProcessor", "qk_norm_rope", "qk_norm_rope_reference", "qk_norm_rope_triton",
           "set_fused_qk_rope"]
