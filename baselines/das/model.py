"""DiffusionAsShader's transformer: CogVideoX-5B I2V with a tracking-video branch, on diffusers' modules.

Structure (read from the published ``CogVideoXTransformer3DModelTracking``, IGL-HKUST/DiffusionAsShader
81890a7): the tracking video's VAE latents (concatenated, like the main input, with the latents of
its first frame) go through the *same* ``patch_embed`` as the noisy latents; their video tokens are
added to the main video tokens and fed through ``initial_combine_linear``; then for each of the
first ``num_tracking_blocks`` (18 of 42) layers, a copy of a ``CogVideoXBlock``
(``transformer_blocks_copy.i``) runs on the tracking tokens with the *updated* text tokens of main
layer i, ``combine_linears.i`` (zero-initialised) maps its output, and that mapped output is both
added to the main video tokens and what the next tracking block receives.
Every join is a zero-initialised linear, so a fresh branch leaves the base model's output unchanged.

Parameter names equal the official checkpoint's, so the header check needs no renaming; the class
is a subclass of diffusers' ``CogVideoXTransformer3DModel`` and reuses its embedding, blocks and
head. Only CogVideoX 1.0 (no temporal patching, no ``ofs``) is supported, as upstream.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock, CogVideoXTransformer3DModel
from torch import nn


class DiffusionAsShaderTransformer(CogVideoXTransformer3DModel):
    """``CogVideoXTransformer3DModel`` + the DiffusionAsShader tracking branch (see the module docstring)."""

    @register_to_config
    def __init__(self, num_tracking_blocks: int = 18, num_attention_heads: int = 30, attention_head_dim: int = 64,
                 in_channels: int = 16, out_channels: int | None = 16, flip_sin_to_cos: bool = True,
                 freq_shift: int = 0, time_embed_dim: int = 512, ofs_embed_dim: int | None = None,
                 text_embed_dim: int = 4096, num_layers: int = 30, dropout: float = 0.0, attention_bias: bool = True,
                 sample_width: int = 90, sample_height: int = 60, sample_frames: int = 49, patch_size: int = 2,
                 patch_size_t: int | None = None, temporal_compression_ratio: int = 4,
                 max_text_seq_length: int = 226, activation_fn: str = "gelu-approximate",
                 timestep_activation_fn: str = "silu", norm_elementwise_affine: bool = True, norm_eps: float = 1e-5,
                 spatial_interpolation_scale: float = 1.875, temporal_interpolation_scale: float = 1.0,
                 use_rotary_positional_embeddings: bool = False, use_learned_positional_embeddings: bool = False,
                 patch_bias: bool = True) -> None:
        if not 0 <= num_tracking_blocks <= num_layers:
            raise ValueError(f"num_tracking_blocks must be in [0, num_layers={num_layers}], got {num_tracking_blocks}")
        if patch_size_t is not None or ofs_embed_dim is not None:
            raise ValueError("DiffusionAsShader is built on CogVideoX 1.0: patch_size_t and ofs_embed_dim must be None")
        super().__init__(
            num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim, in_channels=in_channels,
            out_channels=out_channels, flip_sin_to_cos=flip_sin_to_cos, freq_shift=freq_shift,
            time_embed_dim=time_embed_dim, ofs_embed_dim=ofs_embed_dim, text_embed_dim=text_embed_dim,
            num_layers=num_layers, dropout=dropout, attention_bias=attention_bias, sample_width=sample_width,
            sample_height=sample_height, sample_frames=sample_frames, patch_size=patch_size,
            patch_size_t=patch_size_t, temporal_compression_ratio=temporal_compression_ratio,
            max_text_seq_length=max_text_seq_length, activation_fn=activation_fn,
            timestep_activation_fn=timestep_activation_fn, norm_elementwise_affine=norm_elementwise_affine,
            norm_eps=norm_eps, spatial_interpolation_scale=spatial_interpolation_scale,
            temporal_interpolation_scale=temporal_interpolation_scale,
            use_rotary_positional_embeddings=use_rotary_positional_embeddings,
            use_learned_positional_embeddings=use_learned_positional_embeddings, patch_bias=patch_bias)
        inner = num_attention_heads * attention_head_dim
        self.num_tracking_blocks = num_tracking_blocks
        self.transformer_blocks_copy = nn.ModuleList([
            CogVideoXBlock(dim=inner, num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim,
                           time_embed_dim=time_embed_dim, dropout=dropout, activation_fn=activation_fn,
                           attention_bias=attention_bias, norm_elementwise_affine=norm_elementwise_affine,
                           norm_eps=norm_eps)
            for _ in range(num_tracking_blocks)])
        self.combine_linears = nn.ModuleList([nn.Linear(inner, inner) for _ in range(num_tracking_blocks)])
        self.initial_combine_linear = nn.Linear(inner, inner)
        self.zero_joins()

    def joins(self) -> list[nn.Linear]:
        """The zero-initialised linears that connect the tracking branch to the base."""
        return [self.initial_combine_linear, *self.combine_linears]

    @torch.no_grad()
    def zero_joins(self) -> None:
        """Zero every join (a fresh branch then changes nothing); no-op on the meta device."""
        for linear in self.joins():
            if not linear.weight.is_meta:
                linear.weight.zero_()
                linear.bias.zero_()

    @torch.no_grad()
    def init_branch_from_base(self) -> None:
        """Upstream's training start: tracking blocks copy the first base blocks, joins are zero."""
        for i, block in enumerate(self.transformer_blocks_copy):
            block.load_state_dict(self.transformer_blocks[i].state_dict())
        self.zero_joins()

    def _run_block(self, block: nn.Module, hidden: torch.Tensor, text: torch.Tensor, emb: torch.Tensor,
                   rope: tuple[torch.Tensor, torch.Tensor] | None, attention_kwargs: dict[str, Any] | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(block, hidden, text, emb, rope, attention_kwargs)
        return block(hidden_states=hidden, encoder_hidden_states=text, temb=emb, image_rotary_emb=rope,
                     attention_kwargs=attention_kwargs)

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                timestep: int | float | torch.Tensor, tracking_maps: torch.Tensor | None = None,
                timestep_cond: torch.Tensor | None = None, ofs: Any = None,
                image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
                attention_kwargs: dict[str, Any] | None = None, return_dict: bool = True
                ) -> tuple[torch.Tensor] | Transformer2DModelOutput:
        """Denoiser output; ``tracking_maps`` (B, F, C_in, H, W) like ``hidden_states``, or None for the base alone."""
        if tracking_maps is None:
            return super().forward(hidden_states, encoder_hidden_states, timestep, timestep_cond=timestep_cond,
                                   image_rotary_emb=image_rotary_emb, attention_kwargs=attention_kwargs,
                                   return_dict=return_dict)
        if tracking_maps.shape != hidden_states.shape:
            raise ValueError(f"tracking_maps {tuple(tracking_maps.shape)} must have the shape of hidden_states "
                             f"{tuple(hidden_states.shape)}")
        batch, frames, _, height, width = hidden_states.shape
        emb = self.time_embedding(self.time_proj(timestep).to(hidden_states.dtype), timestep_cond)
        text_len = encoder_hidden_states.shape[1]
        tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, hidden_states))
        track_tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, tracking_maps))[:, text_len:]
        text, video = tokens[:, :text_len], tokens[:, text_len:]
        track = self.initial_combine_linear(video + track_tokens)
        for i, block in enumerate(self.transformer_blocks):
            video, text = self._run_block(block, video, text, emb, image_rotary_emb, attention_kwargs)
            if i < self.num_tracking_blocks:
                track, _ = self._run_block(self.transformer_blocks_copy[i], track, text, emb, image_rotary_emb,
                                           attention_kwargs)
                track = self.combine_linears[i](track)  # the joined features, not the block's, go on (upstream)
                video = video + track
        out = self.proj_out(self.norm_out(self.norm_final(video), temb=emb))
        p = self.config.patch_size
        out = out.reshape(batch, frames, height // p, width // p, -1, p, p)
        out = out.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
        return Transformer2DModelOutput(sample=out) if return_dict else (out,)


#: The transformer config of the official checkpoint (CogVideoX-5B-I2V + 18 tracking blocks).
REAL_CONFIG: dict[str, Any] = dict(
    num_tracking_blocks=18, num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16,
    time_embed_dim=512, text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49,
    patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226, norm_eps=1e-5,
    spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True)

#: A tiny configuration for CPU tests and parity (head dim a multiple of 8 for the 3D RoPE split).
TINY_CONFIG: dict[str, Any] = dict(
    num_tracking_blocks=2, num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4,
    time_embed_dim=16, text_embed_dim=16, num_layers=3, sample_width=20, sample_height=12, sample_frames=9,
    patch_size=2, temporal_compression_ratio=4, max_text_seq_length=8, norm_eps=1e-5,
    spatial_interpolation_scale=1.875, temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True)


__all__ = ["REAL_CONFIG", "TINY_CONFIG", "DiffusionAsShaderTransformer"]
