"""The LongVie 2 transformer: diffusers' Wan2.1 I2V DiT plus the dual (depth + track) controller.

Why a custom forward instead of diffusers' ``WanTransformer3DModel.forward``: LongVie 2 needs
three things that forward cannot do — history tokens in front of the clip's tokens with shifted
RoPE frame indices (dropped again before the head), two half-width control branches that run
beside base blocks 0..11 on their own token streams, and the per-layer zero-initialised fusion
of those branches into the *current-clip* tokens only. Everything else (patch embedding,
condition embedder, blocks, head) is diffusers' own modules, so the official weights load into
them with diffusers' names (see ``checkpoint.py`` for the mapping).

Shapes (B batch, F latent frames, H/W latent size, Fh history latent frames):
``latents`` (B, 16, F, H, W); ``image_condition`` (B, 20, F, H, W) = first-frame mask 4 | image
latents 16; ``dense`` / ``sparse`` (B, 36, F, H, W) = control latents 16 | mask 4 | first control
frame latents 16; ``history`` (B, 16, Fh, H, W) normalised VAE latents of the history frames.
"""

from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel, WanTransformerBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from longvie.block_norms import DeferredResidual, FusedNormWanBlock, complete_residual
from longvie.broadcast import run_block_broadcast
from longvie.config import LongVie2Config
from longvie.cross_cache import CachedCrossAttnProcessor, CrossAttentionCache, cross_kv

#: Channels of ones in front of the history latents (they fill the noisy-latent and mask slots).
HISTORY_ONES_CHANNELS = 20


