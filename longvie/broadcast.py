"""One token stream, several text contexts: a Wan block whose self-attention runs once for all of them.

Why: with classifier-free guidance LongVie 2 denoises the same latents twice per step, once with the
prompt and once with the negative prompt, as one batch of two. The two batch items are equal until the
first cross-attention reads the text: the patch embeddings, the control branches' input projections and
the whole self-attention half of the first base block and of each control branch's first block. Computing
that once (batch 1) and widening the stream to the text batch just before cross-attention removes a
fortieth of the base model's self-attention and a twelfth of the control branches' (about 1.5% of a step
at the real size) without changing what is computed: every value is the same function of the same inputs
(kernels may round differently at another batch size, as they may for any shape).

:func:`run_block_broadcast` is that block forward; ``LongVie2Transformer.forward`` uses it for the first
blocks when it is given latents of batch 1 and text of a larger batch (``longvie.sampler`` does so for
batched guidance).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.transformers.transformer_wan import WanTransformerBlock

from longvie.block_norms import DeferredResidual, FusedNormWanBlock


def widen(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """A batch-1 tensor repeated to ``batch`` items (contiguous, as the kernels after it expect)."""
    if tensor.shape[0] != 1:
        raise ValueError(f"expected a batch of 1 to widen, got {tuple(tensor.shape)}")
    return tensor.expand(batch, *tensor.shape[1:]).contiguous()


def run_block_broadcast(block: WanTransformerBlock, hidden_states: torch.Tensor, context: Any,
                        temb: torch.Tensor, rotary_emb: Any, defer: bool = False) -> torch.Tensor | DeferredResidual:
    """``block(widen(hidden_states), context, temb, rotary_emb)``, with self-attention computed once.

    ``hidden_states``: (1, L, C), the stream every text context shares; ``context``: the cross-attention
    input of batch B (embeddings or a cached ``(key, value)`` pair); ``temb``: (B, 6, C), equal rows (one
    timestep). Returns (B, L, C), or with ``defer`` the fused block's :class:`DeferredResidual` of batch B.
    """
    if hidden_states.shape[0] != 1:
        raise ValueError(f"run_block_broadcast takes one shared stream (batch 1), got {tuple(hidden_states.shape)}")
    if temb.ndim != 3:
        raise ValueError(f"run_block_broadcast needs one modulation per item (B, 6, C), got {tuple(temb.shape)}")
    batch = temb.shape[0]
    if isinstance(block, FusedNormWanBlock) and block.fusable(hidden_states, temb):
        stream, normed = block.self_attention_stage(hidden_states, temb[:1], rotary_emb)
        return block.cross_ffn_stage(widen(stream, batch), widen(normed, batch), context, temb, defer=defer)
    # diffusers' WanTransformerBlock.forward arithmetic, split where the text comes in
    shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb.float()).chunk(6, dim=1)
    normed = (block.norm1(hidden_states.float()) * (1 + scale[:1]) + shift[:1]).type_as(hidden_states)
    attention = block.attn1(normed, None, None, rotary_emb)
    stream = (hidden_states.float() + attention * gate[:1]).type_as(hidden_states)
    normed = block.norm2(stream.float()).type_as(stream)
    stream, normed = widen(stream, batch), widen(normed, batch)
    stream = stream + block.attn2(normed, context, None, None)
    normed = (block.norm3(stream.float()) * (1 + c_scale) + c_shift).type_as(stream)
    feed_forward = block.ffn(normed)
    return (stream.float() + feed_forward.float() * c_gate).type_as(stream)


__all__ = ["run_block_broadcast", "widen"]
