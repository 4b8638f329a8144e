"""Cross-attention keys and values computed once per clip instead of once per denoising step.

Why: a Wan block's cross-attention keys and values depend only on the text and image context, which
is the same for all 50 steps of a clip (and both CFG passes keep their own). Recomputing them costs
every step 160 projections of the 769 context tokens in the base blocks and 96 in the control branches,
with their key RMSNorms: about 10 ms of a 3.07 s step on an H100 (``benchmarks/longvie2_gemms.py``,
"cross text / image k/v"). Computed once, they raised the peak GPU memory of a batch of two by
1.56 GiB (40.57 against 39.01 GiB on an H100).

How: :func:`cross_kv` computes one block's keys and values exactly as diffusers' ``WanAttnProcessor``
does (``to_k`` + ``norm_k``, ``to_v``; for I2V the image tokens through ``add_k_proj`` + ``norm_added_k``
and ``add_v_proj``), already split into heads. The model passes that tuple to the block in place of the
context tensor, and :class:`CachedCrossAttnProcessor` (the cross-attention processor of every block)
uses it as is; given a tensor it is diffusers' processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.transformers import transformer_wan
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

#: Text tokens at the end of a Wan I2V context (diffusers' processor hard-codes the same 512).
TEXT_TOKENS = 512

#: One block's (key, value, image key, image value), each (B, L, heads, head_dim); the image pair is None
#: for a block without the image projections.
CrossKV = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


@dataclass(frozen=True)
class CrossAttentionCache:
    """Every block's cross-attention keys and values for one batch of text + image context."""

    base: tuple[CrossKV, ...]
    dense: tuple[CrossKV, ...]
    sparse: tuple[CrossKV, ...]
    batch: int

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for group in (self.base, self.dense, self.sparse)
                   for kv in group for t in kv if t is not None)


def cross_kv(attn: Any, context: torch.Tensor) -> CrossKV:
    """One Wan cross-attention's keys and values for ``context`` (B, [image tokens +] 512 text tokens, dim)."""
    key_img = value_img = None
    if attn.add_k_proj is not None:
        image_tokens = context.shape[1] - TEXT_TOKENS
        image, context = context[:, :image_tokens], context[:, image_tokens:]
        key_img = attn.norm_added_k(attn.add_k_proj(image)).unflatten(2, (attn.heads, -1))
        value_img = attn.add_v_proj(image).unflatten(2, (attn.heads, -1))
    key = attn.norm_k(attn.to_k(context)).unflatten(2, (attn.heads, -1))
    value = attn.to_v(context).unflatten(2, (attn.heads, -1))
    return key, value, key_img, value_img


class CachedCrossAttnProcessor:
    """diffusers' Wan attention processor that also takes a :data:`CrossKV` tuple as the context.

    With a tuple: the query projection and its RMSNorm, attention over the given text (and image) keys and
    values, the two outputs summed, the output projection; the arithmetic of diffusers' processor minus
    the key/value projections. With a tensor (or for self-attention): diffusers' own processor. Attention
    goes through the Wan module's ``dispatch_attention_fn``, looked up per call, so ``longvie.fa4``'s
    routing applies as it does to diffusers' processor.
    """

    def __init__(self) -> None:
        self._fallback = WanAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: torch.Tensor | None = None,
                 rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if not isinstance(encoder_hidden_states, tuple):
            return self._fallback(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        key, value, key_img, value_img = encoder_hidden_states
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))
        out = self._attend(query, key, value, attention_mask)
        if key_img is not None:
            out = out + self._attend(query, key_img, value_img, None)  # text + image, the order diffusers sums
        return attn.to_out[1](attn.to_out[0](out))

    def _attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        out = transformer_wan.dispatch_attention_fn(  # the module global, so longvie.fa4's routing applies
            query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False,
            backend=self._fallback._attention_backend, parallel_config=None)
        return out.flatten(2, 3).type_as(query)


__all__ = ["TEXT_TOKENS", "CachedCrossAttnProcessor", "CrossAttentionCache", "CrossKV", "cross_kv"]