def timestep_sinusoid(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    """Wan's cos-first timestep sinusoid, computed in float64 (as upstream) and returned as float32."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=timestep.device).div(half))
    angles = torch.outer(timestep.to(torch.float64).reshape(-1), freqs)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(torch.float32)


class Float64Timesteps(nn.Module):
    """Drop-in for diffusers' ``Timesteps`` in the Wan condition embedder, computed as upstream does.

    diffusers builds the sinusoid in float32, where ``t * freq`` at t ~ 1000 is off by up to
    4.5e-5 (freq_dim 256); upstream (and the original Wan code) computes it in float64. The parity
    goldens (``tests/parity/longvie``) showed the difference. No parameters: checkpoints are unaffected,
    and diffusers' own ``WanTransformer3DModel.forward`` on ``self.base`` uses it too.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        return timestep_sinusoid(timestep, self.dim)


def _control_block(config: LongVie2Config) -> WanTransformerBlock:
    return WanTransformerBlock(config.control_dim, config.control_ffn_dim, config.control_heads,
                               qk_norm="rms_norm_across_heads", cross_attn_norm=True, eps=config.eps,
                               added_kv_proj_dim=config.control_dim)


def _zero_linear(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class DualController(nn.Module):
    """The two control branches and their projections (upstream ``WanModelDualControl``).

    Parameter names map one to one onto the official ``control.safetensors`` names
    (``checkpoint.control_name_to_ours``). The input projections and the per-layer fusion are
    zero-initialised, so a fresh controller leaves the base model's output unchanged.
    """

    def __init__(self, config: LongVie2Config) -> None:
        super().__init__()
        self.config = config
        d, cd = config.dim, config.control_dim
        self.dense_blocks = nn.ModuleList([_control_block(config) for _ in range(config.control_layers)])
        self.sparse_blocks = nn.ModuleList([_control_block(config) for _ in range(config.control_layers)])
        self.dense_in = _zero_linear(d, cd)
        self.sparse_in = _zero_linear(d, cd)
        self.text_proj = nn.Linear(d, cd)
        self.time_proj = nn.Linear(d, cd)
        self.fusion = nn.ModuleList([_zero_linear(cd, d) for _ in range(config.control_layers)])


class LongVie2Transformer(nn.Module):
    """Base Wan2.1 I2V DiT (``self.base``, diffusers) and the dual controller (``self.controller``).

    ``controller`` is None for the plain Wan2.1 I2V model (``with_controller=False``).
    """

    def __init__(self, config: LongVie2Config, with_controller: bool = True) -> None:
        super().__init__()
        self.config = config
        self.base = WanTransformer3DModel(**config.diffusers_base_config())
        self.base.condition_embedder.timesteps_proj = Float64Timesteps(config.freq_dim)
        self.controller = DualController(config) if with_controller else None
        self.gradient_checkpointing = False
        #: whether samplers should compute a :class:`CrossAttentionCache` per clip (``set_cross_attention_cache``)
        self.cache_cross_attention = False
        #: whether batched guidance should pass latents once with text of batch 2 (``set_broadcast_guidance``)
        self.broadcast_guidance = True
        #: whether fused-norm base blocks hand their last residual to the next block (``set_fused_handoff``)
        self.fused_handoff = True
        self._run_broadcast = run_block_broadcast  # compiled by :meth:`compile_blocks`
        for block in self.transformer_blocks():  # takes a cached (key, value) tuple; a tensor as diffusers does
            block.attn2.set_processor(CachedCrossAttnProcessor())

    def transformer_blocks(self) -> list[nn.Module]:
        """Every Wan block: the base's, then the dense and sparse branches' (what compile and fused kernels act on)."""
        blocks = list(self.base.blocks)
        if self.controller is not None:
            blocks += [*self.controller.dense_blocks, *self.controller.sparse_blocks]
        return blocks

    def set_gelu_epilogue(self, enabled: bool, backend: str = "cublaslt") -> int:
        """FFN up-projection + GELU as one GEMM on CUDA in half precision (``longvie.fused``: cuBLASLt's
        epilogue, or quack's with ``backend="quack"``); returns how many blocks have it on. Parameter names
        do not change."""
        from longvie.fused import set_gelu_epilogue

        return set_gelu_epilogue(self.transformer_blocks(), enabled, backend)

    def set_fused_qk_rope(self, enabled: bool) -> int:
        """Self-attention's query/key RMSNorm + RoPE as one Triton kernel on CUDA (``longvie.qk_rope``);
        returns how many blocks have it on."""
        from longvie.qk_rope import set_fused_qk_rope

        return set_fused_qk_rope(self.transformer_blocks(), enabled)

    def set_fused_block_norms(self, enabled: bool) -> int:
        """Each Wan block's LayerNorms with their residual adds and modulation as Triton kernels on CUDA
        (``longvie.block_norms``); returns how many blocks have it on. Parameter names do not change."""
        from longvie.block_norms import set_fused_block_norms

        return set_fused_block_norms(self.transformer_blocks(), enabled)

    def set_fused_handoff(self, enabled: bool) -> bool:
        """With fused block norms (:meth:`set_fused_block_norms`), at inference: each base block leaves its
        feed-forward residual (and the control injection after it) to the next block's first norm kernel, and
        the last block computes its outputs for the clip's rows only (the history rows only as keys and values).
        Same arithmetic and roundings; on by default, switchable to measure it (``benchmarks/longvie2_speed.py``)."""
        self.fused_handoff = bool(enabled)
        return self.fused_handoff

    def set_cross_attention_cache(self, enabled: bool) -> bool:
        """Ask samplers to compute every block's cross-attention keys and values once per clip
        (:meth:`cross_attention_cache`, ``longvie.cross_cache``) instead of every step."""
        self.cache_cross_attention = bool(enabled)
        return self.cache_cross_attention

    def set_broadcast_guidance(self, enabled: bool) -> bool:
        """Ask samplers to run batched guidance as one stream of latents with text of batch 2, so the first
        blocks' self-attention runs once (``longvie.broadcast``), instead of latents doubled to batch 2."""
        self.broadcast_guidance = bool(enabled)
        return self.broadcast_guidance

    def compile_blocks(self, mode: str | None = None) -> None:
        """``torch.compile`` every transformer block and the shared-stream block forward (``mode`` as
        torch.compile's). Cannot be undone; changing a kernel switch afterwards recompiles."""
        for block in self.transformer_blocks():
            block.compile(mode=mode)
        self._run_broadcast = torch.compile(run_block_broadcast, mode=mode)

    def cross_attention_cache(self, text_embeds: torch.Tensor, image_embeds: torch.Tensor | None,
                              ) -> CrossAttentionCache:
        """Every block's cross-attention keys and values for this text (and image) context; pass it to
        :meth:`forward` as ``cross_cache`` for every step conditioned on the same context."""
        embedder = self.base.condition_embedder
        context = embedder.text_embedder(text_embeds)
        if image_embeds is not None and embedder.image_embedder is not None:
            context = torch.cat([embedder.image_embedder(image_embeds), context], dim=1)
        dense: tuple = ()
        sparse: tuple = ()
        if self.controller is not None:
            ctrl_context = self.controller.text_proj(context)
            dense = tuple(cross_kv(b.attn2, ctrl_context) for b in self.controller.dense_blocks)
            sparse = tuple(cross_kv(b.attn2, ctrl_context) for b in self.controller.sparse_blocks)
        return CrossAttentionCache(base=tuple(cross_kv(b.attn2, context) for b in self.base.blocks),
                                   dense=dense, sparse=sparse, batch=text_embeds.shape[0])

    def _time_embedding(self, timestep: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The timestep half of diffusers' ``WanTimeTextImageEmbedding.forward``: (temb, its 6-way projection)."""
        embedder = self.base.condition_embedder
        sinusoid = embedder.timesteps_proj(timestep)
        embedder_dtype = next(iter(embedder.time_embedder.parameters())).dtype
        if sinusoid.dtype != embedder_dtype and embedder_dtype != torch.int8:
            sinusoid = sinusoid.to(embedder_dtype)
        temb = embedder.time_embedder(sinusoid).to(dtype)
        return temb, embedder.time_proj(embedder.act_fn(temb))

    # -- helpers -------------------------------------------------------------------------------
    def _rope(self, frames: int, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE cos/sin for a (frames, height, width) token grid (frame indices 0..frames-1)."""
        rope = self.base.rope
        split = [rope.t_dim, rope.h_dim, rope.w_dim]
        tables = []
        for full in (rope.freqs_cos, rope.freqs_sin):
            ft, fh, fw = full.to(device).split(split, dim=1)
            if frames > ft.shape[0] or height > fh.shape[0] or width > fw.shape[0]:
                raise ValueError(f"token grid {frames}x{height}x{width} exceeds RoPE length {ft.shape[0]}")
            grid = torch.cat([
                ft[:frames].view(frames, 1, 1, -1).expand(frames, height, width, -1),
                fh[:height].view(1, height, 1, -1).expand(frames, height, width, -1),
                fw[:width].view(1, 1, width, -1).expand(frames, height, width, -1),
            ], dim=-1)
            tables.append(grid.reshape(1, frames * height * width, 1, -1))
        return tables[0], tables[1]

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Base patch embedding, flattened to (B, tokens, dim) in (f, h, w) order."""
        weight = self.base.patch_embedding.weight
        return self.base.patch_embedding(x.to(weight.dtype)).flatten(2).transpose(1, 2).contiguous()

    def _run(self, block: nn.Module, shared: bool, *args: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
             **handoff: object) -> torch.Tensor | DeferredResidual:
        """``block(*args, **handoff)``; ``shared``: the stream is one batch item for every text
        (``longvie.broadcast``, which takes only ``defer``); ``handoff``: ``FusedNormWanBlock``'s keywords."""
        if shared:
            return self._run_broadcast(block, *args, **handoff)
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False, **handoff)
        return block(*args, **handoff)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, text_embeds: torch.Tensor,
                image_embeds: torch.Tensor, image_condition: torch.Tensor, *, dense: torch.Tensor | None = None,
                sparse: torch.Tensor | None = None, history: torch.Tensor | None = None,
                dense_scale: float | torch.Tensor = 1.0, dense_token_scale: float | torch.Tensor = 1.0,
                cross_cache: CrossAttentionCache | None = None) -> torch.Tensor:
        """Predicted velocity (B, out_channels, F, H, W) for the current clip.

        ``timestep`` (B,) is used as given (the sampler rounds it to bf16 like upstream).
        ``cross_cache``: the cross-attention keys and values of ``text_embeds`` / ``image_embeds``
        (:meth:`cross_attention_cache`); given, the text and image embeddings are not used again.
        ``dense_scale`` is lambda of the paper's feature-level degradation (1 at inference);
        ``dense_token_scale`` multiplies the patch-embedded depth tokens (a training augmentation).
        Latents (and every other input but the text) of batch 1 with text of batch B: B predictions for
        the same latents, one per text (batched guidance), with everything before the first
        cross-attention computed once (``longvie.broadcast``).
        """
        base, cfg = self.base, self.config
        batch, _, frames, height, width = latents.shape
        text_batch = cross_cache.batch if cross_cache is not None else text_embeds.shape[0]
        if text_batch != batch and batch != 1:
            raise ValueError(f"text of batch {text_batch} for latents of batch {batch}: give latents of the same "
                             "batch, or of batch 1 to share them across the texts")
        shared = batch == 1 and text_batch > 1
        p_t, p_h, p_w = cfg.patch_size
        grid_f, grid_h, grid_w = frames // p_t, height // p_h, width // p_w
        if image_condition.shape[2:] != latents.shape[2:]:
            raise ValueError(f"image_condition {tuple(image_condition.shape)} does not match latents "
                             f"{tuple(latents.shape)}")
        tokens = self._embed(torch.cat([latents, image_condition.to(latents.dtype)], dim=1))
        history_tokens = 0
        history_frames = 0
        if history is not None and history.shape[2] > 0:
            history_frames = history.shape[2] // p_t
            ones = torch.ones(batch, HISTORY_ONES_CHANNELS, *history.shape[2:], dtype=history.dtype,
                              device=history.device)
            hist = self._embed(torch.cat([ones, history], dim=1))
            history_tokens = hist.shape[1]
            tokens = torch.cat([hist, tokens], dim=1)
        rope_main = self._rope(history_frames + grid_f, grid_h, grid_w, tokens.device)

        context: torch.Tensor | None = None
        if cross_cache is None:
            temb, tproj, context, image_context = base.condition_embedder(timestep, text_embeds, image_embeds)
            if image_context is not None:
                if shared:
                    image_context = image_context.expand(text_batch, *image_context.shape[1:])
                context = torch.cat([image_context, context], dim=1)
        else:
            temb, tproj = self._time_embedding(timestep, text_embeds.dtype)
        tproj = tproj.unflatten(1, (6, -1))
        if shared:  # one timestep: every text's modulation is the same row
            temb, tproj = temb.expand(text_batch, -1), tproj.expand(text_batch, -1, -1)
            batch = text_batch

        branches = self._control_streams(dense, sparse, dense_token_scale)
        if branches:
            ctrl = self.controller
            ctrl_context = None if context is None else ctrl.text_proj(context)
            ctrl_tmod = ctrl.time_proj(tproj)
            rope_ctrl = self._rope(grid_f, grid_h, grid_w, tokens.device)

        handoff = self.fused_handoff and not torch.is_grad_enabled()
        last = len(base.blocks) - 1
        injection: torch.Tensor | None = None  # the control injection still to add to a deferred residual
        clip_rows_only = False
        for index, block in enumerate(base.blocks):
            block_context = context if cross_cache is None else cross_cache.base[index]
            handoff_args: dict[str, object] = {}
            if handoff and isinstance(block, FusedNormWanBlock):
                handoff_args = {"defer": index < last}
                if injection is not None:
                    handoff_args |= {"injection": injection, "injection_start": history_tokens}
                injected_after = branches and index < cfg.control_layers  # (an injection needs every row)
                if index == last and history_tokens and not (shared and index == 0) and not injected_after:
                    handoff_args["query_start"] = history_tokens  # the history rows' outputs are dropped
            elif isinstance(tokens, DeferredResidual) or injection is not None:
                tokens = complete_residual(tokens, injection, history_tokens)
            injection = None
            tokens = self._run(block, shared and index == 0, tokens, block_context, tproj, rope_main, **handoff_args)
            clip_rows_only = "query_start" in handoff_args
            if branches and index < cfg.control_layers:
                fused = None
                for name in list(branches):
                    blocks = ctrl.dense_blocks if name == "dense" else ctrl.sparse_blocks
                    branch_context = ctrl_context if cross_cache is None else getattr(cross_cache, name)[index]
                    branches[name] = self._run(blocks[index], shared and index == 0, branches[name], branch_context,
                                               ctrl_tmod, rope_ctrl)
                    part = branches[name]
                    if name == "dense" and not (isinstance(dense_scale, float | int) and dense_scale == 1):
                        part = part * dense_scale  # (a multiply by 1 was a full pass over the stream)
                    fused = part if fused is None else fused + part
                injection = ctrl.fusion[index](fused)
                if isinstance(tokens, DeferredResidual):
                    continue  # the next block's first kernel adds it (FusedNormWanBlock)
                if torch.is_grad_enabled():  # training: out of place, autograd may have saved the block's output
                    tokens = torch.cat([tokens[:, :history_tokens], tokens[:, history_tokens:] + injection], dim=1)
                else:  # inference: add into the clip's tokens in place (the copy of the cat cost 1 ms a layer),
                    for item in range(batch):  # per batch item: each slice is contiguous, so the add vectorises
                        tokens[item, history_tokens:] += injection[item]
                injection = None
        if isinstance(tokens, DeferredResidual) or injection is not None:
            tokens = complete_residual(tokens, injection, history_tokens)

        if not clip_rows_only:
            tokens = tokens[:, history_tokens:]
        shift, scale = (base.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        tokens = (base.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        tokens = base.proj_out(tokens)
        tokens = tokens.reshape(batch, grid_f, grid_h, grid_w, p_t, p_h, p_w, -1)
        return tokens.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def _control_streams(self, dense: torch.Tensor | None, sparse: torch.Tensor | None,
                         dense_token_scale: float | torch.Tensor) -> dict[str, torch.Tensor]:
        """Initial token streams of the branches that have an input (empty without a controller)."""
        if dense is None and sparse is None:
            return {}
        if self.controller is None:
            raise ValueError("this model has no controller (plain Wan2.1 I2V) but control inputs were given")
        streams: dict[str, torch.Tensor] = {}
        if dense is not None:
            streams["dense"] = self.controller.dense_in(self._embed(dense) * dense_token_scale)
        if sparse is not None:
            streams["sparse"] = self.controller.sparse_in(self._embed(sparse))
        return streams


__all__ = ["HISTORY_ONES_CHANNELS", "DualController", "Float64Timesteps", "LongVie2Transformer", "timestep_sinusoid"]
